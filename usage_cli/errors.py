"""One exception hierarchy; `cli` maps it to exit codes in one place.

Each class carries the exit code of the contract so that library callers can
catch by meaning and the CLI needs no table of its own.
"""

from __future__ import annotations

from collections.abc import Sequence


class UsageCliError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(UsageCliError):
    """Bad usage or input, found before any request is sent."""

    exit_code = 2


class AuthError(UsageCliError):
    """No token, or the API refused it (401/403)."""

    exit_code = 3

    def __init__(self, message: str, *, hint: str | None = None, refused: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.refused_token = refused  # the API saw a token and said no (not: none was set)


class ApiError(UsageCliError):
    """The API rejected the request (a 4xx other than 401/403)."""

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code


class ServerError(UsageCliError):
    """Network or server failure after retries, or a response we cannot trust."""

    exit_code = 5


class ReportedError(ServerError):
    """A 200 whose body is the API's own error (`{"message","code"}`), not a page.

    The platform sends this when a slow request fails after committing its
    status, so it is as transient as a 5xx and is retried.
    """


class SchemaError(ServerError):
    """A 200 of valid JSON in a shape the API does not send: asking again gets the same.

    Never retried: the answer can never become a valid page.
    """


class StorageError(UsageCliError):
    """The disk or file system refused: full, a size limit, an I/O error.

    The user's environment rather than a bug, and as likely to pass as a
    network failure once it is seen to, hence the same exit code.
    """

    exit_code = 5


class CursorLoopError(ServerError):
    """The server handed back a cursor it had already given: following it would loop."""


class UnrepresentableError(ServerError):
    """A record holds a value the chosen output cannot keep exactly (a count past int64
    in parquet, a `createdAt` no calendar has a folder for).

    The API's data, not the user's input: asking again gets the same record,
    and writing it altered would be a silent lie. JSON lines keep any value.
    """


class VerifyError(UsageCliError):
    """An export does not match its manifest."""

    exit_code = 6


class ThresholdBreached(UsageCliError):
    """`usage check` found a threshold breached: the gate is closed."""

    exit_code = 7


class Interrupted(UsageCliError):
    """Ctrl-C or SIGTERM; carries a hint on how to pick up where it stopped."""

    exit_code = 130


def unknown_choice(message: str, value: str, choices: Sequence[str], hint: str) -> InputError:
    """`message`, plus the nearest of `choices` when `value` looks like a typo of it."""
    import difflib

    close = difflib.get_close_matches(value, choices, n=1)
    return InputError(message + (f" (did you mean {close[0]!r}?)" if close else ""), hint=hint)
