"""Command-line wiring: parse, call the core, map errors to exit codes. Nothing else.

Each command lives in its own module; importing them registers them on `app`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import typer

from usage_cli._argv import hoist_global_options
from usage_cli._progress import say as _say
from usage_cli.cli import _config, _export, _list, _sandbox, _summary  # noqa: F401 (registers)
from usage_cli.cli._app import PipeClosed, app
from usage_cli.completion import COMPLETE_VAR
from usage_cli.errors import UsageCliError

__all__ = ["app", "main", "run"]


# Error handling: the one place where exceptions become exit codes -------------


def _error(message: str, hint: str | None = None) -> None:
    _say(f"error: {message}")
    if hint:
        _say(f"hint: {hint}")


def run(args: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    argv = list(sys.argv[1:] if args is None else args)
    debug = "--debug" in argv
    if COMPLETE_VAR in os.environ:
        from usage_cli.completion import enable

        enable()
    command: Any = typer.main.get_command(app)
    if hasattr(command, "commands"):
        argv = hoist_global_options(argv, command)
    try:
        result = command.main(argv, prog_name="usage", standalone_mode=False)
    except UsageCliError as exc:
        if debug:
            traceback.print_exc()
        _error(exc.message, exc.hint)
        return exc.exit_code
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            typer.echo(exc.format_message(), err=True)
        else:
            _error(exc.format_message().replace("\n", " "), _usage_hint(exc))
        return exc.exit_code
    except PipeClosed:
        # Point stdout at /dev/null so the interpreter's final flush stays quiet.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (KeyboardInterrupt, typer.Abort):
        _error("interrupted")
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _error(
            f"unexpected internal error: {type(exc).__name__}: {exc}",
            None if debug else "rerun with --debug for details, and report it",
        )
        return 1
    if result == 130:
        _error("interrupted")
    return result if isinstance(result, int) else 0


def _usage_hint(exc: Exception) -> str | None:
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return "try 'usage --help'"
    return f"try '{ctx.command_path} --help'"


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM ends a run the way Ctrl-C does: cleanly, resumably, exit 130.
    raise KeyboardInterrupt


def main() -> NoReturn:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(run())
