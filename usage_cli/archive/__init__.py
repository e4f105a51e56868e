"""The local archive: a SQLite file that `usage sync` fills and `--db` reads offline.

`Archive` is the file and every write to it; `Sync` one run of `usage sync`;
`ArchiveReader` answers pages as the list endpoint does, so every reading
command works on it unchanged. `usage_cli.verify.archive` recomputes its
hash chain.
"""

from __future__ import annotations

from usage_cli.archive._file import (
    DB_ENV,
    archive_state,
    default_path,
    discard_if_empty,
    lock_path,
    refuse_place,
)
from usage_cli.archive._read import ArchiveReader
from usage_cli.archive._report import SyncJson, sync_json
from usage_cli.archive._seal import keep_signature
from usage_cli.archive._seal import to_sign as run_message
from usage_cli.archive._store import READ_ONLY, Archive, Source
from usage_cli.archive._sync import OVERLAP_MS, Sync, SyncProgress, synced_with

__all__ = [
    "DB_ENV",
    "OVERLAP_MS",
    "READ_ONLY",
    "Archive",
    "ArchiveReader",
    "Source",
    "Sync",
    "SyncJson",
    "SyncProgress",
    "archive_state",
    "default_path",
    "discard_if_empty",
    "keep_signature",
    "lock_path",
    "refuse_place",
    "run_message",
    "sync_json",
    "synced_with",
]
