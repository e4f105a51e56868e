"""`usage sync -o json`: what one run did, as a document scripts can pin.

Its schema is `usage schema sync` (`verify.schemas`); within a `schemaVersion`
fields may be added, never renamed, removed or retyped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from typing_extensions import TypedDict

from usage_cli._version import SCHEMA_VERSION

if TYPE_CHECKING:
    from pathlib import Path

    from usage_cli.archive._sync import SyncProgress


class SyncJson(TypedDict):
    """A sync that ended well; one that fails writes no document, only its error."""

    schemaVersion: int
    # "ok": every page the run read is stored. (A failed run exits non-zero instead.)
    outcome: str
    archive: str
    source: str
    # The API root, or "demo".
    api: str
    # The run's number in the archive (`usage verify ARCHIVE` counts them).
    run: int
    recordsAdded: int
    pages: int
    # Stretches an interrupted run had left open, closed by this one.
    gapsClosed: int
    # Where the API no longer continued such a stretch: createdAt of the oldest record
    # synced above it (null: below everything synced). The gap stays; verify shows it.
    lost: list[str | None]
    # What the archive now holds of this source, and its head (sha256, hex): the chain
    # bound to the run's seal, as `verify --expect-head` takes it.
    records: int
    head: str
    signed: bool


def sync_json(
    done: SyncProgress,
    *,
    path: Path,
    source: str,
    api: str,
    stored: int,
    head: bytes,
    signed: bool,
) -> SyncJson:
    from usage_cli.columns import iso_ms

    return {
        "schemaVersion": SCHEMA_VERSION,
        "outcome": "ok",
        "archive": str(path),
        "source": source,
        "api": api,
        "run": done.run,
        "recordsAdded": done.added,
        "pages": done.requests,
        "gapsClosed": done.resumed,
        "lost": [None if oldest is None else iso_ms(oldest) for oldest in done.lost],
        "records": stored,
        "head": head.hex(),
        "signed": signed,
    }
