"""`export --streams`: whether a file export reads the list from one end or from both.

Every refusal is found here before any request (exit 2); the reading itself is
`usage_cli.pages_meet`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from usage_cli.errors import InputError

if TYPE_CHECKING:
    from usage_cli.query import Query

CHOICES = (1, 2)


def check_streams(streams: int | None, *, partition: bool, db: bool) -> None:
    """A `--streams` that is no count this export can use: InputError."""
    if streams is None:
        return
    if streams not in CHOICES:
        raise InputError(
            f"--streams takes 1 or 2, not {streams}",
            hint="2 reads the list from both ends at once; 1 reads it as one chain",
        )
    if streams == 2 and partition:
        raise InputError("--streams 2 is for a file export; a --partition export reads one")
    if streams == 2 and db:
        raise InputError(
            "--streams 2 reads the API from both ends; --db reads the local archive, "
            "where there are no round trips to save"
        )


def streams_for(streams: int | None, query: Query, *, db: bool) -> int:
    """How many streams read `query`: 2 unless asked for 1 or one is all that can work.

    InputError when 2 were asked for and cannot be used.
    """
    from usage_cli.pages_meet import one_chain_reason

    reason = one_chain_reason(query)
    if streams == 2 and reason is not None:
        raise InputError(
            f"--streams 2 reads the whole list from both ends; it cannot be used with {reason}",
            hint="drop --streams: an export with a window reads one stream",
        )
    if streams is not None:
        return streams
    return 1 if db or reason is not None else 2
