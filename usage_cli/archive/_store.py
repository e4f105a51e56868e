"""The archive file: one SQLite database (WAL), its schema, and every write to it.

A record is stored as the exact JSON the API sent (`raw`, the bytes `-o jsonl`
writes) beside indexed copies of the fields the filters read. Records are keyed
by source and id, so several sources (profiles, API roots, run-as users) share
one file without mixing.

The last row a sync stores from each page carries `chain`: the sha256 of the
chain before the page and, row by row, each row's source, run and JSON (a
row alone is a block of one: schema 4 chained every row so, and its rows keep
their values). Rows only ever append, in `seq` order, and `usage verify`
recomputes the chain to find a row changed, deleted or inserted outside a
sync. `segments` say which stretches of a source's list are known to
be stored whole; `runs` is the log of every sync; `properties` holds the
archive's own settings (the salt of its token fingerprints).

Three views are for SQL tools, never read by `usage` itself: `usage_records`,
each record with its source's label, its time as ISO 8601 and its `meta`;
`usage_records_whole`, only those within stretches known whole; and
`usage_stretches`, those stretches (see docs/archive.md). `usage verify` holds
their SQL to the text below.

Over 400 lines on purpose: the schema and every statement that writes to it
stay side by side, so a column is changed in one file. Where the file lives,
and whether a file is an archive at all, is `_file`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from usage_cli._text import on_one_line
from usage_cli._version import DISTRIBUTION
from usage_cli.archive._file import (
    APPLICATION_ID,
    connect_for_reading,
    lock_path,
    not_an_archive,
    refuse_not_own,
    refuse_place,
    starts_as_sqlite,
)
from usage_cli.columns import json_bytes
from usage_cli.errors import InputError, StorageError, VerifyError
from usage_cli.records import UsageRecord
from usage_cli.relations import TABLE

# 2: runs.seal, the bookkeeping's seal, and runs.signature (see `_seal`).
# 3: the views for SQL tools, and `properties` with the salt of token hints.
# 4: indexes on the time, the type and the bot only (`INDEXED`).
# 5: the eight relations without an index are computed from `raw` (VIRTUAL),
#    and `chain` is kept once a page, on its last row (NULL on the others).
# An older file gains what it lacks on its next sync (`_migrate`).
SCHEMA_VERSION = 5
VIEWS_SINCE = 3
READ_ONLY = (
    "an archive on a read-only medium can be read (--db) and verified, not synced; "
    "copy it somewhere writable to sync it"
)
GENESIS = bytes(32)
# The oldest SQLite that reads an archive as `usage` does: 3.31 opens a file
# with computed columns at all (older ones take its schema for damage, and
# `usage verify` would call it so). Nothing newer is used (no `->`, `iif` or
# one table's integrity_check), so that Ubuntu 22.04's 3.37 and RHEL 9's 3.34
# read archives too. An older system one is refused up front rather than
# failing midway as a damaged archive.
SQLITE_NEEDED = (3, 31, 0)


def _has_json() -> bool:
    """Whether this SQLite has its JSON functions: built in from 3.38, optional before
    (a build without them would read every archive as damaged)."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("SELECT json_extract('{}', '$')")
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()
    return True


# Relation columns in the table's order: (API field, column name).
RELATION_COLUMNS = tuple(
    (relation.api, relation.attribute) for relation in TABLE if relation.api != "type"
)
# Each index ends in `count`, so that counting and summing per type, per bot
# or per span of time reads the index alone, never the records' JSON. A bot's
# index keeps the rows without one too: they are the `(none)` group. The other
# eight relations have no index (schema 3 had one each): each cost about 8%
# of the file and of a first sync's inserts, and a read by one of them scans
# the records instead (figures in benchmarks/README.md).
# Newest first (`DESC`), the order a sync reads and inserts in: each insert then
# lands at the end of its stretch of the index, which leaves its pages full.
# In ascending order they were left half empty (42-51% of each index unused).
INDEXED = ("type", "bot_id")  # `Archive.insert` stores the bot's by name
# A first sync into an empty archive inserts without them and builds them at its
# end (`Archive.build_indexes`): sorted once, their pages are full (2.5 MiB less
# over 200,000 records); the time the build takes, the inserts had taken.
_INDEXES = tuple(
    f"CREATE INDEX IF NOT EXISTS records_by_{column} "
    f"ON records (source, {column}, created_at DESC, count)"
    for column in INDEXED
)
# Records in time order, and a record found by its time and id: the existence
# check before an insert, and a page's cursor. Schema 3 also had a unique index
# on (source, id): with ids random, each commit of a first sync rewrote most of
# its pages (the insert of 5,000 records dirtied about as many pages), so its
# cost grew with the archive. Ids are unique because `Archive.insert` stores
# only those not stored yet; an archive made before keeps its unique index (a
# table constraint, which only a rebuild of the table drops).
_TIME_INDEX = "CREATE INDEX records_by_time ON records (source, created_at DESC, id DESC, count)"
# What schema 4 dropped from an older archive.
_DROPPED = tuple(f"records_by_{column}" for _, column in RELATION_COLUMNS if column not in INDEXED)
# Relations no index reads are computed from `raw` when read, never stored: a
# copy cost the file 4.5 MiB over 200,000 records and each insert eight bound
# values, and it can never disagree with the JSON (so `verify` compares only the
# stored ones). A read by one of them parses each row's JSON (benchmarks/README.md).
STORED_RELATIONS = tuple((field, column) for field, column in RELATION_COLUMNS if column in INDEXED)
assert STORED_RELATIONS == (("botId", "bot_id"),)  # as `Archive.insert` writes them out


