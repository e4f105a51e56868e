"""`usage sync`: copy a source's records into the archive, incrementally, with no gaps.

The archive keeps, per source, *segments*: stretches of the list (newest
first) known to be stored whole, each with the cursor where reading it would
go on. A run first reads from the head of the list down to the newest stored
segment (less an overlap, for records that arrive a little late) and joins
it; then it finishes any segment an interrupted run left open, from its
cursor down to the next one, or to the end of the list. Pages are committed
together, about every half second (`_Writer`): each page's records, the
segment's new edge, the run's figures and the seal reach the file together
or not at all, so a run killed at any instant leaves the archive consistent,
loses at most the last half second or so of pages, and the next run carries
on from the last page committed.

Reading down to the end of the list (a first sync, or finishing one that was
stopped) is one cursor chain, a round trip a page. With a `trail`, a second
chain reads the list from its oldest record up (`order=asc`, on its own
connection) while the first reads down, and both stop where they meet (see
`usage_cli.reading.two_ends.TwoEnds`): about half the round trips. The trail's
pages are stored as they come, into a segment of their own that grows up from
the end of the list (`bottom`, no cursor); the meeting, found by record id,
joins the two into one. Only this thread writes: the chains only fetch. A run
stopped before they meet leaves both segments, and the next run closes the
gap between them as it closes any other. The snapshot is the lead's first
page, taken before any of the trail's: records created later are left to the
next run, as with one chain.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from usage_cli.archive._seal import write as write_seal
from usage_cli.archive._store import TOKEN_SALT, Archive, Segment, Source
from usage_cli.errors import ApiError, UsageCliError
from usage_cli.query import Query
from usage_cli.reading import PageSource, iter_pages
from usage_cli.reading.two_ends import TwoEnds
from usage_cli.records import Page

# A batch of pages is committed once it is this old, or holds this many rows.
# One commit a page (100 records) was 41% of a first sync's time (200,000
# records: 18.3 s, where an export of them took 3.1 s); SQLite alone re-inserting
# them took 10.7 s at 100 rows a transaction, 5.8 s at 1,000, 4.6 s at 10,000.
# Half a second bounds what a kill or a power cut can take back.
COMMIT_EVERY_S = 0.5
COMMIT_ROWS = 5000
# How often the watcher looks at a batch while the run waits for a page.
_WATCH_S = 0.1

# Records created up to this long before the newest one stored are read
# again: usage that reaches the list a little after its `createdAt`.
OVERLAP_MS = 15 * 60 * 1000


@dataclass
class SyncProgress:
    """A run's figures so far."""

    run: int
    added: int = 0
    requests: int = 0
    newest: int | None = None
    oldest: int | None = None
    # Segments finished by this run that an earlier, interrupted run left open.
    resumed: int = 0
    # Where the API refused to go on with such a segment (its `oldest`).
    lost: list[int | None] = field(default_factory=list)

    @property
    def records(self) -> int:
        return self.added

    @property
    def pages(self) -> int:
        return self.requests

    def saw(self, oldest: int, newest: int) -> None:
        """A page whose records span `oldest` to `newest` was read."""
        self.newest = newest if self.newest is None else max(self.newest, newest)
        self.oldest = oldest if self.oldest is None else min(self.oldest, oldest)


# A salted hint says what it is; one without the mark is from before archives had
# a salt: the first 12 hex digits of the token's plain sha256.
SALTED = "hmac:"


def token_hint(token: str | None, salt: str) -> str | None:
    """A short fingerprint of the token, keyed by the archive's salt: it tells two tokens
    apart within one archive, reveals nothing, and differs from archive to archive (an
    unsalted one would show that two archives were synced with one token)."""
    if not token:
        return None
    return SALTED + hmac.new(salt.encode(), token.encode(), hashlib.sha256).hexdigest()[:16]


def _legacy_hint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def _hint_of(hint: str, token: str, salt: str | None) -> bool:
    """Whether a run's stored `hint` is `token`'s fingerprint. One from before archives had
    a salt is the plain sha256's first 12 hex digits, compared as such."""
    if hint.startswith(SALTED):
        return salt is not None and hint == token_hint(token, salt)
    return hint == _legacy_hint(token)


