"""One list read from both ends at once: two cursor chains that stop where they meet.

A cursor chain costs one round trip a page, however fast the client is. The
list can be read in order from either end (`order=desc` and `order=asc`), so
two chains, each on its own connection, cover it in about half the round
trips: the *lead* reads in the order the caller wants, and its pages are
handed on as they come, exactly the pages one chain would have given; the
*trail* reads from the other end, and its pages are spilled to a temporary
file. Where a page of one holds the record the other read last, they have
met: the overlap is dropped (by id), and the spilled pages follow the lead's,
reversed, cut into the lead's page size, so that the batches are the very
ones a single chain yields (same records, same order, same page boundaries).

The snapshot: the first page of the `desc` chain is taken before any page of
the `asc` chain, so the `asc` chain always meets records the `desc` chain has
read, and never reads past them. A list read newest first therefore holds
exactly the records up to the newest one of that first `desc` page, as one
chain would; records created later are not read at all, never half read.

The two orders must be mirror images of each other (the platform's are: both
sort by creation). Where something says otherwise (the chains cross without
sharing a record, the overlap is not the reversed run of what the other read,
the trail ends without meeting, a cursor is not its page's last id), or the
trail fails after its retries (an error of the API's), the trail is dropped with its spill and the
lead reads on alone: slower, never wrong. A failure of the lead is the
export's, as with one chain.

`TwoEnds` is the part `usage sync` shares: the two chains, the snapshot and
the meeting rules, without the spill (a sync stores the trail's pages as
they come, see `usage_cli.archive._sync`).
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from usage_cli._files import reason
from usage_cli.errors import UsageCliError
from usage_cli.pages import Batch, Pace, PageSource, RecordStream, iter_pages
from usage_cli.query import Order, Query
from usage_cli.records import Page, UsageRecord

AHEAD = 2  # pages a chain may fetch before they are used: enough to hide a hand-off
# A page slower than this, twice in a row, begins the far end (`when_slow`). Above
# the prefetch's SLOW_PAGE: a local server's pages, fetched while the reader
# validates and writes on two busy cores, often take 5-10 ms, and a second
# connection there costs more than it saves; at 20 ms a page it halves the time.
TRAIL_SLOW_PAGE = 0.015  # seconds
_POLL = 0.1  # seconds: how soon a stop is noticed (and Ctrl-C, on the main thread)
_JOIN = 0.25  # seconds a stopping reader waits for a chain's request in flight

OnNote = Callable[[str], None]
OnAside = Callable[[int, int], None]  # records, pages
MIRROR = "the API's two orders are not mirror images here"
CURSORS = "the API's cursors are not record ids"


def one_chain_reason(query: Query) -> str | None:
    """Why `query` cannot be read from both ends (None when it can).

    A `--since/--until` window is applied to the records as they come, not by
    the API: the far end of the list is outside it, and a chain from there
    would read records nobody keeps. A start cursor leaves no far end to read.
    """
    if query.since is not None or query.until is not None:
        return "a --since/--until window"
    if query.cursor:
        return "a start cursor"
    return None


def meet_batches(
    lead: PageSource,
    trail: Callable[[], PageSource],
    query: Query,
    *,
    start: str | None = None,
    spill_dir: Path | None = None,
    on_note: OnNote | None = None,
    when_slow: bool = False,
    on_aside: OnAside | None = None,
) -> Generator[Batch, None, None]:
    """Every record of `query` in its order, as the batches one chain would give.

    `lead` and the client `trail` opens (when it is needed) answer the same API
    on their own connections. `start` continues after a cursor of `query`'s
    order (a resumed export): the trail still starts at the far end.
    `spill_dir` holds the trail's spill (the target's folder: a large export's
    half should not land in a RAM-backed /tmp). `on_note` hears why the trail
    was dropped, when it is; `on_aside` hears how many records (and pages) of
    the far end are read and set aside, not yet given, each time that changes.

    `when_slow` reads one chain, in this thread, as `--streams 1` does, until
    its pages come slowly (`PaceWatch`), and only then goes on from both ends,
    after the last page it gave: on a fast link one chain is the faster (no
    thread, no second connection).
    """
    if one_chain_reason(query) is not None:
        raise ValueError(f"cannot read from both ends with {one_chain_reason(query)}")
    given: list[UsageRecord] = []
    if when_slow:
        watch = PaceWatch(lead)
        one = RecordStream(watch, replace(query, cursor=start))
        with contextlib.closing(one.batches()) as batches:
            for batch in batches:
                yield batch
                if watch.pace.slowed and batch.cursor:
                    # Up to two pages already read ahead are asked for again.
                    start, given = batch.cursor, batch.records
                    break
            else:
                return  # read to the end as one chain
    meeting = _Meeting(
        lead, trail(), query, start, spill_dir, on_note, given=given, on_aside=on_aside
    )
    try:
        yield from meeting.batches()
    finally:
        meeting.close()


class PaceWatch:
    """A page source that times its pages against `TRAIL_SLOW_PAGE`: whether a
    second chain would pay."""

    def __init__(self, source: PageSource) -> None:
        self._source = source
        # Written by the one thread that fetches, read by any.
        self.pace = Pace(TRAIL_SLOW_PAGE)

    def fetch_page(self, query: Query, *, cursor: str | None, take: int) -> Page:
        started = time.monotonic()
        page = self._source.fetch_page(query, cursor=cursor, take=take)
        self.pace.took(time.monotonic() - started)
        return page


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


class _Chain:
    """One cursor chain on its own thread, at most AHEAD pages ahead of its reader."""

    def __init__(
        self,
        name: str,
        source: PageSource,
        query: Query,
        start: str | None,
        outbox: queue.Queue[tuple[_Chain, object]],
    ) -> None:
        self.name = name
        self.order = query.order
        self._source = PaceWatch(source)
        self._query = query
        self._start = start
        self._outbox = outbox
        self._credit = threading.Semaphore(AHEAD)
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"usage-{name}", daemon=True)

    @property
    def fetched(self) -> int:
        """Requests answered so far."""
        return self._source.pace.pages

    @property
    def slowed(self) -> bool:
        """Its pages come slowly (see `PaceWatch`)."""
        return self._source.pace.slowed

    @property
    def begun(self) -> bool:
        return self._thread.ident is not None

    def begin(self) -> None:
        self._thread.start()

    def used(self) -> None:
        """The reader took one of this chain's pages: it may fetch one more."""
        self._credit.release()

    def stop(self) -> None:
        self.stopped.set()
        # Wakes a chain waiting for credit now, not at its next poll: the
        # export's end waits for it.
        self._credit.release()

    def join(self) -> None:
        if self.begun:
            # Let a request in flight end before the caller closes the client;
            # bounded, so that Ctrl-C stays prompt.
            self._thread.join(_JOIN)

    def _fetch(self, cursor: str | None) -> Page:
        return self._source.fetch_page(self._query, cursor=cursor, take=self._query.take)

    def _run(self) -> None:
        pages = iter_pages(self._fetch, self._start)
        try:
            while self._may_fetch():
                page = next(pages, None)
                if self.stopped.is_set():
                    return
                self._outbox.put((self, _END if page is None else page))
                if page is None:
                    return
        except BaseException as error:
            self._outbox.put((self, _Failed(error)))
        finally:
            pages.close()

    def _may_fetch(self) -> bool:
        while not self.stopped.is_set():
            if self._credit.acquire(timeout=_POLL):
                return not self.stopped.is_set()
        return False


