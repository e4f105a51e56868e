"""Shell completion scripts for bash, zsh and fish, generated from the CLI itself.

The scripts in `completions/` are only glue: at TAB they run `usage` with
`_USAGE_COMPLETE` set, and the CLI answers from its own definition (no network).
Regenerate them after changing a command or flag:

    python -m usage_cli.cli.completion completions/
"""

from __future__ import annotations

import sys
from pathlib import Path

from usage_cli.cli._typer_internals import completion_script, enable_completion

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_USAGE_COMPLETE"

__all__ = ["COMPLETE_VAR", "SHELLS", "enable_completion", "script", "write_all"]


def script(shell: str) -> str:
    return completion_script("usage", COMPLETE_VAR, shell) + "\n"


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