def last_token_hint(archive: Archive, source: Source) -> str | None:
    """The token fingerprint of `source`'s last successful run, if any."""
    row = archive.connection.execute(
        "SELECT token_hint FROM runs WHERE source = ? AND outcome = 'complete' "
        "ORDER BY id DESC LIMIT 1",
        (source.id,),
    ).fetchone()
    return None if row is None else row[0]


def synced_with(archive: Archive, source: Source, token: str | None) -> bool:
    """Whether `source`'s last successful run used `token`: False when that cannot be
    told (no token, no such run, or a run that kept no fingerprint)."""
    previous = last_token_hint(archive, source)
    if previous is None or not token:
        return False
    return _hint_of(previous, token, archive.stored_property(TOKEN_SALT))


class _Writer:
    """A run's writes, committed in batches of pages, each batch with the run's seal.

    Each `write()` (a page, a stretch's edge, the run's end) is all or nothing
    within the batch (a savepoint); the batch is committed once it is
    COMMIT_EVERY_S old or holds COMMIT_ROWS changed rows, and at the run's
    end. The run's first page is committed alone, so that what a run reads
    first is on disk at once. The run's thread holds `_lock` except while it
    waits for a page (`waiting()`): then a watcher thread commits a batch that
    has grown old, so that a page slow to come (a held or stalled request)
    never holds back those read before it.
    """

    def __init__(self, archive: Archive, run: int) -> None:
        self._archive = archive
        self._run = run
        self._lock = threading.Lock()
        self._opened: float | None = None
        self._changes = 0
        self._committed = False
        self._failed: BaseException | None = None
        self._done = threading.Event()
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> _Writer:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._lock.release()
        if self._watcher is not None:
            self._watcher.join()
        if self._opened is not None:
            # Left open only by an error that also stopped the run's end from
            # writing: what is pending goes, as a kill would take it.
            with contextlib.suppress(sqlite3.Error):
                self._archive.connection.execute("ROLLBACK")
            self._opened = None

    @contextlib.contextmanager
    def write(self, *, commit: bool = False) -> Iterator[sqlite3.Connection]:
        """Writes that go into the file together (with `commit`, now)."""
        db = self._archive.connection
        self._raise_failed()
        with self._archive.storage("write"):
            if self._opened is None:
                db.execute("BEGIN IMMEDIATE")
                self._opened = time.monotonic()
                self._changes = db.total_changes
            db.execute("SAVEPOINT page")
            try:
                yield db
            except BaseException:
                self._undo(db)
                raise
            db.execute("RELEASE page")
            if (
                commit
                or not self._committed
                or db.total_changes - self._changes >= COMMIT_ROWS
                or time.monotonic() - self._opened >= COMMIT_EVERY_S
            ):
                self._commit(db)

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """The run waits for a page: meanwhile the watcher may commit the batch."""
        if self._opened is not None and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="sync-commit", daemon=True)
            self._watcher.start()
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
        self._raise_failed()

    def _watch(self) -> None:
        while not self._done.wait(_WATCH_S):
            with self._lock:
                if self._done.is_set():
                    return
                if self._opened is None or time.monotonic() - self._opened < COMMIT_EVERY_S:
                    continue
                try:
                    with self._archive.storage("write"):
                        self._commit(self._archive.connection)
                except BaseException as error:  # raised on the run's thread
                    self._failed = error
                    return

    def _commit(self, db: sqlite3.Connection) -> None:
        try:
            write_seal(db, self._run)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._opened = None
            raise
        self._opened = None
        self._committed = True

    def _undo(self, db: sqlite3.Connection) -> None:
        """Take back the page being written; the batch before it stays."""
        if not db.in_transaction:
            self._opened = None  # SQLite took the whole transaction back (an I/O error)
            return
        try:
            db.execute("ROLLBACK TO page")
            db.execute("RELEASE page")
        except sqlite3.Error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._opened = None

    def _raise_failed(self) -> None:
        failed, self._failed = self._failed, None
        if failed is not None:
            raise failed