@dataclass
class _Side:
    """What the reader has taken from one chain: its last records (ids and times)."""

    chain: _Chain
    recent: deque[tuple[str, int]]
    records: int = 0
    pages: int = 0
    ended: bool = False

    @property
    def frontier(self) -> tuple[str, int] | None:
        return self.recent[-1] if self.recent else None

    def took(self, records: list[UsageRecord]) -> None:
        self.recent.extend((record.id, record.created_at) for record in records)
        self.records += len(records)
        self.pages += 1


@dataclass
class _Spill:
    """The trail's pages in a temporary file, read back last page first, each reversed.

    Pickle, because the file is this process's own, unnamed (gone when closed)
    and read back by the same code: it keeps each record exactly, unknown
    fields and odd strings included, at a fraction of JSON's cost.
    """

    directory: Path | None
    _file: IO[bytes] | None = None
    _offsets: list[int] = field(default_factory=list)
    _size: int = 0
    records: int = 0  # set aside so far

    @property
    def pages(self) -> int:
        return len(self._offsets)

    def add(self, records: list[UsageRecord]) -> None:
        """Append one page's records; OSError (a full disk) here, not at a later flush."""
        if not records:
            return
        import pickle  # imported by the first spill: a fast export never spills

        if self._file is None:
            import tempfile

            # Owned by the spill, closed by `close`.
            self._file = tempfile.TemporaryFile(prefix=".usage-spill-", dir=self.directory)  # noqa: SIM115
        data = pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
        self._offsets.append(self._size)
        self._file.write(data)
        self._file.flush()
        self._size += len(data)
        self.records += len(records)

    def reversed_records(self) -> Iterator[UsageRecord]:
        if self._file is None:
            return
        import pickle

        for offset in reversed(self._offsets):
            self._file.seek(offset)
            records: list[UsageRecord] = pickle.load(self._file)
            yield from reversed(records)

    def close(self) -> None:
        if self._file is not None:
            # Thrown away: a write that failed fails again in the flush, and says nothing new.
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        self._offsets.clear()
        self._size = 0
        self.records = 0


