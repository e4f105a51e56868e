"""The console script: answers `usage --version`, `usage --help` and bare `usage`
before importing anything heavy.

Typer alone costs several times a bare interpreter start; a version check in a
script or a prompt should not pay for it, nor should the app's help, which is
generated text (`usage_cli._outline`) that Typer would draw the same.
"""

from __future__ import annotations

import os
import sys

from usage_cli._colour import DIM, RESET, colour_allowed

# What prints the app's outline: alone on the line, as Typer reads it too.
_HELP = (["--help"], ["-h"])


def _columns() -> int:
    """The terminal's columns as click asks `shutil.get_terminal_size` (whose import
    costs more than the rest of this): `COLUMNS` first, then stdout's terminal, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(1).columns
        except (ValueError, OSError):
            columns = 0
    return columns or 80


def _write(fd: int, text: str) -> bool:
    """`text` written whole to `fd`; False if nothing could be (the run through Typer
    then says why, as it would have)."""
    data = text.encode()
    try:
        while data:
            data = data[os.write(fd, data) :]
    except BrokenPipeError:
        return True  # the reader went away: a normal end, as for any command
    except OSError:
        if len(data) == len(text.encode()):
            return False
        raise
    return True


def _outline(args: list[str]) -> int | None:
    """`usage --help` (exit 0, on stdout) and bare `usage` (help as an error: exit 2, on
    stderr, dimmed on a terminal as every note is) from the generated text; None when it
    cannot be written (the run through Typer then reports the failure)."""
    from usage_cli._outline import help_text

    text = help_text(_columns())
    if args:
        return 0 if _write(1, text) else None
    if colour_allowed(os.environ, os.isatty(2)):
        text = DIM + text[:-1] + RESET + "\n"
    return 2 if _write(2, text) else None


def main() -> None:
    args = sys.argv[1:]
    if args == ["--version"]:
        from usage_cli._version import VERSION_LINE

        # Straight to the descriptor: no runtime exists yet, and none is needed.
        os.write(1, VERSION_LINE.encode())
        return
    # A shell asking for completions (Typer's protocol) runs `usage` with no words.
    if (not args or args in _HELP) and "_USAGE_COMPLETE" not in os.environ:
        code = _outline(args)
        if code is not None:
            sys.exit(code)
    from usage_cli.cli import main as cli_main

    cli_main()
