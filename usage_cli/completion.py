"""Shell completion scripts for bash, zsh and fish, generated from the CLI itself.

The scripts in `completions/` are only glue: at TAB they run `usage` with
`_USAGE_COMPLETE` set, and the CLI answers from its own definition (no network).
Regenerate them after changing a command or flag:

    python -m usage_cli.completion completions/
"""

from __future__ import annotations

import sys
from pathlib import Path

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_USAGE_COMPLETE"


def enable() -> None:
    """Register Typer's shell classes; called only when a shell asks for completions."""
    from typer import _completion_classes

    _completion_classes.completion_init()
    # zsh and fish show option help beside each candidate, and Typer passes it
    # through rich to strip markup. Our help is plain text, and importing rich
    # (markdown included) would be most of the time a TAB takes.
    _completion_classes._sanitize_help_text = _plain


def _plain(text: str) -> str:
    return text


def script(shell: str) -> str:
    from typer._completion_shared import get_completion_script

    enable()
    return get_completion_script(prog_name="usage", complete_var=COMPLETE_VAR, shell=shell) + "\n"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for shell in SHELLS:
        path = directory / f"usage.{shell}"
        path.write_text(script(shell), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "completions")):
        print(path)