class Sync:
    """One run of `usage sync` for one source."""

    def __init__(
        self,
        archive: Archive,
        source: Source,
        client: PageSource,
        *,
        now_ms: Callable[[], int],
        version: str,
        token: str | None = None,
        overlap_ms: int = OVERLAP_MS,
        on_page: Callable[[SyncProgress], None] | None = None,
        trail: Callable[[], PageSource] | None = None,
        on_note: Callable[[str], None] | None = None,
        when_slow: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`trail` opens a second client of the same API, on its own connection,
        for reading the list from its far end too (`when_slow`: only once pages
        come slowly, by `clock`); `on_note` hears why that end was dropped, when it is."""
        self.archive = archive
        self.source = source
        self.client = client
        self.now_ms = now_ms
        self.overlap_ms = overlap_ms
        self.on_page = on_page
        self._trail = trail
        self._when_slow = when_slow
        self._clock = clock
        self.on_note = on_note
        self._query = Query()
        salt = archive.stored_property(TOKEN_SALT)
        assert salt is not None  # a writable archive is at the newest schema
        self._hint = token_hint(token, salt)
        self.token_changed = self._differs(token)
        db = archive.connection
        with archive.transaction():
            if self._hint is not None:
                # Compared, an unsalted hint has served: it goes (see `_differs`).
                db.execute(
                    "UPDATE runs SET token_hint = NULL WHERE source = ? AND token_hint NOT LIKE ?",
                    (source.id, SALTED + "%"),
                )
            # Only one sync runs at a time (the caller holds the archive's
            # lock): a run still marked running was killed.
            db.execute(
                "UPDATE runs SET outcome = 'interrupted', error = 'the run was killed' "
                "WHERE source = ? AND outcome = 'running'",
                (source.id,),
            )
            cursor = db.execute(
                "INSERT INTO runs (source, started_at, outcome, tool_version, token_hint) "
                "VALUES (?, ?, 'running', ?, ?)",
                (source.id, now_ms(), version, self._hint),
            )
            write_seal(db, int(cursor.lastrowid or 0))
        self.progress = SyncProgress(run=int(cursor.lastrowid or 0))
        self._writer = _Writer(archive, self.progress.run)
        self._deferred = False

    def previous_token_hint(self) -> str | None:
        """The token fingerprint of this source's last successful run, if any."""
        return last_token_hint(self.archive, self.source)

    def _differs(self, token: str | None) -> bool:
        """Whether `token` is not the one this source's last successful run used.

        A run from before archives had a salt kept the plain sha256's first 12 hex
        digits: compared as such, once, so that the first sync after the upgrade
        neither misses a new token nor warns of one falsely.
        """
        previous = self.previous_token_hint()
        if previous is None or self._hint is None or token is None:
            return False
        return not _hint_of(previous, token, self.archive.stored_property(TOKEN_SALT))

    def run(self) -> SyncProgress:
        """Read what is new, then close what earlier runs left open; the run's figures.

        The run has ended when this returns: its seal is final, to be signed. The
        indexes a first sync went without come after, from `index()`.
        """
        with self.archive.storage("write"):
            self._deferred = self.archive.defer_indexes()
        with self._writer:
            self._run_all()
        return self.progress

    @property
    def indexing(self) -> bool:
        """Whether `index()` has indexes to build (seconds over a million records)."""
        return self._deferred

    def index(self) -> None:
        """After the run: build the indexes it went without, and refresh the statistics.

        Only once the run is over (and signed): one stopped before, or during this,
        leaves them to the next run (`defer_indexes` finds them missing), and reads
        meanwhile are right, if slower. Nothing here changes a record, a run or a seal.
        """
        if not (self._deferred or self.progress.added):
            return
        with self.archive.storage("write"):
            if self._deferred:
                self.archive.build_indexes(repack=True)
            # Fresh statistics, sampled (milliseconds, not a scan), so the
            # planner picks the index that answers a read alone.
            self.archive.connection.execute("PRAGMA analysis_limit = 1000")
            self.archive.connection.execute("ANALYZE")

    def _run_all(self) -> None:
        try:
            segments = self.archive.segments(self.source)
            self._read(None, segments[0] if segments else None)
            while True:
                segments = self.archive.segments(self.source)
                index = next((i for i, s in enumerate(segments) if not s.bottom), None)
                if index is None:
                    break
                older = segments[index + 1] if index + 1 < len(segments) else None
                self.progress.resumed += 1
                try:
                    self._read(segments[index], older)
                except ApiError:
                    # The cursor is the id of the last record read; once the API
                    # has dropped that record (past its horizon), the rest of the
                    # stretch can no longer be asked for: say so, and close it.
                    self._give_up(segments[index])
        except BaseException as error:
            outcome = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
            self._end(outcome, _describe(error))
            raise
        self._end("complete", None)

    def _give_up(self, segment: Segment) -> None:
        self.progress.lost.append(segment.oldest)
        segment.cursor, segment.bottom = None, True
        with self._writer.write():
            self._save(segment, 0, None, None)

    def _fetch(self, cursor: str | None) -> Page:
        page = self.client.fetch_page(self._query, cursor=cursor, take=self._query.take)
        self.progress.requests += 1
        return page

    def _read(self, segment: Segment | None, older: Segment | None) -> None:
        """Read on from `segment`'s cursor (None: a new one, from the head) down to `older`."""
        if older is None and self._trail is not None:
            self._read_both(segment)
            return
        floor = None if older is None or older.newest is None else older.newest - self.overlap_ms
        # A page ahead only once pages come slowly (the third page on): a run
        # that stops at `older`, usually on the first page, asks for no page more.
        pages = iter_pages(self._fetch, segment.cursor if segment else None, prefetch=True)
        for page in self._waited(pages):
            joined = floor is not None and _span(page)[0] < floor
            segment = self._commit(page, segment, meets=older if joined else None)
            if joined:
                return
        if segment is not None:
            self._reach_end(segment)

    def _read_both(self, segment: Segment | None) -> None:
        """Read on from `segment`'s cursor (None: from the head) down to the end of the list,
        and up from that end at once, until the two meet."""
        # One trail a run: once dropped, the lead reads on as one chain.
        connect, self._trail = self._trail, None
        assert connect is not None
        ends = TwoEnds(
            self.client,
            connect(),
            self._query,
            segment.cursor if segment else None,
            self.on_note,
            when_slow=self._when_slow,
            clock=self._clock,
        )
        before = self.progress.requests
        bottom: Segment | None = None  # the trail's stretch, up from the end of the list
        try:
            with self._writer.waiting():
                ends.begin()
            while True:
                with self._writer.waiting():
                    chain, item = ends.next()
                chain.used()
                self.progress.requests = before + ends.requests
                if chain is ends.lead.chain:
                    page = ends.lead_page(item)
                    if page is None:
                        if segment is not None:
                            self._reach_end(segment)
                        return
                    met = ends.lead_meets(page) is not None
                    if ends.alone and bottom is not None and bottom.newest is not None:
                        # The trail was dropped: its stretch is joined as an
                        # earlier run's is, past the overlap.
                        met = _span(page)[0] < bottom.newest - self.overlap_ms
                    segment = self._commit(page, segment, meets=bottom if met else None)
                    if met:
                        return
                    continue
                found = ends.trail_page(item)
                if found is None:
                    continue
                page, cut = found
                # The meeting is exact, by id: the page holds the lead's last
                # record, and what follows it the lead stored (the insert skips
                # those). No overlap in time: that is for an earlier run's edge.
                assert segment is not None  # the lead's first page comes first
                kept = self._commit(
                    page, bottom, rising=True, meets=segment if cut is not None else None
                )
                if cut is not None:
                    return
                bottom = kept
        finally:
            ends.close()
            self.progress.requests = before + ends.requests

    def _waited(self, pages: Iterator[Page]) -> Iterator[Page]:
        """`pages`, the batch free to be committed while each is awaited."""
        while True:
            with self._writer.waiting():
                page = next(pages, None)
            if page is None:
                return
            yield page

    def _commit(
        self,
        page: Page,
        into: Segment | None,
        *,
        rising: bool = False,
        meets: Segment | None = None,
    ) -> Segment:
        """Store `page` into the segment `into` (a new one when None), all or nothing.

        A page read newest first moves the segment's lower edge down to the
        page's end; one read oldest first (`rising`, from the end of the list)
        raises its newest. `meets` is the stretch the page reached, below it
        (or above it, `rising`): the two become one, the upper one with the
        lower one's edge. The segment that stays.
        """
        oldest, newest = _span(page)
        self.progress.saw(oldest, newest)
        with self._writer.write() as db:
            added, last_seq, head = self.archive.insert(
                db, self.source, self.progress.run, page.items
            )
            if into is None:
                into = Segment(0, newest, oldest, None, rising)
                into.id = int(
                    db.execute(
                        "INSERT INTO segments (source, newest) VALUES (?, ?)",
                        (self.source.id, newest),
                    ).lastrowid
                    or 0
                )
            into.newest = newest if into.newest is None else max(into.newest, newest)
            if not rising:
                into.oldest, into.cursor = oldest, page.cursor or None
            kept = into
            if meets is not None:
                upper, lower = (meets, into) if rising else (into, meets)
                upper.newest = _later(upper.newest, lower.newest)
                upper.oldest, upper.cursor = lower.oldest, lower.cursor
                upper.bottom = lower.bottom
                db.execute("DELETE FROM segments WHERE id = ?", (lower.id,))
                kept = upper
            self._save(kept, added, last_seq, head)
        if self.on_page:
            self.on_page(self.progress)
        return kept

    def _reach_end(self, segment: Segment) -> None:
        """`segment` reaches the end of the list: nothing older exists to read (now).

        It then holds every stretch that lies within its span: a trail's (the
        orders disagreed, and the lead read on past it), or an earlier run's
        that the overlap never reached (a list younger than the overlap).
        """
        segment.cursor, segment.bottom = None, True
        with self._writer.write() as db:
            db.execute(
                "DELETE FROM segments WHERE source = ? AND id != ? AND oldest >= ? AND newest <= ?",
                (self.source.id, segment.id, segment.oldest, segment.newest),
            )
            self._save(segment, 0, None, None)

    def _save(
        self,
        segment: Segment,
        added: int,
        last_seq: int | None,
        head: bytes | None,
    ) -> None:
        progress = self.progress
        progress.added += added
        connection = self.archive.connection
        connection.execute(
            "UPDATE segments SET newest = ?, oldest = ?, cursor = ?, bottom = ? WHERE id = ?",
            (segment.newest, segment.oldest, segment.cursor, int(segment.bottom), segment.id),
        )
        connection.execute(
            "UPDATE runs SET added = ?, requests = ?, newest = ?, oldest = ?, "
            "first_seq = COALESCE(first_seq, ?), last_seq = COALESCE(?, last_seq), "
            "head = COALESCE(?, head) WHERE id = ?",
            (
                progress.added,
                progress.requests,
                progress.newest,
                progress.oldest,
                None if last_seq is None else last_seq - added + 1,
                last_seq,
                head,
                progress.run,
            ),
        )
        # Sealed when the batch is committed (`_Writer._commit`), in its transaction.

    def _end(self, outcome: str, error: str | None) -> None:
        with self._writer.write(commit=True) as db:
            db.execute(
                "UPDATE runs SET outcome = ?, ended_at = ?, error = ?, requests = ? WHERE id = ?",
                (outcome, self.now_ms(), error, self.progress.requests, self.progress.run),
            )
            # What the file holds: a batch a failed commit took back is not counted.
            self.progress.added = db.execute(
                "SELECT added FROM runs WHERE id = ?", (self.progress.run,)
            ).fetchone()[0]


def _span(page: Page) -> tuple[int, int]:
    """The oldest and newest `createdAt` on `page` (never empty: an empty page ends the list)."""
    times = [record.created_at for record in page.items]
    return min(times), max(times)


def _later(one: int | None, other: int | None) -> int | None:
    return other if one is None else one if other is None else max(one, other)


def _describe(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, UsageCliError):
        return str(error)
    return f"{type(error).__name__}: {error}"
