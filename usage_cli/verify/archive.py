"""`usage verify ARCHIVE`: recompute the chain, and find what no sync wrote.

Rows only ever append, each page's rows chained as a block to the block
before (schema 4 chained each row alone). So a row edited in place, or two
rows swapped, breaks its block's link (a block is a page, 100 rows: which of
them changed the chain cannot say); a row deleted leaves a hole in `seq` and
breaks its block's link; a row added by hand belongs to no run, or makes its
run's figures wrong. Holes in what a source's syncs covered are reported too: those
the API can still fill (an interrupted run), and those it could not.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from usage_cli._text import plural
from usage_cli.archive._file import connect_for_reading
from usage_cli.archive._seal import PARTS, anchor, message, parts, previous
from usage_cli.archive._store import (
    GENESIS,
    RECORDS_INDEXES,
    RECORDS_TABLE,
    RELATION_COLUMNS,
    TABLE_COLUMNS,
    Archive,
    header,
    shown_version,
    view_problems,
)
from usage_cli.archive._store import columns_differ as _columns_differ
from usage_cli.archive._store import compared as _compared
from usage_cli.columns import iso_ms
from usage_cli.errors import InputError
from usage_cli.verify._kind import Kind
from usage_cli.verify._lines import listed, summed

# Enough to act on; a tampered archive can have a million broken rows.
_MAX_LISTED = 20


@dataclass
class ArchiveReport:
    kind: ClassVar[Kind] = "archive"
    path: Path
    records: int = 0
    runs: int = 0
    sources: int = 0
    head: bytes = GENESIS
    # Rows changed, deleted or added outside a sync: the archive was tampered with.
    problems: list[str] = field(default_factory=list)
    # Stretches a stopped sync left open: the next `usage sync` closes them.
    gaps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unlisted: int = 0
    # The sources' labels, as `usage sync` named them.
    labels: list[str] = field(default_factory=list)
    # `--expect-head`: the head kept after a sync, and how many runs came after the
    # one that left it (None: it is not in this archive's chain).
    expected: str | None = None
    runs_since: int | None = None
    # `--signers`: who signed the runs, as the allowed-signers file names them.
    signers: list[str] = field(default_factory=list)
    # The last row's seq.
    last_seq: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unlisted and not self.gaps

    @property
    def hint(self) -> str | None:
        if self.problems or self.unlisted:
            return (
                "an archive is only ever written by `usage sync`: restore it from a backup, "
                "or sync a new one"
            )
        if self.gaps:
            return f"run `usage sync --db {self.path}` (with the same profile) to close it"
        return None

    def problem_lines(self) -> list[str]:
        return listed(self.problems + self.gaps)

    def verdict(self) -> str:
        if self.problems or self.unlisted:
            more = f"; and {self.unlisted:,} more" if self.unlisted else ""
            return f"{self.path} fails its check: " + summed(self.problems + self.gaps) + more
        if self.gaps:
            return f"{self.path} is not complete: " + summed(self.gaps)
        runs = f"{self.runs:,} sync run{'s' * (self.runs != 1)}"
        anchored = ""
        if self.expected is not None:
            anchored = (
                "; the expected head is its head"
                if not self.runs_since
                else f"; it extends the expected head by {plural(self.runs_since, 'sync run')}"
            )
        signed = f"; runs signed by {', '.join(self.signers)}" if self.signers else ""
        return (
            f"ok: {self.path} is intact ({self.records:,} records from {runs}; "
            f"sources: {', '.join(self.labels) or 'none'}; chain head {self.head.hex()}"
            f"{anchored}{signed})"
        )

    def problem(self, text: str) -> None:
        if len(self.problems) < _MAX_LISTED:
            self.problems.append(text)
        else:
            self.unlisted += 1


@dataclass
class _Run:
    id: int
    source: int
    added: int
    first_seq: int | None
    last_seq: int | None
    head: bytes | None
    outcome: str
    seen: int = 0
    seen_last: int | None = None
    seen_head: bytes | None = None


def verify_archive_file(
    path: Path, *, expect_head: str | None = None, signers: Path | None = None
) -> ArchiveReport:
    """The archive at `path` (an InputError when it is none).

    A file SQLite cannot read through (a page overwritten, the file cut short)
    fails the check, exit 6, as a changed row does: it can prove nothing.
    """
    try:
        with Archive.open(path) as archive:
            return verify_archive(archive, expect_head=expect_head, signers=signers)
    except sqlite3.DatabaseError as error:
        damaged = str(error)
    except InputError as refused:
        if "not a readable usage archive" not in refused.message:
            raise
        damaged = refused.message.split(": ", 1)[-1]
    report = ArchiveReport(path)
    report.problem(f"the archive is damaged: {damaged}; it cannot be proven")
    return report


def verify_archive(
    archive: Archive, *, expect_head: str | None = None, signers: Path | None = None
) -> ArchiveReport:
    """The open `archive`'s hash chain and runs, row by row, and its sources' stretches.

    `expect_head`, a head kept after a sync (hex), must be this archive's head or
    the head an earlier run left on the chain that this archive extends: a copy
    rolled back, a newest run dropped, or a history rewritten before it fail.
    `signers`, an allowed-signers file, makes every run's signature part of the
    proof: the newest run must be signed by an allowed key.
    """
    report = ArchiveReport(archive.path)
    db = archive.connection
    # One snapshot for everything read here: a sync may commit meanwhile, and its
    # runs, rows, row counter, stretches and seal are consistent only together.
    db.execute("BEGIN")
    try:
        _verify_in_snapshot(archive, report, expect_head, signers)
    finally:
        db.execute("COMMIT")
    return report


def _verify_in_snapshot(
    archive: Archive, report: ArchiveReport, expect_head: str | None, signers: Path | None
) -> None:
    db = archive.connection
    if not _check_structure(db, report):
        return
    runs = {
        row[0]: _Run(*row)
        for row in db.execute(
            "SELECT id, source, added, first_seq, last_seq, head, outcome FROM runs ORDER BY id"
        )
    }
    report.runs = len(runs)
    # The chain as recomputed at each run's last row: the heads a kept one may be.
    ends = {run.last_seq: run.id for run in runs.values() if run.last_seq is not None}
    previous_chain, heads = _chain(archive, report, runs, ends)
    previous_seq = report.last_seq
    report.sources = db.execute("SELECT COUNT(*) FROM sources").fetchone()[0]
    # Which of the runs' columns this archive's schema has (seal and signature: 2).
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    seals = _seals(db, columns)
    anchors = _anchors(runs, heads, seals)
    report.head = anchor(previous_chain, seals.get(max(runs))) if runs else previous_chain
    for run in runs.values():
        _check_run(report, run)
    last_written = max((run.last_seq or 0 for run in runs.values()), default=0)
    if previous_seq < last_written:
        report.problem(
            f"{plural(last_written - previous_seq, 'row')} deleted from the end of the archive"
        )
    # SQLite's counter of row numbers moves only with a sync's inserts: set by hand past
    # the last row a run wrote, the next sync's rows would read as rows deleted before.
    counter = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
    if counter is not None and counter[0] != last_written and last_written:
        report.problem(
            f"the archive's row counter says {counter[0]:,} where the last row a sync wrote "
            f"is {last_written:,}: it was edited"
        )
    # A sync commits each batch with the seal in the same transaction, so the seal
    # is checked whether or not a sync runs now. Only the stretch of the source a
    # running sync reads is no gap; a lock held by itself (or a run marked running
    # by hand, which its seal shows) excuses nothing else.
    newest = db.execute("SELECT source, outcome FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    reading = None
    if newest is not None and newest[1] == "running" and archive.sync_running():
        reading = int(newest[0])
    _check_segments(archive, report, reading)
    _check_seal(archive, report, columns)
    _check_views(archive, report)
    if signers is not None:
        _check_signatures(archive, report, signers, columns)
    if expect_head is not None:
        _check_head(report, runs, anchors, heads, expect_head.strip().lower())


# A row's stored columns against its JSON, in SQL: one parse of the JSON a row
# (`json_extract` of every path at once), compared as text with the columns made
# JSON. Equal texts are equal values; a row that differs is asked again in Python
# (`_columns_differ`), so JSON spelled another way (an escape) is no false alarm.
# A count past 64 bits is stored NULL: its JSON stands in for it then, and only then.
# Relations computed from the JSON (schema 5) cannot differ from it: only those an
# archive stores are compared (all nine before schema 5).
def _stored_relations(db: sqlite3.Connection) -> tuple[tuple[str, str], ...]:
    hidden = {row[1]: row[6] for row in db.execute("PRAGMA table_xinfo(records)")}
    return tuple((field, column) for field, column in RELATION_COLUMNS if not hidden[column])


def _check_structure(db: sqlite3.Connection, report: ArchiveReport) -> bool:
    """The records table, its indexes and the file's triggers as a sync makes them.

    The chain covers rows, not what SQLite makes of them: a computed column's
    formula rewritten (`writable_schema`) would show other relations than the
    JSON holds, an index added or redefined could answer a summary, and a
    trigger could rewrite what a later sync inserts. False when the table is not
    one the rest of the check can read at all.
    """
    version = shown_version(db)
    columns = {row[1]: row for row in db.execute("PRAGMA table_xinfo(records)")}
    if tuple(columns) != TABLE_COLUMNS:
        report.problem(
            "the records table was altered: its columns are not the ones a sync creates "
            f"({', '.join(columns) or 'none'})"
        )
        return False
    (table,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'records'").fetchone()
    computed = any(row[6] for row in columns.values())
    # Schema 5 computes eight relations from the JSON; before it, every column is stored
    # (and compared with the JSON below). Either way, the formulas are a sync's own.
    if (computed or version >= 5) and table != RECORDS_TABLE:
        report.problem(
            "the records table was redefined after a sync created it: it is not the table "
            "a sync creates, and reads may show other values than the records hold"
        )
    for kind, name, on, sql in db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"):
        if kind == "trigger":
            report.problem(f"a trigger was added ({name!r} on {on}): a sync creates none")
        elif kind == "index" and on == "records" and sql is not None and version >= 4:
            if name not in RECORDS_INDEXES:
                report.problem(
                    f"an index was added to the records ({name!r}): a sync creates none such, "
                    "and a read could be answered from it"
                )
            elif sql != RECORDS_INDEXES[name]:
                report.problem(f"the index {name} was redefined after a sync created it")
    return True


def _check_file(archive: Archive) -> list[str]:
    """SQLite's own check of every page and index, on a connection of its own: an index
    whose entries were edited (a summary reads the indexes alone), or a page two
    structures claim, is found here and nowhere else."""
    db = connect_for_reading(archive.path, check_same_thread=False)
    try:
        found = [row[0] for row in db.execute("PRAGMA integrity_check(20)")]
    finally:
        db.close()
    return [] if found == ["ok"] else found


def _chain(
    archive: Archive, report: ArchiveReport, runs: dict[int, _Run], ends: dict[int, int]
) -> tuple[bytes, dict[bytes, int]]:
    """Every row in `seq` order: its link, its run, its columns. The head, and the heads
    recomputed at each run's last row.

    This is the whole cost of a verify (10.1 s over a million records when each
    row was linked by `link` and its JSON read by `json.loads`). The link is
    written out, with its header made once a run; the columns are compared in
    SQL, on a second connection and thread (SQLite lets go of the GIL), while
    this one walks the chain: over 200,000 records the check took 0.42 s of CPU
    and the walk 0.37 s. (The check split in two halves on two threads was
    slower: 3.1-3.9 s against 2.6-2.9 s over a million records.)
    """
    from concurrent.futures import ThreadPoolExecutor

    db = archive.connection
    relations = _stored_relations(db)
    # The other connections read their own snapshots: the rows up to this one's last.
    last = db.execute("SELECT MAX(seq) FROM records").fetchone()[0] or 0
    with ThreadPoolExecutor(2) as pool:
        columns = pool.submit(_differing, archive, relations, last)
        pages = pool.submit(_check_file, archive)
        head, heads, failed = _links(db, report, runs, ends)
        differing, odd = columns.result()
        damaged = pages.result()
    if damaged:
        report.problem(
            "the file's pages or indexes do not hold together (SQLite's integrity_check: "
            + "; ".join(damaged[:3])
            + "): it was edited, or damaged"
        )
    for seq, record_id in odd:
        # What a sync writes is JSON text, which never holds a NUL byte, under whole-number
        # source and run: the page's hash could not tell such a row from two.
        report.problem(
            f"row {seq} (id {record_id!r}) is not as a sync writes a row: its JSON is not "
            "text, holds a NUL byte, or its source or run is not a number"
        )
    for seq, record_id in differing:
        if seq not in failed and _columns_differ(db, relations, seq):
            report.problem(
                f"row {seq} (id {record_id!r}): its indexed columns were changed (they differ "
                "from its JSON)"
            )
    return head, heads


def _links(
    db: sqlite3.Connection, report: ArchiveReport, runs: dict[int, _Run], ends: dict[int, int]
) -> tuple[bytes, dict[bytes, int], set[int]]:
    """The chain, block by block: its head, the heads at runs' ends, the rows that failed.

    A block is the rows up to one that keeps a chain value: its expected value is
    the sha256 of the block before's stored value and each row's header and JSON.
    """
    sha256 = hashlib.sha256
    heads: dict[bytes, int] = {GENESIS: 0}
    failed: set[int] = set()
    previous_seq, previous_chain = 0, GENESIS
    digest = sha256(previous_chain)
    # The block so far: its first row, and whether a row of it failed already.
    first: tuple[int, str] | None = None
    spoilt = False
    # What a row's run says, asked again only when the run changes (rarely).
    source_now = run_now = -1
    marked = b""
    run: _Run | None = None
    low, high = 1, 0  # the seqs `run` wrote (none: 1..0)
    records = 0
    # The JSON as bytes straight from SQLite: what the chain hashed.
    rows = db.execute(
        "SELECT seq, source, run, CAST(raw AS BLOB), chain, id FROM records ORDER BY seq"
    )
    for seq, source, run_id, raw, chain, record_id in rows:
        records += 1
        if first is None:
            first = seq, record_id
        if run_id != run_now or source != source_now:
            source_now, run_now = source, run_id
            marked = header(source, run_id)
            run = runs.get(run_id)
            low, high = 1, 0
            if run is not None and run.source == source and run.first_seq is not None:
                low, high = run.first_seq, run.last_seq or 0
        digest.update(marked)
        digest.update(raw)
        if low <= seq <= high:
            assert run is not None
            run.seen += 1
            run.seen_last = seq
            if seq != previous_seq + 1:
                failed.add(seq)
                spoilt = True
                report.problem(
                    f"{plural(seq - previous_seq - 1, 'row')} deleted before row {seq} "
                    f"(id {record_id!r})"
                )
        else:
            failed.add(seq)
            spoilt = True
            report.problem(
                f"row {seq} (id {record_id!r}) was inserted outside a sync (run {run_id} did not "
                "write it)"
            )
        previous_seq = seq
        if chain is None:
            continue
        expected = digest.digest()
        if run is not None and low <= seq <= high:
            run.seen_head = chain
        if chain != expected and not spoilt:
            failed.add(seq)
            report.problem(_changed(first, (seq, record_id)))
        if seq in ends:
            heads[expected] = ends[seq]
        previous_chain, digest = chain, sha256(chain)
        first, spoilt = None, False
    if first is not None and not spoilt:
        report.problem(
            f"row {first[0]} (id {first[1]!r}) and any after it were added outside a sync: "
            "no chain value ends them"
        )
    report.records += records
    report.last_seq = previous_seq
    return previous_chain, heads, failed


def _changed(first: tuple[int, str], last: tuple[int, str]) -> str:
    if first == last:
        return f"row {last[0]} (id {last[1]!r}) was changed after its sync wrote it"
    return (
        f"a row of rows {first[0]}-{last[0]} (ids {first[1]!r} to {last[1]!r}) was changed "
        "after its sync wrote it, or two of them swapped (one page's rows share a chain value)"
    )


def _differing(
    archive: Archive, relations: tuple[tuple[str, str], ...], last: int
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """The rows up to `last` whose stored columns may differ from their JSON, and those
    not shaped as a sync writes a row."""
    from_json, from_columns, _ = _compared(relations)
    # What a sync writes is JSON text under whole-number source and run; JSON never
    # holds a NUL byte. Asked in the same scan as the columns.
    odd = (
        "(typeof(raw) <> 'text' OR instr(CAST(raw AS BLOB), X'00') > 0 OR "
        "typeof(source) <> 'integer' OR typeof(run) <> 'integer')"
    )
    db = connect_for_reading(archive.path, check_same_thread=False)
    try:
        try:
            rows = db.execute(
                f"SELECT seq, id, {odd} FROM records WHERE seq <= ? AND ({odd} OR "
                f"{from_json} IS NOT {from_columns}) ORDER BY seq",
                (last,),
            ).fetchall()
        except sqlite3.OperationalError as error:
            if "JSON" not in str(error):
                raise
            # A row's JSON SQLite cannot read (broken by hand): each row is asked
            # in Python, which names those that differ.
            rows = db.execute(
                f"SELECT seq, id, {odd} FROM records WHERE seq <= ?", (last,)
            ).fetchall()
        # An odd row is said once, as odd: its columns are no more to be trusted.
        differing = [(seq, id_) for seq, id_, bad in rows if not bad]
        return differing, [(seq, id_) for seq, id_, bad in rows if bad]
    finally:
        db.close()


def _check_seal(archive: Archive, report: ArchiveReport, columns: set[str]) -> None:
    """The bookkeeping is as the newest run sealed it (see `archive._seal`)."""
    db = archive.connection
    if "seal" not in columns:
        report.notes.append(_UNSEALED)
        return
    newest = db.execute("SELECT id, seal FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    if newest is None:
        return
    run, recorded = newest
    if recorded is None:
        sealed = db.execute("SELECT MAX(id) FROM runs WHERE seal IS NOT NULL").fetchone()[0]
        if sealed is not None:
            report.problem(f"sync run {run} has no seal, though run {sealed} before it has")
        else:
            report.notes.append(_UNSEALED)
        return
    try:
        kept = json.loads(recorded)
    except ValueError:
        report.problem(f"sync run {run}'s seal was changed: it is not one a sync writes")
        return
    now = parts(db, run)
    changed = [words for part, words in PARTS.items() if kept.get(part) != now[part]]
    if kept.get("previous") != previous(db, run):
        changed.append("the runs before it")
    if changed:
        report.problem(
            f"the archive's bookkeeping was edited after sync run {run} sealed it: "
            + ", ".join(changed)
        )


def _check_views(archive: Archive, report: ArchiveReport) -> None:
    """The views for SQL tools are the ones a sync creates, word for word.

    Neither the chain nor the seal covers them, and a view redefined by hand
    could show other records, or other counts, than the rows hold: a reader in
    a SQL tool would be lied to while every record still verifies.
    """
    for problem in view_problems(archive.connection):
        report.problem(problem)


def _check_signatures(
    archive: Archive, report: ArchiveReport, signers: Path, columns: set[str]
) -> None:
    """Each signed run's signature over its seal, by an allowed key; the newest run signed.

    A signature covers its run's seal, and so every record up to its run's last
    and every seal before it: runs between two signed ones need none of their
    own. The newest must have one: anything after the newest signed run could
    be a forgery computed as a sync computes it.
    """
    from usage_cli.errors import VerifyError
    from usage_cli.evidence import signer_of_bytes

    db = archive.connection
    if "signature" not in columns:
        report.problem("no sync run is signed: the archive was made before runs were signed")
        return
    rows = db.execute(
        "SELECT id, started_at, added, seal, signature FROM runs ORDER BY id"
    ).fetchall()
    for run, _, _, sealed, signature in rows:
        if signature is None:
            continue
        if sealed is None:
            report.problem(f"sync run {run} is signed, but has no seal to be signed over")
            continue
        try:
            who = signer_of_bytes(message(run, sealed), signature, signers, what=f"sync run {run}")
        except VerifyError as refused:
            report.problem(refused.message)
            continue
        if who not in report.signers:
            report.signers.append(who)
    unsigned = [row[0] for row in rows[:-1] if row[4] is None]
    if unsigned and rows[-1][4] is not None:
        shown = ", ".join(str(run) for run in unsigned[:_MAX_LISTED])
        report.notes.append(
            f"sync run{'s' * (len(unsigned) != 1)} {shown} {'are' if len(unsigned) != 1 else 'is'} "
            "not signed (a run killed, or synced without --sign): the newest run's signature "
            "covers them, with every record and seal before it"
        )
    if rows and rows[-1][4] is None:
        run, started, added = rows[-1][:3]
        report.problem(
            f"sync run {run} (started {iso_ms(started)}, {plural(added, 'record')} added) is "
            "not signed: it, and any run after the newest signed one, could be forged"
        )


_UNSEALED = (
    "its newest sync ran before syncs sealed their bookkeeping: an edit to the stretches "
    "they covered, the sources or the runs cannot be seen until the next sync seals them"
)


def _seals(db: sqlite3.Connection, columns: set[str]) -> dict[int, str | None]:
    """Each run's seal as the file holds it (none before schema 2: no `seal` column)."""
    if "seal" not in columns:
        return {}
    return {int(run): seal for run, seal in db.execute("SELECT id, seal FROM runs")}


