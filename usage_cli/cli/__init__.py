"""Command-line wiring: parse, call the core, map errors to exit codes. Nothing else.

Each command lives in its own module; importing them registers them on `app`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import typer

from usage_cli.cli import (  # noqa: F401 (each registers its command)
    _check,
    _config,
    _export,
    _list,
    _prices,
    _sandbox,
    _schema,
    _summary,
    _sync,
    _verify,
)
from usage_cli.cli._app import app
from usage_cli.cli._argv import (
    command_index,
    fill_optional_values,
    hoist_global_options,
    refuse_repeated_options,
)
from usage_cli.cli._invocation import Invocation
from usage_cli.cli._typer_internals import (
    PipeClosed,
    command_for,
    is_no_args_help,
    usage_error_parts,
)
from usage_cli.cli.completion import COMPLETE_VAR
from usage_cli.errors import StorageError, UsageCliError
from usage_cli.runtime import Runtime

__all__ = ["app", "main", "run"]


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
        from usage_cli.cli.completion import enable_completion

        enable_completion()
    argv = fill_optional_values(argv)
    command: Any = command_for(app, argv, command_index)
    try:
        argv = hoist_global_options(argv, command)
        refuse_repeated_options(argv, command)
        with runtime.bound():
            result = command.main(
                argv, prog_name="usage", standalone_mode=False, obj=Invocation(runtime)
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
            message, hint = usage_error_parts(exc)
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
