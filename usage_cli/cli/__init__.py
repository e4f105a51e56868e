"""Command-line wiring: parse, call the core, map errors to exit codes. Nothing else.

Each command lives in its own module; importing it registers it on `app`. A run
imports only the module of the command it names (`usage_cli.cli.app`, help of
the whole app and completion get them all).
"""

from __future__ import annotations

import contextlib
import errno
import os
import traceback
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import typer

from usage_cli.cli import _app
from usage_cli.cli._argv import (
    command_index,
    fill_optional_values,
    hoist_global_options,
    refuse_repeated_options,
)
from usage_cli.cli._invocation import Invocation
from usage_cli.cli._typer_internals import (
    COMPLETE_VAR,
    PipeClosed,
    command_for,
    enable_completion,
    is_no_args_help,
    usage_error_parts,
)
from usage_cli.errors import StorageError, UsageCliError
from usage_cli.runtime import Runtime

__all__ = ["app", "main", "run"]

# Each command's module, in the order help lists the commands (their import order).
COMMAND_MODULES = {
    "check": "_check",
    "config": "_config",
    "export": "_export",
    "list": "_list",
    "prices": "_prices",
    "report": "_report",
    "sandbox": "_sandbox",
    "schema": "_schema",
    "summary": "_summary",
    "sync": "_sync",
    "verify": "_verify",
}


def _register(names: Iterable[str]) -> None:
    for name in names:
        # The import statement's own path (not importlib's), so that
        # `python -X importtime` shows which command modules a run loads.
        __import__(f"usage_cli.cli.{COMMAND_MODULES[name]}")


def __getattr__(name: str) -> typer.Typer:
    # `app` with every command on it, for those who build it whole (tests, completion).
    if name == "app":
        _register(COMMAND_MODULES)
        return _app.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command(argv: list[str]) -> Any:
    """The click group for `argv`, having imported only the module of the command it
    names when it plainly names one (the other modules' imports were about a tenth of
    `usage list --help`); all of them for anything else."""
    named = next((word for word in argv if word in COMMAND_MODULES), None)
    helped = named is not None and {"-h", "--help"} & set(argv[: argv.index(named)])
    if named is not None and not helped:
        _register([named])
        command = command_for(_app.app, argv, command_index)
        index = command_index(command, argv)
        if index < len(argv) and argv[index] == named:
            return command
    _register(COMMAND_MODULES)
    return command_for(_app.app, argv, command_index)


def _whole() -> Any:
    """The group with every command on it (an error's hint may name any of them)."""
    _register(COMMAND_MODULES)
    return typer.main.get_command(_app.app)


def run(args: Sequence[str] | None = None, *, runtime: Runtime | None = None) -> int:
    """Run the CLI with `args` (default: the process's) and return its exit code.

    This is the one place where exceptions become exit codes.
    """
    runtime = runtime or Runtime.system()
    argv = list(runtime.argv[1:] if args is None else args)
    debug = "--debug" in argv
    if "--no-color" in argv:
        # Known before click parses a word: even an error about the words is plain.
        import dataclasses

        runtime = dataclasses.replace(runtime, color_allowed=False)

    def error(message: str, hint: str | None = None) -> None:
        runtime.say(f"error: {message}")
        if hint:
            runtime.say(f"hint: {hint}")

    def unexpected(exc: Exception) -> int:
        if debug:
            runtime.stderr.write(traceback.format_exc())
        error(
            f"unexpected internal error: {type(exc).__name__}: {exc}",
            None if debug else "rerun with --debug for details, and report it",
        )
        return 1

    if COMPLETE_VAR in runtime.env:
        enable_completion()
    words = tuple(argv)
    argv = fill_optional_values(argv)
    command = _command(argv)
    try:
        argv = hoist_global_options(argv, command)
        refuse_repeated_options(argv, command)
        with runtime.bound():
            result = command.main(
                argv, prog_name="usage", standalone_mode=False, obj=Invocation(runtime, words=words)
            )
    except UsageCliError as exc:
        if debug:
            runtime.stderr.write(traceback.format_exc())
        error(exc.message, exc.hint)
        return exc.exit_code
    except typer.TyperException as exc:
        if is_no_args_help(exc):
            runtime.say(exc.format_message())
        else:
            message, hint = usage_error_parts(exc, _whole)
            if "Missing argument" in message and "--db" in argv:
                # `usage export --db out.csv`: the bare --db took the target as its PATH.
                hint = "--db takes the word after it as the archive: put it after PATH, or "
                hint += "write --db=ARCHIVE"
            error(message.replace("\n", " "), hint)
        return exc.exit_code
    except PipeClosed:
        if runtime.stdout_is_process_stdout():
            # Point stdout at /dev/null so the interpreter's final flush stays quiet.
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, runtime.stdout.fileno())
        return 0
    except OSError as exc:
        if exc.errno not in _THE_DISKS_FAULT:
            return unexpected(exc)
        # Not a bug: the place the output goes has no room (`> /dev/full`, a quota).
        error(f"cannot write to standard output: {exc.strerror or exc}")
        return StorageError.exit_code
    except (KeyboardInterrupt, typer.Abort):
        error("interrupted")
        return 130
    except Exception as exc:
        return unexpected(exc)
    if result == 130:
        error("interrupted")
    return result if isinstance(result, int) else 0


# A write refused for want of room or by the device: the user's environment.
_THE_DISKS_FAULT = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO, errno.EROFS})


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM ends a run the way Ctrl-C does: cleanly, resumably, exit 130.
    raise KeyboardInterrupt


def main() -> NoReturn:
    import signal
    import sys

    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(run())