def _anchors(
    runs: dict[int, _Run], heads: dict[bytes, int], seals: dict[int, str | None]
) -> dict[bytes, int]:
    """The head each run printed (`_seal.anchor`): the chain as recomputed at its end
    (a run that added nothing ends where the one before it did), bound to its seal."""
    at_end = {run: chain for chain, run in heads.items()}
    found: dict[bytes, int] = {}
    chain = GENESIS
    for run in sorted(runs):
        chain = at_end.get(run, chain)
        found[anchor(chain, seals.get(run))] = run
    return found


def _check_head(
    report: ArchiveReport,
    runs: dict[int, _Run],
    anchors: dict[bytes, int],
    heads: dict[bytes, int],
    expected: str,
) -> None:
    """The kept head is this archive's, or one a run printed on its way here.

    Each head here is recomputed from the rows up to it (and a row whose stored
    chain differs is a problem of its own), bound to the seal of the run that
    printed it: a head found is one these very rows lead to, with the
    bookkeeping as that run sealed it.
    """
    report.expected = expected
    wanted = bytes.fromhex(expected)
    run = anchors.get(wanted)
    if wanted == GENESIS:
        # The head of nothing at all: any archive "extends" it.
        report.problem(
            "the expected head is all zeros, the head of an empty archive: it proves nothing"
        )
    elif wanted == report.head:
        report.runs_since = 0
    elif run is not None:
        report.runs_since = sum(1 for later in runs if later > run)
    elif wanted in heads:
        # A head of the records alone, as `usage` printed it before heads were bound
        # to the bookkeeping: still proof of the records up to it. Runs that added
        # nothing printed that same head, so only those that added records extend it.
        run = heads[wanted]
        report.runs_since = sum(1 for later in runs.values() if later.id > run and later.added)
        report.notes.append(
            "the expected head is one of the records alone (as printed before heads bound "
            "the sources and stretches too): it proves the records, not the bookkeeping"
        )
    else:
        report.problem(
            f"the expected head {expected[:16]}… is none this archive's runs printed: it was "
            "rolled back to an older copy, lost its newest runs, or its records or its "
            "bookkeeping (sources, stretches) were rewritten"
        )