class TwoEnds:
    """Two chains of one list from its two ends, and the rules that say they met.

    The *lead* reads `query` (from `start`, after a cursor of its order); the
    *trail* reads the other order from the far end. The reader takes their
    pages with `next` (the `desc` chain's first before any of the `asc`'s: the
    snapshot), hands each back with `used`, and asks `lead_meets` and
    `trail_page` where each page reaches what the other read. A page that shows
    the two orders disagree, or a trail that fails, drops the trail (`alone`):
    the lead reads on as one chain. `export` spills the trail's pages and
    replays them; `sync` stores them as they come.
    """

    def __init__(
        self,
        lead: PageSource,
        trail: PageSource,
        query: Query,
        start: str | None,
        on_note: OnNote | None,
        *,
        when_slow: bool = False,
    ) -> None:
        other = Order.asc if query.order is Order.desc else Order.desc
        # The trail begins once the lead's pages come slowly (see `begin`).
        self._when_slow = when_slow and query.order is Order.desc
        self._outbox: queue.Queue[tuple[_Chain, object]] = queue.Queue()
        self.lead = _Side(
            _Chain("lead", lead, query, start, self._outbox), deque(maxlen=query.take)
        )
        trail_query = replace(query, order=other, cursor=None)
        self.trail = _Side(
            _Chain("trail", trail, trail_query, None, self._outbox), deque(maxlen=query.take)
        )
        self._on_note = on_note
        self.alone = False  # the trail was dropped: the lead reads on as one chain
        # Pages of the `asc` chain that came before the `desc` chain's first (the snapshot).
        self._held: deque[tuple[_Chain, object]] = deque()

    @property
    def _desc(self) -> _Side:
        return self.lead if self.lead.chain.order is Order.desc else self.trail

    @property
    def requests(self) -> int:
        """Requests both chains answered so far, pages read ahead included."""
        return self.lead.chain.fetched + self.trail.chain.fetched

    def begin(self) -> None:
        """Start the lead, and the trail now or, `when_slow`, once pages come slowly.

        On a fast link (a local server) a second chain saves no round trip
        worth its cost: two connections share the server, and the trail's
        pages are handled twice. So the trail may wait (sync's default) until
        the lead's pages come slowly (`PaceWatch`). Only a `desc` lead waits:
        its first page, the snapshot, then comes before any of the trail's, as
        the rule wants. (An export's default reads one chain in its own thread
        first instead: see `meet_batches`.)
        """
        self.lead.chain.begin()
        if not self._when_slow:
            self.trail.chain.begin()

    def _trail_when_slow(self) -> None:
        trail, lead = self.trail.chain, self.lead
        if (
            self._when_slow
            and not trail.begun
            and not self.alone
            and not lead.ended
            and lead.chain.slowed
        ):
            trail.begin()

    def stop(self) -> None:
        for side in (self.lead, self.trail):
            side.chain.stop()

    def close(self) -> None:
        self.stop()
        for side in (self.lead, self.trail):
            side.chain.join()

    def next(self) -> tuple[_Chain, object]:
        """The next page to use: any chain's, but the `desc` chain's first before the `asc`'s."""
        desc = self._desc
        while True:
            self._trail_when_slow()
            if self._held and (desc.pages or desc.ended or self.alone):
                return self._held.popleft()
            try:
                chain, item = self._outbox.get(timeout=_POLL)
            except queue.Empty:
                continue
            if chain is desc.chain:
                if not isinstance(item, Page):
                    desc.ended = True
                return chain, item
            if desc.pages or desc.ended or self.alone:
                return chain, item
            self._held.append((chain, item))

    def drop_trail(self, why: str) -> None:
        self.trail.chain.stop()
        self.alone = True
        if self._on_note is not None:
            self._on_note(f"reading from one end only: {why}")

    def lead_page(self, item: object) -> Page | None:
        """The lead's page (None: the end of the list); a failure of the lead is the reader's."""
        if isinstance(item, _Failed):
            raise item.error
        if item is _END:
            return None
        assert isinstance(item, Page)
        return item

    def lead_meets(self, page: Page) -> int | None:
        """Where the lead's `page` reaches the trail's records: the first one's index, or None.

        A page that shows the orders disagree drops the trail (and is None).
        The lead's records before the meeting count as taken; after it, the
        trail's own follow.
        """
        if self.alone:
            self.lead.took(page.items)
            return None
        if not _cursor_is_last_id(page):
            self.drop_trail(CURSORS)
            return self.lead_meets(page)
        cut = self._overlap(page.items, self.trail)
        if (
            cut is None
            and not self.alone
            and _crossed(page.items, self.trail.frontier, self.lead.chain.order)
        ):
            self.drop_trail(MIRROR)
        self.lead.took(page.items if cut is None else page.items[:cut])
        return cut

    def trail_page(self, item: object) -> tuple[Page, int | None] | None:
        """The trail's page and where it reaches the lead's records (as `lead_meets`).

        None when there is none to use: the trail was dropped, now or before.
        """
        if self.alone:
            return None
        trail = self.trail
        if isinstance(item, _Failed):
            if not isinstance(item.error, UsageCliError):
                raise item.error  # Ctrl-C (in a transport) or a bug: not a stream's fault
            self.drop_trail(f"the other end failed ({item.error})")
            return None
        if item is _END:
            trail.ended = True
            self.drop_trail("the other end ended without meeting this one")
            return None
        assert isinstance(item, Page)
        if not _cursor_is_last_id(item):
            self.drop_trail(CURSORS)
            return None
        if not _in_time_order(item.items, trail.frontier, trail.chain.order):
            # Its records go out reversed: only a list in time order reverses
            # into the other order's.
            self.drop_trail(MIRROR)
            return None
        cut = self._overlap(item.items, self.lead)
        if self.alone:
            return None
        if cut is None and _crossed(item.items, self.lead.frontier, trail.chain.order):
            self.drop_trail(MIRROR)
            return None
        trail.took(item.items if cut is None else item.items[:cut])
        return item, cut

    def _overlap(self, items: list[UsageRecord], other: _Side) -> int | None:
        """Where `items` meet what `other` read (see `_overlap`); a mismatch drops the trail."""
        try:
            return _overlap(items, other.recent)
        except _Mismatch:
            self.drop_trail(MIRROR)
            return None


