"""`usage --help` (and bare `usage`) written out at every width, for `usage_cli._outline`.

Drawing the app's outline through Typer cost about 30 ms of imports (Typer,
click, every command's module) for text that changes only with the code and the
terminal's width. So the text is generated, as click draws it at each width it
can draw (52 to 80 columns: click draws `min(columns, 80) - 2` wide, at least
50), and `usage_cli._entry` prints it without importing Typer. Regenerate it
after changing a command's help or a global option (a test fails when stale):

    python -m usage_cli.cli.outline usage_cli/_outline.py
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from usage_cli.runtime import Runtime, written

# click's help is `min(columns, 80) - 2` wide, and never under 50.
NARROWEST, WIDEST = 52, 80


@contextlib.contextmanager
def _columns(columns: int) -> Iterator[None]:
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def drawn(args: list[str], columns: int, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`usage ARGS` run through Typer on a terminal `columns` wide (in an environment of
    `env` alone): exit code, stdout, stderr."""
    from usage_cli.cli import run

    memory = Runtime.memory(env=env or {})
    with _columns(columns):
        code = run(args, runtime=memory)
    return code, written(memory.stdout), written(memory.stderr)


def texts() -> list[str]:
    """The help `usage --help` prints at each width from NARROWEST to WIDEST columns."""
    found = []
    for columns in range(NARROWEST, WIDEST + 1):
        code, out, err = drawn(["--help"], columns)
        if code != 0 or err or not out.isascii():
            raise RuntimeError(f"usage --help at {columns} columns: exit {code}, {err!r}")
        found.append(out)
    return found


def _literal(line: str) -> str:
    """`line` as a string literal in ruff's style (double quotes, unless they need escapes)."""
    quoted = repr(line)
    if quoted.startswith("'") and '"' not in line:
        quoted = '"' + quoted[1:-1].replace("\\'", "'") + '"'
    return quoted


def module() -> str:
    """The source of `usage_cli._outline`."""
    lines = [
        '"""`usage --help` as Typer draws it at each width: generated, do not edit.',
        "",
        "    python -m usage_cli.cli.outline usage_cli/_outline.py",
        "",
        "`usage_cli._entry` prints it without importing Typer or any command's module",
        "(usage_cli/cli/outline.py says why; a test fails when it is stale).",
        '"""',
        "",
        f"NARROWEST, WIDEST = {NARROWEST}, {WIDEST}",
        "# The text at each width, from NARROWEST columns to WIDEST.",
        "_TEXTS = (",
    ]
    for columns, text in zip(range(NARROWEST, WIDEST + 1), texts(), strict=True):
        lines += [f"    # {columns} columns", "    ("]
        lines += [f"        {_literal(line)}" for line in text.splitlines(keepends=True)]
        lines += ["    ),"]
    lines += [
        ")",
        "",
        "",
        "def help_text(columns: int) -> str:",
        '    """What `usage --help` prints on a terminal `columns` wide, its last newline',
        '    included."""',
        "    return _TEXTS[min(max(columns, NARROWEST), WIDEST) - NARROWEST]",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m usage_cli.cli.outline usage_cli/_outline.py")
    Path(argv[0]).write_text(module(), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