def _relation(field: str, column: str) -> str:
    if column in INDEXED:
        return f"{column} TEXT"
    return f"{column} TEXT GENERATED ALWAYS AS (json_extract(raw, '$.{field}')) VIRTUAL"


_RECORDS = f"""CREATE TABLE records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source INTEGER NOT NULL REFERENCES sources (id),
    id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    type TEXT NOT NULL,
    count INTEGER,
    {", ".join(_relation(field, column) for field, column in RELATION_COLUMNS)},
    raw TEXT NOT NULL,
    run INTEGER NOT NULL REFERENCES runs (id),
    chain BLOB
)"""

_SCHEMA = f"""
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL UNIQUE,
    api_url TEXT NOT NULL,
    run_as TEXT,
    created_at INTEGER NOT NULL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source INTEGER NOT NULL REFERENCES sources (id),
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    outcome TEXT NOT NULL,
    added INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    newest INTEGER,
    oldest INTEGER,
    first_seq INTEGER,
    last_seq INTEGER,
    head BLOB,
    tool_version TEXT NOT NULL,
    token_hint TEXT,
    error TEXT,
    seal TEXT,
    signature TEXT
);
CREATE TABLE segments (
    id INTEGER PRIMARY KEY,
    source INTEGER NOT NULL REFERENCES sources (id),
    newest INTEGER,
    oldest INTEGER,
    cursor TEXT,
    bottom INTEGER NOT NULL DEFAULT 0
);
{_RECORDS};
{_TIME_INDEX};
{";".join(_INDEXES)}
"""
# What `usage verify` holds a schema 5 archive's table and indexes to, word for
# word (SQLite keeps a CREATE's text without its IF NOT EXISTS).
RECORDS_TABLE = _RECORDS
RECORDS_INDEXES = {
    statement.split(" ON ")[0].split()[-1]: statement.replace("IF NOT EXISTS ", "")
    for statement in (_TIME_INDEX, *_INDEXES)
}
# `IF NOT EXISTS`: the migration to schema 3 adds it the same way.
_PROPERTIES = "CREATE TABLE IF NOT EXISTS properties (name TEXT PRIMARY KEY, value TEXT NOT NULL)"


# The time as ISO 8601 in UTC, to the millisecond, as `-o csv` writes it. SQLite
# turns the seconds back into whole milliseconds by rounding (its Julian day is
# kept in integer ms), so the float is exact for every time to the year 9999;
# past that strftime gives NULL. A test holds it to `iso_ms` over many times.
def _iso(column: str) -> str:
    return f"strftime('%Y-%m-%dT%H:%M:%fZ', {column} / 1000.0, 'unixepoch')"


# The source is its label: naive SQL over several sources would add them up,
# where `usage` reads one at a time.
_VIEW_SELECT = (
    "SELECT sources.label AS source, records.id AS id, records.created_at AS created_at, "
    f"{_iso('records.created_at')} AS created_at_iso, "
    "records.type AS type, records.count AS count, "
    + "".join(f"records.{column} AS {column}, " for _, column in RELATION_COLUMNS)
    + "json_extract(records.raw, '$.meta') AS meta, records.raw AS raw "
    "FROM records JOIN sources ON sources.id = records.source"
)
# A record lies in a stretch known whole: between a segment's edges, leaving out
# the millisecond at an edge that borders a gap (a page may end inside it, with
# more records of that millisecond still to read). A segment is open below when
# not `bottom`; above, when the stretch above it (in the order `segments()` uses)
# is open. Mid-way through a first sync from both ends it holds each end's stretch
# whole, and `usage_stretches` says that a gap lies between them.
_WHOLE = """ WHERE EXISTS (SELECT 1 FROM (
    SELECT source, newest, oldest, bottom, LAG(bottom) OVER (
        PARTITION BY source ORDER BY newest DESC, bottom, oldest DESC) AS above
    FROM segments WHERE newest IS NOT NULL) AS stretch
  WHERE stretch.source = records.source
    AND records.created_at BETWEEN stretch.oldest AND stretch.newest
    AND (stretch.bottom OR records.created_at > stretch.oldest)
    AND (stretch.above IS NULL OR stretch.above OR records.created_at < stretch.newest))"""