class _Meeting(TwoEnds):
    def __init__(
        self,
        lead: PageSource,
        trail: PageSource,
        query: Query,
        start: str | None,
        spill_dir: Path | None,
        on_note: OnNote | None,
        *,
        given: list[UsageRecord] | None = None,
        on_aside: OnAside | None = None,
    ) -> None:
        super().__init__(lead, trail, query, start, on_note)
        self._on_aside = on_aside
        # The last records given before `start` (one chain read them): where
        # the trail reaches them, it has met the lead, though the lead's own
        # chain never showed them. Its pages, and so the snapshot, are untouched.
        self.lead.recent.extend((record.id, record.created_at) for record in given or ())
        self._start = start
        self._spill = _Spill(spill_dir)
        self._page_size = 1

    def close(self) -> None:
        super().close()
        self._spill.close()

    def drop_trail(self, why: str) -> None:
        self._spill.close()
        self._aside(0, 0)
        super().drop_trail(why)

    def _aside(self, records: int, pages: int) -> None:
        if self._on_aside is not None:
            self._on_aside(records, pages)

    def batches(self) -> Iterator[Batch]:
        self.begin()
        while True:
            chain, item = self.next()
            chain.used()
            if chain is self.lead.chain:
                page = self.lead_page(item)
                if page is None:
                    return  # the lead read to the end: all it gave is all there is
                met = yield from self._lead_page(page)
            else:
                met = yield from self._trail_item(item)
            if met:
                return

    def _lead_page(self, page: Page) -> Generator[Batch, None, bool]:
        self._page_size = max(self._page_size, len(page.items))
        cut = self.lead_meets(page)
        if cut is None:
            yield Batch(page.items, page.cursor or None)
            return False
        yield from self._replay(page.items[:cut])
        return True

    def _trail_item(self, item: object) -> Generator[Batch, None, bool]:
        if item is _END and not self.alone and not self.lead.pages and self._start is None:
            # The trail read the whole list before the lead's first page came.
            self.trail.ended = True
            yield from self._replay([])
            return True
        if isinstance(item, Page):
            self._page_size = max(self._page_size, len(item.items))
        met = self.trail_page(item)
        if met is None:
            return False
        page, cut = met
        if not self._keep(page.items if cut is None else page.items[:cut]) or cut is None:
            return False
        yield from self._replay([])
        return True

    def _keep(self, records: list[UsageRecord]) -> bool:
        """Spill the trail's `records`; a spill that cannot be written drops the trail."""
        try:
            self._spill.add(records)
            self._aside(self._spill.records, self._spill.pages)
        except OSError as exc:
            # A full disk or a file-size limit: the lead's own writing will
            # meet it too, and say so about the export's own file.
            self.drop_trail(f"the other end's records cannot be set aside ({reason(exc)})")
            return False
        return True

    def _replay(self, head: list[UsageRecord]) -> Iterator[Batch]:
        """`head`, then the spill reversed, cut where one chain's pages would have been cut."""
        self.stop()
        size = self._page_size
        chunk = list(head)
        ready: list[UsageRecord] | None = None
        left = self._spill.records + len(head)  # still to give, `ready` included

        def given(batch: list[UsageRecord]) -> None:
            nonlocal left
            left -= len(batch)
            self._aside(left, -(-left // size))

        for record in self._spill.reversed_records():
            chunk.append(record)
            if len(chunk) == size:
                if ready is not None:
                    given(ready)
                    yield Batch(ready, ready[-1].id)
                ready, chunk = chunk, []
        if chunk:
            if ready is not None:
                given(ready)
                yield Batch(ready, ready[-1].id)
            ready = chunk
        if ready is not None:
            given(ready)
            # The far end of the list (or of the snapshot): nothing follows.
            yield Batch(ready, None)


def _cursor_is_last_id(page: Page) -> bool:
    """Whether the page's cursor is its last record's id (or it has none: the end).

    The spill's records go out in batches whose cursors are record ids; that
    is only true where the API's cursors are.
    """
    return not page.cursor or (bool(page.items) and page.cursor == page.items[-1].id)


def _overlap(items: list[UsageRecord], other: deque[tuple[str, int]]) -> int | None:
    """Where `items` reach the records the other chain read: the index of the first, or None.

    Meeting means the page reaches the other chain's last record and, after
    it, runs back over that chain's records in reverse. Anything else that
    shares an id is a disagreement of the two orders: `_Mismatch`.
    """
    if not other:
        return None
    seen = {record_id for record_id, _ in other}
    first = next((i for i, record in enumerate(items) if record.id in seen), None)
    if first is None:
        return None
    back = list(other)
    for step, record in enumerate(items[first:]):
        if step >= len(back) or record.id != back[-1 - step][0]:
            raise _Mismatch
    return first


class _Mismatch(Exception):
    """The chains share records, but not as two ends of one list meeting."""


def _in_time_order(
    items: list[UsageRecord], frontier: tuple[str, int] | None, order: Order
) -> bool:
    """Whether `items`, after `frontier`, are in `order` by creation time (ties allowed)."""
    times: list[int] = [] if frontier is None else [frontier[1]]
    times += [record.created_at for record in items]
    if order is Order.desc:
        return all(a >= b for a, b in itertools.pairwise(times))
    return all(a <= b for a, b in itertools.pairwise(times))


def _crossed(items: list[UsageRecord], frontier: tuple[str, int] | None, order: Order) -> bool:
    """Whether `items` (read in `order`) went past the other chain's last record in time."""
    if frontier is None or not items:
        return False
    last: int = items[-1].created_at
    return last < frontier[1] if order is Order.desc else last > frontier[1]
