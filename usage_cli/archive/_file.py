"""The archive as a file on disk: where it goes, whether a file is one, and its lock.

Asked before the file is opened (`Archive.open` refuses early, `usage verify`
tells an archive from an export), and after a failed first sync, which leaves
nothing behind rather than an empty archive.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from usage_cli.errors import InputError

# 'USAG': marks the file as ours (PRAGMA application_id) before any table is read.
APPLICATION_ID = 0x55534147
DB_ENV = "USAGE_DB"
_SQLITE_MAGIC = b"SQLite format 3\x00"


def default_path(env: Mapping[str, str]) -> Path:
    """`USAGE_DB`, else `archive.sqlite3` in the user data directory.

    Read from `env`, the run's environment, where the platform's rule is simple
    enough (XDG's, on Linux and the BSDs): platformdirs reads the process's own,
    which an embedder's or a test's run does not share.
    """
    if env.get(DB_ENV):
        return Path(env[DB_ENV]).expanduser()
    import sys

    if not sys.platform.startswith(("darwin", "win", "cygwin")):
        base = env.get("XDG_DATA_HOME") or (
            str(Path(env["HOME"]) / ".local" / "share") if env.get("HOME") else None
        )
        if base:
            return Path(base) / "usage" / "archive.sqlite3"
    import platformdirs

    return platformdirs.user_data_path("usage", appauthor=False) / "archive.sqlite3"


def starts_as_sqlite(path: Path) -> bool | None:
    """Whether the file starts as a SQLite database does; None when it is empty."""
    with path.open("rb") as handle:
        head = handle.read(len(_SQLITE_MAGIC))
    return None if not head else head == _SQLITE_MAGIC


def connect_for_reading(path: Path, **options: Any) -> sqlite3.Connection:
    """A connection to read `path`, wherever it lies.

    As any SQLite client first: it shares the file with a sync, and closing it
    folds the log in and leaves no `-wal` or `-shm` behind. Where that cannot
    read (a read-only mount, a snapshot, evidence handed over: no `-shm` can be
    made), `mode=ro`, then `immutable=1`: the file as it is, promised
    unchanging, as a read-only medium is. sqlite3.Error when none can read it.
    """
    uri = path.resolve().as_uri()
    tries = ((str(path), False), (uri + "?mode=ro", True), (uri + "?mode=ro&immutable=1", True))
    failures: list[sqlite3.OperationalError] = []
    for target, as_uri in tries:
        connection: sqlite3.Connection = sqlite3.connect(target, uri=as_uri, **options)
        try:
            connection.execute("PRAGMA application_id").fetchone()
        except sqlite3.OperationalError as error:
            connection.close()
            failures.append(error)
            continue
        return connection
    # The first that says more than "cannot open" says most.
    raise next((e for e in failures if "unable to open" not in str(e)), failures[-1])


def archive_state(path: Path) -> str | None:
    """ "archive", "damaged" (a SQLite file SQLite cannot read), or None (no archive).

    Asked of SQLite, not of the header alone: in WAL mode it may be in the log.
    """
    try:
        if not path.is_file() or not starts_as_sqlite(path):
            return None
    except OSError:
        return None
    try:
        with contextlib.closing(connect_for_reading(path)) as connection:
            found: int = connection.execute("PRAGMA application_id").fetchone()[0]
    except sqlite3.DatabaseError:
        return "damaged"
    except (OSError, sqlite3.Error):
        return None
    return "archive" if found == APPLICATION_ID else None


def lock_path(path: Path) -> Path:
    """Where a sync into the archive at `path` holds its lock."""
    return path.with_name(f".{path.name}.lock")


def refuse_place(path: Path) -> None:
    """Refuse a path no archive can be at: a folder, a device, a missing or odd folder."""
    if path.is_dir() or not path.name:
        raise InputError(f"{path} is a directory, not an archive file")
    if path.exists() and not path.is_file():
        raise InputError(f"{path} is not a regular file: an archive is a SQLite file")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{parent} is not a directory, so {path} cannot be an archive in it")
    if not parent.exists():
        raise InputError(
            f"directory {str(parent)!r} does not exist",
            hint="create it first: an archive's folder is never made up from a typo",
        )


def discard_if_empty(path: Path) -> None:
    """Remove the archive at `path` (and its log) if it holds no record.

    For a run that created it and then failed: like a failed export, it leaves
    nothing behind. Called with the archive closed and its lock held.
    """
    try:
        with contextlib.closing(sqlite3.connect(path)) as connection:
            holds = connection.execute("SELECT EXISTS (SELECT 1 FROM records)").fetchone()[0]
    except sqlite3.Error:
        holds = 0  # not even its tables: nothing worth keeping
    if not holds:
        for leftover in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            leftover.unlink(missing_ok=True)


def refuse_not_own(path: Path) -> None:
    """A sync writes only into the user's own archive: never through a link another user
    made, nor into a file they own (it would be turned into SQLite, or written through)."""
    if path.is_symlink() and not path.exists():
        raise InputError(
            f"{path} is a link to nothing: a sync would create the archive wherever it points",
            hint="name the archive itself with --db",
        )
    for found, what in ((os.lstat(path), "a link"), (os.stat(path), "a file")):
        if found.st_uid != os.geteuid():
            raise InputError(
                f"{path} is {what} another user owns: a sync writes only into your own archive",
                hint="name an archive of your own with --db",
            )


def not_an_archive(shown: str) -> InputError:
    return InputError(
        f"{shown} is not a usage archive",
        hint="give --db the path of a file that `usage sync` wrote, or a new path",
    )