# The stretches themselves, so that a reader can tell a gap (not read yet) from a
# span with no usage: what lies between two stretches is unknown, not empty.
_STRETCHES = (
    "SELECT sources.label AS source, segments.newest AS newest, "
    f"{_iso('segments.newest')} AS newest_iso, segments.oldest AS oldest, "
    f"{_iso('segments.oldest')} AS oldest_iso, NOT segments.bottom AS gap_below "
    "FROM segments JOIN sources ON sources.id = segments.source "
    "WHERE segments.newest IS NOT NULL"
)
# Each view's statement exactly as the file keeps it in sqlite_master. A view
# costs nothing until read, and `usage` reads the tables: over 200,000 records,
# `summary --db --by day` took 0.28 s with them as without (median of 5), and
# sqlite3 summed `usage_records_whole` in 0.06 s.
VIEWS = {
    "usage_records": f"CREATE VIEW usage_records AS {_VIEW_SELECT}",
    "usage_records_whole": f"CREATE VIEW usage_records_whole AS {_VIEW_SELECT}{_WHOLE}",
    "usage_stretches": f"CREATE VIEW usage_stretches AS {_STRETCHES}",
}


def header(source: int, run: int) -> bytes:
    """What goes before each row's JSON in the chain: its source and run. NUL is never
    in a record's JSON, so the rows of a block are told apart."""
    return f"\x00{source}\x00{run}\x00".encode()


def link(previous: bytes, source: int, run: int, *raws: str) -> bytes:
    """The chain value of a block of rows of one run: it binds their content, in
    order, to every row before them (one row: the value schema 4 gave each row)."""
    digest = hashlib.sha256(previous)
    for raw in raws:
        digest.update(header(source, run))
        digest.update(raw.encode("utf-8"))
    return digest.digest()


def columns_of(
    raw: Mapping[str, Any], relations: Sequence[tuple[str, str]] = ()
) -> tuple[Any, ...]:
    """The stored columns a record's JSON gives: id, created_at, type, count, and
    `relations` (by default the stored ones)."""
    count = raw["count"]
    if not _SMALLEST <= count <= _LARGEST:
        count = None  # beyond SQLite's integers: `raw` keeps it, sums fall back to it
    fields = (field for field, _ in relations or STORED_RELATIONS)
    return (raw["id"], raw["createdAt"], raw["type"], count, *map(raw.get, fields))


_SMALLEST, _LARGEST = -(2**63), 2**63 - 1


# A row's stored columns against its JSON: `usage verify`'s check of every row,
# and the migration's before it drops the copies that schema 5 computes. Here,
# beside the columns, for both: verify is above the archive, never below it.
def compared(relations: tuple[tuple[str, str], ...]) -> tuple[str, str, str]:
    """The JSON's fields, the stored columns as JSON, and the columns' names."""
    fields = ("id", "createdAt", "type", "count", *(field for field, _ in relations))
    names = ", ".join(("id", "created_at", "type", "count", *(column for _, column in relations)))
    from_json = "json_extract(raw, " + ", ".join(f"'$.{field}'" for field in fields) + ")"
    from_columns = (
        # A count past 64 bits is stored NULL, and its JSON stands in for it (as a
        # float here: the row is asked again in Python, which compares it exactly).
        "json_array(id, created_at, type, CASE WHEN count IS NULL AND "
        "json_type(raw, '$.count') = 'real' THEN json_extract(raw, '$.count') ELSE count END"
        + "".join(f", {column}" for _, column in relations)
        + ")"
    )
    return from_json, from_columns, names


def columns_differ(
    db: sqlite3.Connection, relations: tuple[tuple[str, str], ...], seq: int
) -> bool:
    """Whether row `seq`'s stored columns differ from its JSON, asked in Python (a JSON
    that cannot be read differs)."""
    raw, *stored = db.execute(
        f"SELECT raw, {compared(relations)[2]} FROM records WHERE seq = ?", (seq,)
    ).fetchone()
    try:
        return columns_of(json.loads(raw), relations) != tuple(stored)
    except (ValueError, KeyError, TypeError):
        return True


_PAGE_SIZE = 16384
_LOG_BYTES = 40 * 2**20


@dataclass(frozen=True)
class Source:
    id: int
    label: str
    api_url: str
    run_as: str | None

    @property
    def shown(self) -> str:
        """The label as a message shows it: the file is not to be trusted more than the
        API, so its control codes and line breaks are escaped as API data's are."""
        return on_one_line(self.label)


@dataclass
class Segment:
    """A stretch of a source's list known to be stored whole, newest first.

    Every record from `newest` down to the record before `cursor` is stored;
    `bottom` says reading went on to the end of the list (its oldest record).
    """

    id: int
    newest: int | None
    oldest: int | None
    cursor: str | None
    bottom: bool