def _check_run(report: ArchiveReport, run: _Run) -> None:
    if run.seen == run.added and (run.added == 0 or run.seen_last == run.last_seq):
        if run.added and run.seen_head != run.head:
            report.problem(f"sync run {run.id}: its last row is not the one it wrote")
        return
    if run.seen < run.added:
        report.problem(
            f"sync run {run.id} added {run.added:,} rows; {run.seen:,} are left "
            f"({run.added - run.seen:,} deleted)"
        )
    elif run.seen > run.added:
        report.problem(
            f"sync run {run.id} added {run.added:,} rows; {run.seen:,} claim it "
            f"({run.seen - run.added:,} inserted outside a sync)"
        )
    else:
        report.problem(f"sync run {run.id}: its rows are not the ones it wrote")


def _check_segments(archive: Archive, report: ArchiveReport, reading: int | None) -> None:
    """Each source's stretches: a gap a stopped sync left is one, unless it is the
    stretch of the source a running sync (`reading`) reads now."""
    sources = archive.sources()
    report.labels = [source.shown for source in sources]
    for source in sources:
        for segment, older in archive.stretches(source):
            below = iso_ms(segment.oldest) if segment.oldest is not None else "?"
            if not segment.bottom:
                until = f" down to {iso_ms(older.newest)}" if older and older.newest else ""
                if source.id == reading:
                    # A sync holds the archive: its stretch is open because it is
                    # being read, which is no fault.
                    report.notes.append(
                        f"{source.shown}: a sync is running; it is reading below {below}{until}"
                    )
                    continue
                report.gaps.append(
                    f"{source.shown}: a gap below {below}{until} that the API can still fill "
                    "(a sync was interrupted)"
                )
            elif older is not None and older.newest is not None:
                report.notes.append(
                    f"{source.shown}: no records between {iso_ms(older.newest)} and {below}: "
                    "the API no longer returned them when the archive was synced"
                )