class Archive:
    """An open archive. Writes go through `transaction()`; reads use `connection`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.connection = connection

    # Opening -------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path, *, create: bool = False, on_note: Callable[[str], None] | None = None
    ) -> Archive:
        """The archive at `path`; with `create`, a new one when nothing is there (and an
        older one brought up to this schema, which `on_note` is told of beforehand).

        Refusals (an SQLite too old, not an archive, a newer schema, nothing there
        to read, a place that cannot hold one) are InputErrors: found before any request.
        """
        shown = str(path)
        if sqlite3.sqlite_version_info < SQLITE_NEEDED or not _has_json():
            raise InputError(
                f"this Python's SQLite is {sqlite3.sqlite_version}; an archive needs SQLite "
                f"{'.'.join(map(str, SQLITE_NEEDED))} or newer, with its JSON functions",
                hint="run usage under a Python built with a newer SQLite (python.org's "
                "installers and uv's Pythons bundle one)",
            )
        if path.is_dir() or not path.name:
            raise InputError(f"{shown} is a directory, not an archive file")
        exists = path.exists()
        if exists or create:
            refuse_place(path)
        if create and (exists or path.is_symlink()):
            refuse_not_own(path)
        if exists:
            try:
                sqlite = starts_as_sqlite(path)
            except OSError as error:
                raise InputError(f"cannot read the archive {shown}: {error.strerror}") from None
            if sqlite is False:
                raise not_an_archive(shown)
        elif not create:
            raise InputError(
                f"no archive at {shown}",
                hint=f"create it with: usage sync --db {shown}",
            )
        else:
            try:
                # 0600: what a token's account used, record by record, is the user's
                # alone; SQLite gives the -wal and -shm beside it the same mode.
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass
            except OSError as error:
                raise InputError(f"cannot create an archive at {shown}: {error.strerror}") from None
        options: dict[str, Any] = {
            "isolation_level": None,
            "check_same_thread": False,
            "timeout": 30.0,
        }
        try:
            # Only a sync writes: every other command reads, and so can read an
            # archive on a read-only mount, or one not its own to write.
            connection = (
                sqlite3.connect(path, **options) if create else connect_for_reading(path, **options)
            )
        except sqlite3.Error as error:
            raise InputError(f"{shown} is not a readable usage archive: {error}") from None
        archive = cls(path, connection)
        try:
            archive._prepare(writable=create, on_note=on_note)
        except BaseException:
            connection.close()
            raise
        return archive

    def _prepare(self, *, writable: bool, on_note: Callable[[str], None] | None) -> None:
        shown = str(self.path)
        db = self.connection
        try:
            ours = db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if not ours and (
                version or db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
            ):
                raise not_an_archive(shown)
            if version > SCHEMA_VERSION:
                raise InputError(
                    f"{shown} was written by a newer version of usage (archive schema "
                    f"{version}; this one reads up to {SCHEMA_VERSION})",
                    hint=f"upgrade usage: pip install --upgrade {DISTRIBUTION}",
                )
            # More of the indexes in memory: a sync inserts ids all over one of them.
            db.execute("PRAGMA cache_size = -65536")
            if writable and version == 0:
                # 16 KiB pages: a row (about 400 bytes) wastes less of each page's end
                # than in 4 KiB ones (3.3 against 1.2 MiB over 200,000 records). Set
                # only while the file is empty (and before WAL): an older file keeps its own.
                db.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
            if writable:
                # Readers never block the writer, nor it them; set before any table exists.
                db.execute("PRAGMA journal_mode = WAL")
                # In WAL mode a killed process loses no commit; a power cut may
                # lose the last few, whole (each page's records go with the edge
                # of what is stored), and the next sync reads them again.
                db.execute("PRAGMA synchronous = NORMAL")
                # A checkpoint (the one fsync NORMAL makes) every 40 MiB of log
                # (10,000 pages of 4 KiB) rather than every 1,000 pages: it took
                # 60% of a sync's commits. A power cut may then lose more of the
                # last pages, each whole, which the next sync reads again; closing
                # the archive folds the log in.
                page = db.execute("PRAGMA page_size").fetchone()[0]
                db.execute(f"PRAGMA wal_autocheckpoint = {_LOG_BYTES // page}")
            if version == 0:
                if not writable:
                    raise InputError(f"{shown} is an empty archive: nothing synced yet")
                with self.transaction():
                    self._create()
            elif version < SCHEMA_VERSION and writable:
                with self.transaction() as writing:
                    _migrate(writing, shown, on_note)
            db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as error:
            if writable and "readonly" in str(error):
                raise InputError(
                    f"{shown} is read-only: a sync cannot write to it", hint=READ_ONLY
                ) from None
            raise InputError(f"{shown} is not a readable usage archive: {error}") from None
        db.create_function("usage_meta_matches", 2, _meta_matches, deterministic=True)

    # Indexes ----------------------------------------------------------------

    def defer_indexes(self) -> bool:
        """Before a sync: in an archive without records, drop the type's and the bot's
        indexes for `build_indexes` to make at the run's end. Whether they are missing
        (an earlier first sync, stopped, left them so: reads are only slower)."""
        db = self.connection
        if db.execute("SELECT NOT EXISTS (SELECT 1 FROM records)").fetchone()[0]:
            with self.transaction():
                for column in INDEXED:
                    db.execute(f"DROP INDEX IF EXISTS records_by_{column}")
        missing = db.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN "
            f"({', '.join('?' for _ in INDEXED)})",
            tuple(f"records_by_{column}" for column in INDEXED),
        ).fetchone()[0] < len(INDEXED)
        return bool(missing)

    def build_indexes(self, *, repack: bool = False) -> None:
        """Make the indexes a first sync went without; with `repack`, make the time's
        again too: sorted once, its pages are full (a first sync left 12% of them
        empty, 32% from both ends of the list)."""
        with self.transaction() as db:
            # The time's first: the pages it frees, the two others then take.
            if repack:
                db.execute("REINDEX records_by_time")
            for statement in _INDEXES:
                db.execute(statement)

    def _create(self) -> None:
        db = self.connection
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(_PROPERTIES)
        _add_salt(db)
        for view in VIEWS.values():
            db.execute(view)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def stored_property(self, name: str) -> str | None:
        """One of the archive's own settings (None in an archive made before them)."""
        try:
            row = self.connection.execute(
                "SELECT value FROM properties WHERE name = ?", (name,)
            ).fetchone()
        except sqlite3.OperationalError:
            return None  # schema 2 or older, read-only: no `properties` yet
        return None if row is None else str(row[0])

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: all of it reaches the file, or none of it.

        SQLite's refusals (a full disk, an I/O error, a file locked past the
        timeout) are the environment's, not bugs: StorageError, exit 5.
        """
        db = self.connection
        with self.storage("write"):
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextlib.contextmanager
    def storage(self, doing: str) -> Iterator[None]:
        """SQLite errors while reading or writing the file, as StorageError."""
        try:
            yield
        except sqlite3.Error as error:
            hint = (
                "see to the disk (space, permissions), then run `usage sync` again: it keeps "
                "every page committed"
                if doing == "write"
                else None
            )
            raise StorageError(
                f"cannot {doing} the archive {self.path}: {error}", hint=hint
            ) from None

    # Sources ---------------------------------------------------------------

    def sources(self) -> list[Source]:
        rows = self.connection.execute(
            "SELECT id, label, api_url, run_as FROM sources ORDER BY label"
        ).fetchall()
        return [Source(*row) for row in rows]

    def source(self, label: str) -> Source | None:
        return next((s for s in self.sources() if s.label == label), None)

    def count(self, source: Source) -> int:
        """How many records of `source` the archive holds."""
        found: int = self.connection.execute(
            "SELECT COUNT(*) FROM records WHERE source = ?", (source.id,)
        ).fetchone()[0]
        return found

    def head(self) -> bytes:
        """The newest chain value (GENESIS when there is none), on the newest row unless
        rows were added by hand: the archive's head, which `usage verify ARCHIVE
        --expect-head` holds a later archive to."""
        row = self.connection.execute(
            "SELECT chain FROM records WHERE chain IS NOT NULL ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return GENESIS if row is None else bytes(row[0])

    def anchor(self) -> bytes:
        """The head a sync prints (`_seal.anchor`): the chain's head bound to the newest
        run's seal."""
        from usage_cli.archive._seal import anchor

        has = {row[1] for row in self.connection.execute("PRAGMA table_info(runs)")}
        if "seal" not in has:
            return self.head()
        # One statement, one snapshot: a sync may commit between two.
        chain, sealed = self.connection.execute(
            "SELECT (SELECT chain FROM records WHERE chain IS NOT NULL ORDER BY seq DESC "
            "LIMIT 1), (SELECT seal FROM runs ORDER BY id DESC LIMIT 1)"
        ).fetchone()
        return anchor(GENESIS if chain is None else bytes(chain), sealed)

    def bind_source(self, label: str, api_url: str, run_as: str | None, now_ms: int) -> Source:
        """The source `label` a sync of `api_url` (as `run_as`) fills: made on first use.

        A source keeps the API it holds records of; one that holds none yet
        (its first sync failed) takes the API this run names.
        """
        found = self.source(label)
        if found is None:
            return self.add_source(label, api_url, run_as, now_ms)
        if (found.api_url, found.run_as) == (api_url, run_as):
            return found
        holds = self.connection.execute(
            "SELECT EXISTS (SELECT 1 FROM records WHERE source = ?)", (found.id,)
        ).fetchone()[0]
        if not holds:
            with self.transaction() as db:
                db.execute(
                    "UPDATE sources SET api_url = ?, run_as = ? WHERE id = ?",
                    (api_url, run_as, found.id),
                )
            return Source(found.id, label, api_url, run_as)
        raise InputError(
            f"the archive's source {label!r} holds records of {found.api_url}"
            + (f" as {found.run_as}" if found.run_as else "")
            + f"; this run reads {api_url}"
            + (f" as {run_as}" if run_as else ""),
            hint="sync this API under a name of its own with --source NAME: a source never "
            "mixes two",
        )

    def add_source(self, label: str, api_url: str, run_as: str | None, now_ms: int) -> Source:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO sources (label, api_url, run_as, created_at) VALUES (?, ?, ?, ?)",
                (label, api_url, run_as, now_ms),
            )
        return Source(int(cursor.lastrowid or 0), label, api_url, run_as)

    # Segments ------------------------------------------------------------

    def segments(self, source: Source) -> list[Segment]:
        """The source's stored stretches, newest first (one that read nothing yet, first)."""
        rows = self.connection.execute(
            "SELECT id, newest, oldest, cursor, bottom FROM segments WHERE source = ? "
            # Two stretches of one run (from both ends of a list created in one
            # millisecond) can share `newest`: the one read from the top is above.
            "ORDER BY newest IS NOT NULL, newest DESC, bottom, oldest DESC",
            (source.id,),
        ).fetchall()
        return [Segment(row[0], row[1], row[2], row[3], bool(row[4])) for row in rows]

    def stretches(self, source: Source) -> list[tuple[Segment, Segment | None]]:
        """The source's stored stretches, newest first, each with the one below it."""
        segments = [s for s in self.segments(source) if s.newest is not None]
        return list(itertools.zip_longest(segments, segments[1:]))

    def gaps(self, source: Source) -> list[tuple[Segment, Segment | None]]:
        """The stretches a sync left open, each with the stored one below it."""
        return [(segment, older) for segment, older in self.stretches(source) if not segment.bottom]

    @property
    def lock_path(self) -> Path:
        return lock_path(self.path)

    def sync_running(self) -> bool:
        from usage_cli._lock import held

        return held(self.lock_path)

    # Writing records -------------------------------------------------------

    def insert(
        self, db: sqlite3.Connection, source: Source, run: int, records: Sequence[UsageRecord]
    ) -> tuple[int, int | None, bytes | None]:
        """Store the records not stored yet (inside a transaction); (added, last seq, chain)."""
        try:
            return self._store_page(db, source, run, records)
        except UnicodeEncodeError:
            # The JSON keeps half an emoji as its escape, but an id, a type or a bot is
            # a column SQLite must hold as UTF-8 text, which half an emoji is not.
            from usage_cli.errors import SchemaError

            raise SchemaError(
                "the API sent a record whose id, type or botId holds half an emoji (a lone "
                f"UTF-16 surrogate), which the archive cannot index (one of "
                f"{', '.join(ascii(record.id) for record in records[:3])}...)",
            ) from None

    def _store_page(
        self, db: sqlite3.Connection, source: Source, run: int, records: Sequence[UsageRecord]
    ) -> tuple[int, int | None, bytes | None]:
        if not records:
            return 0, None, None
        known = _existing(db, source, records)
        chain = self.head()
        # `link`, written out: a record's JSON is made once, as bytes, and the
        # header is the same for the whole page (per-record Python was 13% of
        # a first sync's time). The page is one block: its last row keeps the chain.
        digest = hashlib.sha256(chain)
        marked = header(source.id, run)
        # The rows' values in one flat list, `columns_of` written out: a call and
        # a tuple a record were 1.4 µs of it.
        values: list[Any] = []
        added = 0
        for record in records:
            raw = record.raw
            record_id = raw["id"]
            if record_id in known:
                continue
            known.add(record_id)
            data = json_bytes(raw)
            digest.update(marked)
            digest.update(data)
            count = raw["count"]
            if not _SMALLEST <= count <= _LARGEST:
                count = None
            values += (source.id, record_id, raw["createdAt"], raw["type"], count)
            values += (raw.get("botId"), data.decode("utf-8"), run, None)
            added += 1
        if not added:
            return 0, None, None
        chain = values[-1] = digest.digest()
        width = len(_RECORD_COLUMNS)
        # SQLite binds at most so many values a statement (32,766 by default, 999
        # before 3.32, fewer where the build or the connection says): a page with
        # more values than that goes in as several statements, in order. The page
        # is still one block, its chain value on its last row alone.
        step = max(1, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width) * width
        last: int | None = None
        try:
            # One statement for the page (a page of 100 rows is 900 values): SQLite
            # lets go of the GIL once a step, and `executemany` steps once a row,
            # each time waiting to take the GIL back from the thread that reads
            # ahead (profiled over a first sync of 200,000 records: 2.3 s in
            # `executemany`, 1.0-2.1 s so).
            for start in range(0, len(values), step):
                part = values if step >= len(values) else values[start : start + step]
                last = db.execute(_insert(len(part) // width), part).lastrowid
        except OverflowError:
            raise StorageError(
                "a record's createdAt is beyond what the archive can order "
                f"(one of {', '.join(record.id for record in records[:3])}...)"
            ) from None
        return added, last, chain


# Every column of the records table, in order, as every schema has had them.
TABLE_COLUMNS = (
    "seq",
    "source",
    "id",
    "created_at",
    "type",
    "count",
    *(column for _, column in RELATION_COLUMNS),
    "raw",
    "run",
    "chain",
)
# Those an insert writes: all but the row's number and the relations computed.
_RECORD_COLUMNS = tuple(
    column
    for column in TABLE_COLUMNS[1:]
    if column not in {name for _, name in RELATION_COLUMNS} - {name for _, name in STORED_RELATIONS}
)
_ROW = f"({', '.join('?' for _ in _RECORD_COLUMNS)})"


@functools.lru_cache(maxsize=8)
def _insert(rows: int) -> str:
    """The statement that inserts `rows` rows (a page's, mostly 100: one text)."""
    return f"INSERT INTO records ({', '.join(_RECORD_COLUMNS)}) VALUES " + ", ".join(
        _ROW for _ in range(rows)
    )


def _migrate(
    db: sqlite3.Connection, shown: str, on_note: Callable[[str], None] | None = None
) -> None:
    """Bring the older archive `shown` up to SCHEMA_VERSION, inside a transaction.

    Each step checks what is there rather than trusting the version: it may be
    a file an earlier step half-reached by hand, or a test made old. A VerifyError
    when the file was edited where the migration would erase the trace (the
    transaction then changes nothing).
    """
    _refuse_changed_structure(db, shown)
    # 2: runs gain seal and signature. Its runs so far stay unsealed; verify
    # says what that cannot prove.
    has = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    for column in ("seal", "signature"):
        if column not in has:
            db.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT")
    # 3: the views, as a new archive has them, and the salt of token hints. The
    # runs' older, unsalted hints stay until the next sync of their source has
    # compared its token to them (`Sync`), then go.
    for name, statement in VIEWS.items():
        db.execute(f"DROP VIEW IF EXISTS {name}")
        db.execute(statement)
    db.execute(_PROPERTIES)
    _add_salt(db)
    # 5: the records table as schema 5 makes it, with schema 4's indexes: the
    # rebuild drops every index of the old table and makes these, so step 4 is
    # left to a table that needs no rebuild (the time's was built twice so).
    columns = {row[1]: row for row in db.execute("PRAGMA table_xinfo(records)")}
    computed = tuple(
        (field, column)
        for field, column in RELATION_COLUMNS
        if column not in INDEXED and not columns[column][6]
    )
    if columns["chain"][3] or computed:
        if on_note is not None:
            # Said first: the checks and the copy take about 25 s a million rows
            # (19 s the copy, benchmarks/README.md; the two checks 0.8 s of 2.1 s
            # over 200,000 here, at load 5), before the sync's first line.
            on_note(
                f"migrating {shown} to archive schema {SCHEMA_VERSION} (about 25 s a million "
                "records)..."
            )
        _refuse_damaged_records(db, shown)
        _refuse_changed_copies(db, shown, computed)
        _rebuild_records(db)
    else:
        # 4: the relations' indexes but the bot's go. The rows and their chain are
        # untouched: what a sync stored before verifies as it did.
        for index in _DROPPED:
            db.execute(f"DROP INDEX IF EXISTS {index}")
        found = db.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'records_by_time'"
        ).fetchone()
        if found is None or found[0] != _TIME_INDEX:
            db.execute("DROP INDEX IF EXISTS records_by_time")
            db.execute(_TIME_INDEX)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def shown_version(db: sqlite3.Connection) -> int:
    """The schema the file's structure shows: its `user_version`, or more where the
    structure says more. Checks gated by the version trust it no lower than that: a
    version set back by hand must not turn them off."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    made = {
        str(name).lower(): sql for name, sql in db.execute("SELECT name, sql FROM sqlite_master")
    }
    if "properties" in made:
        version = max(version, VIEWS_SINCE)
    if made.get("records_by_time") == _TIME_INDEX:
        version = max(version, 4)
    if any(row[6] for row in db.execute("PRAGMA table_xinfo(records)")):
        version = max(version, 5)
    return version


def view_problems(db: sqlite3.Connection) -> list[str]:
    """The views for SQL tools that are not the ones a sync creates, word for word.
    Names are matched as SQLite matches them, whatever their case: a view
    `USAGE_RECORDS` made in place of `usage_records` answers for it."""
    marks = ", ".join("?" for _ in VIEWS)
    found: dict[str, list[tuple[str, str, str | None]]] = {}
    for kind, name, sql in db.execute(
        f"SELECT type, name, sql FROM sqlite_master WHERE lower(name) IN ({marks})", tuple(VIEWS)
    ):
        found.setdefault(str(name).lower(), []).append((kind, name, sql))
    made = shown_version(db) >= VIEWS_SINCE
    problems = []
    for name, statement in VIEWS.items():
        there = found.get(name, [])
        if not there:
            if made:
                problems.append(f"the view {name} was dropped after a sync created it")
        elif there != [("view", name, statement)]:
            problems.append(
                f"the view {name} was redefined after a sync created it: it is not the view "
                "a sync creates, and may show other records than the archive holds"
            )
    return problems


def _refuse_changed_structure(db: sqlite3.Connection, shown: str) -> None:
    """A VerifyError when the file holds what `usage verify` reports as added or
    redefined by hand and the migration would erase: a view (step 3 makes them
    anew), an index on the records or a trigger (the rebuild drops the old
    table's). As verify: views from schema 3, indexes from schema 4."""
    version = shown_version(db)
    found: str | None = None
    kept = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid")
    for kind, name, on, sql in kept:
        if kind == "trigger":
            found = f"a trigger was added ({name!r} on {on_one_line(on)})"
        elif (
            kind == "index"
            and on == "records"
            and sql is not None  # SQLite's own (a UNIQUE constraint's)
            and version >= 4
            and RECORDS_INDEXES.get(name) != sql
        ):
            found = f"the index {name!r} on the records was added or redefined"
        if found is not None:
            break
    if found is None:
        found = next(iter(view_problems(db)), None)
    if found is not None:
        raise _refused(shown, found)


def _refused(shown: str, found: str) -> VerifyError:
    """The migration's refusal of an archive edited by hand, `found` naming the edit."""
    return VerifyError(
        f"{shown} fails its check: {found}; it is not migrated to archive schema "
        f"{SCHEMA_VERSION}, which would erase the trace",
        hint=f"run `usage verify {shown}`; restore the archive from a backup, or sync a new one",
    )


def _refuse_damaged_records(db: sqlite3.Connection, shown: str) -> None:
    """A VerifyError when SQLite's own check of the records table and its indexes
    fails, as verify's does: an index whose entries were forged (a summary reads
    the indexes alone) is seen there alone, and the rebuild makes every index
    anew. It took 0.3-0.4 s over 200,000 records here (the whole migration 2.1 s)."""
    found = [row[0] for row in db.execute("PRAGMA integrity_check")]
    if found != ["ok"]:
        raise _refused(
            shown,
            "the records' pages or indexes do not hold together (SQLite's integrity_check: "
            f"{found[0]}): it was edited, or damaged",
        )


def _refuse_changed_copies(
    db: sqlite3.Connection, shown: str, computed: tuple[tuple[str, str], ...]
) -> None:
    """A VerifyError when a row's stored columns differ from its JSON.

    Schema 5 computes `computed` from the JSON: the rebuild drops their stored
    copies, and with them the only trace of an edit to one, which `usage verify`
    catches until then. So the file is left as it is, for verify to name it.
    """
    # verify's own check, on this connection: its SQL finds the rows that may
    # differ, its Python confirms one (no alarm at JSON spelled with an escape).
    from_json, from_columns, _ = compared(computed)
    try:
        rows = db.execute(
            f"SELECT seq, id FROM records WHERE {from_json} IS NOT {from_columns} ORDER BY seq"
        )
        changed = next((row for row in rows if columns_differ(db, computed, row[0])), None)
    except sqlite3.OperationalError as error:
        if "JSON" not in str(error):
            raise
        # A row's JSON SQLite cannot read (broken by hand): each row is asked in
        # Python, as verify does, up to the first that differs.
        rows = db.execute("SELECT seq, id FROM records ORDER BY seq")
        changed = next((row for row in rows if columns_differ(db, computed, row[0])), None)
    if changed is not None:
        seq, record_id = changed
        raise _refused(
            shown,
            f"row {seq} (id {record_id!r}): its indexed columns differ from its JSON (one or "
            "the other was changed)",
        )


def _rebuild_records(db: sqlite3.Connection) -> None:
    """The records table made again as schema 5 has it, every row copied as it is.

    SQLite changes neither a column's NOT NULL nor a stored column into a
    computed one in place: the rows are copied into a new table, in the
    migration's one transaction (19 s for a million here; the old table's pages
    stay in the file, free, for later syncs). The chain is copied too: schema
    4's value on every row is a block of one, and verifies as it did.
    """
    stored = ["seq", "source", "id", "created_at", "type", "count"]
    stored += [column for _, column in STORED_RELATIONS] + ["raw", "run", "chain"]
    kept = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
    for name in VIEWS:
        db.execute(f"DROP VIEW IF EXISTS {name}")
    indexes = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records' "
        "AND sql IS NOT NULL"
    ).fetchall()
    for (index,) in indexes:
        # The names are the file's, not ours: one added by hand may hold any text.
        db.execute(f"DROP INDEX {_quoted(index)}")
    db.execute("ALTER TABLE records RENAME TO records_before_5")
    db.execute(_RECORDS)
    db.execute(
        f"INSERT INTO records ({', '.join(stored)}) SELECT {', '.join(stored)} "
        "FROM records_before_5 ORDER BY seq"
    )
    db.execute("DROP TABLE records_before_5")
    if kept is not None:
        # AUTOINCREMENT: a seq once used (a row deleted at the end) stays used.
        db.execute(
            "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'records'", (kept[0],)
        )
    db.execute(_TIME_INDEX)
    for statement in _INDEXES:
        db.execute(statement)
    for statement in VIEWS.values():
        db.execute(statement)


def _quoted(name: str) -> str:
    """`name` as an SQL identifier, whatever it holds."""
    return '"' + name.replace('"', '""') + '"'


TOKEN_SALT = "token_salt"


def _add_salt(db: sqlite3.Connection) -> None:
    """The archive's own random salt for token hints: the same token leaves a different
    hint in every archive, so hints cannot be matched across archives."""
    db.execute(
        "INSERT OR IGNORE INTO properties (name, value) VALUES (?, ?)",
        (TOKEN_SALT, secrets.token_hex(16)),
    )


def _existing(db: sqlite3.Connection, source: Source, records: Sequence[UsageRecord]) -> set[str]:
    """Which of `records` are stored: one range of the time index, the records' span."""
    times = [record.created_at for record in records]
    ids = [record.id for record in records]
    span = (source.id, min(times), max(times))
    # No more ids a statement than SQLite binds values (less the span's three).
    step = max(1, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - len(span))
    found: set[str] = set()
    for start in range(0, len(ids), step):
        part = ids[start : start + step]
        marks = ", ".join("?" for _ in part)
        rows = db.execute(
            f"SELECT id FROM records WHERE source = ? AND created_at BETWEEN ? AND ? "
            f"AND id IN ({marks})",
            (*span, *part),
        ).fetchall()
        found.update(row[0] for row in rows)
    return found


def _meta_matches(meta_json: str | None, wanted_json: str) -> bool:
    """The API's `meta[KEY]=VALUE` test, on a record's `meta` as the archive holds it."""
    from usage_cli.query import meta_matches

    if meta_json is None:
        return False
    meta = json.loads(meta_json)
    wanted: list[list[str]] = json.loads(wanted_json)
    return isinstance(meta, dict) and all(meta_matches(meta, key, value) for key, value in wanted)
