"""Cursor pages and the records in them; callers never handle a cursor.

`iter_pages` alone decides where the list ends and refuses to loop.
`RecordStream` applies the `createdAt` window and a record limit on top, and
knows the cursor to continue from.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Protocol

from usage_cli.errors import CursorLoopError
from usage_cli.query import Order, Query
from usage_cli.records import Page, UsageRecord

Fetch = Callable[[str | None], Page]


class PageSource(Protocol):
    """What answers the list endpoint: the API's `Client`, or an archive's reader."""

    def fetch_page(self, query: Query, *, cursor: str | None, take: int) -> Page:
        """One page of `query`'s records, after `cursor` (the list's head when None)."""
        ...


def iter_pages(
    fetch: Fetch, start: str | None = None, *, prefetch: bool = False
) -> Generator[Page, None, None]:
    """Follow cursors from `start` until the end of the list.

    The end is an empty page or an absent/null/empty cursor. A short page is
    not the end: servers may cap `take` silently. A cursor seen before means
    the server is looping, which is an error rather than an endless stream.

    With `prefetch`, once the server is found slow to answer, the next page
    is fetched while the caller works on this one (cursor pages form a strict
    chain, so one page ahead is all the overlap there is).
    """
    pages = _follow(fetch, start)
    return _prefetched_when_slow(pages) if prefetch else pages


# A page that takes longer than this to arrive is waiting on the network or
# the server, which a second thread can overlap with the caller's work. Faster
# than this (a local server), the thread's hand-offs and GIL switches cost
# more than they overlap: measured 0.8x the wall time without the thread at
# 50k records on loopback, and no worse at 20 ms or 50 ms a page.
SLOW_PAGE = 0.005  # seconds
SLOW_PAGES = 2  # in a row, after the first (which also connects), before the thread starts


class Pace:
    """How many of the last pages in a row took over `threshold` seconds to come.

    The first page is never counted: it also connects.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.pages = 0
        self.slow = 0

    def took(self, seconds: float) -> None:
        if self.pages:
            self.slow = self.slow + 1 if seconds > self.threshold else 0
        self.pages += 1

    @property
    def slowed(self) -> bool:
        """`SLOW_PAGES` pages in a row came slowly."""
        return self.slow >= SLOW_PAGES


def _prefetched_when_slow(pages: Iterator[Page]) -> Generator[Page, None, None]:
    """`pages` in this thread while they come fast; `_prefetched` once they come slowly."""
    pace = Pace(SLOW_PAGE)
    while not pace.slowed:
        started = time.monotonic()
        page = next(pages, None)
        if page is None:
            return
        pace.took(time.monotonic() - started)
        yield page
    yield from _prefetched(pages)


def _follow(fetch: Fetch, start: str | None) -> Generator[Page, None, None]:
    seen: set[str] = {start} if start else set()
    cursor = start
    while True:
        page = fetch(cursor)
        if page.items:
            yield page
        if not page.items or not page.cursor:
            return
        if page.cursor in seen:
            raise CursorLoopError(
                f"the API returned cursor {page.cursor!r} a second time; stopping rather than "
                "looping",
                hint="this is a server fault; retry later or report it",
            )
        seen.add(page.cursor)
        cursor = page.cursor


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()
_POLL = 0.1  # seconds: how soon either side notices the other has stopped
_JOIN = 0.25  # seconds a stopping consumer waits for the producer's request in flight


def _prefetched(pages: Iterator[Page]) -> Generator[Page, None, None]:
    """`pages`, each fetched by a background thread while the caller uses the one before.

    At most two pages ahead: the next request starts as soon as a page has
    come in, unless the caller has not yet taken the one before it (waiting
    for the caller to take each page put a thread hand-off, about a
    millisecond, between every two requests of the chain). Stopping early
    costs at most two extra requests; memory holds at most three pages.
    Order is kept (one producer, a FIFO hand-off). A failure in the producer is
    raised in the consumer right after the pages before it; when the consumer
    stops (an error, Ctrl-C, a closed pipe), the producer stops too.
    """
    handoff: queue.Queue[object] = queue.Queue(maxsize=1)
    may_fetch = threading.Semaphore(2)  # released each time the consumer takes a page
    stopped = threading.Event()

    def wait_for(acquire: Callable[[float], bool]) -> bool:
        while not stopped.is_set():
            if acquire(_POLL):
                return True
        return False

    def offer(item: object) -> bool:
        def put(timeout: float) -> bool:
            try:
                handoff.put(item, timeout=timeout)
            except queue.Full:
                return False
            return True

        return wait_for(put)

    def produce() -> None:
        try:
            while wait_for(lambda timeout: may_fetch.acquire(timeout=timeout)):
                page = next(pages, _END)
                if not offer(page) or page is _END:
                    return
        except BaseException as error:
            offer(_Failed(error))

    producer = threading.Thread(target=produce, name="usage-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            try:
                item = handoff.get(timeout=_POLL)
            except queue.Empty:
                continue
            may_fetch.release()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stopped.set()
        # Let a request already in flight finish, so that none is still running
        # when the caller closes the client; bounded, so Ctrl-C stays prompt.
        producer.join(_JOIN)


@dataclass(frozen=True)
class Batch:
    """One page's records that fall in the window; `cursor` continues after them."""

    records: list[UsageRecord]
    cursor: str | None


class RecordStream:
    """Records of a query, optionally at most `limit` of them.

    After iteration, `exhausted` tells whether the list was read to its end (or
    to the edge of the `--since/--until` window), and `next_cursor` is where to
    continue when it was not.
    """

    def __init__(self, client: PageSource, query: Query, *, limit: int | None = None) -> None:
        self.client = client
        self.query = query
        self.limit = limit
        self.records = 0
        self.exhausted = False
        self.next_cursor: str | None = query.cursor
        self.cut_mid_page = False
        # Whether the first records may fall outside the window and be skipped:
        # until one is kept, every request asks for a full page.
        edge = query.until if query.order is Order.desc else query.since
        self._skipping = edge is not None

    def _take(self) -> int:
        if self.limit is None or self._skipping:
            # Each request counts against the API's per-minute window: skipping
            # in small pages would spend it on records nobody sees.
            return self.query.take
        # Never ask for more than we will show, so a page's cursor is exactly
        # where the next invocation should continue.
        return max(1, min(self.query.take, self.limit - self.records))

    def _fetch(self, cursor: str | None) -> Page:
        return self.client.fetch_page(self.query, cursor=cursor, take=self._take())

    def _position(self, record: UsageRecord) -> int:
        """-1: before the window (skip), 0: inside, 1: past it (stop)."""
        created, since, until = record.created_at, self.query.since_ms, self.query.until_ms
        before = since is not None and created < since
        after = until is not None and created > until
        if self.query.order is Order.desc:
            return 1 if before else (-1 if after else 0)
        return 1 if after else (-1 if before else 0)

    def batches(self) -> Generator[Batch, None, None]:
        """The kept records of each page, with the cursor to continue after them."""
        # Without a limit every page will be read: fetch the next while this one is used.
        pages = iter_pages(self._fetch, self.query.cursor, prefetch=self.limit is None)
        with closing(pages):
            yield from self._kept(pages)

    def _kept(self, pages: Iterator[Page]) -> Iterator[Batch]:
        # No window and no limit (a full export): every record is kept, so no
        # record needs looking at here.
        everything = self.limit is None and self.query.since is None and self.query.until is None
        for page in pages:
            if everything:
                self.records += len(page.items)
                self.next_cursor = page.cursor or None
                yield Batch(page.items, self.next_cursor)
                continue
            kept: list[UsageRecord] = []
            stopped = False
            for record in page.items:
                position = self._position(record)
                if position > 0:
                    self.exhausted = stopped = True
                    break
                if position < 0:
                    continue
                if self.limit is not None and self.records >= self.limit:
                    # More came than we show (a full page while skipping, or a
                    # server that ignores take): more exist, after the last kept.
                    self.cut_mid_page = stopped = True
                    break
                self.records += 1
                self._skipping = False
                kept.append(record)
            if self.cut_mid_page:
                self.next_cursor = _cursor_after(kept[-1], page) if kept else None
            else:
                self.next_cursor = None if stopped else (page.cursor or None)
            yield Batch(kept, self.next_cursor)
            if stopped or (self.limit is not None and self.records >= self.limit):
                return
        self.exhausted = True
        self.next_cursor = None

    def __iter__(self) -> Iterator[UsageRecord]:
        for batch in self.batches():
            yield from batch.records

    def more_exist(self) -> bool:
        """Whether records beyond those read exist (one small request to find out)."""
        if self.exhausted:
            return False
        if self.cut_mid_page:
            return True
        if not self.next_cursor:
            return False
        probe = RecordStream(self.client, replace(self.query, cursor=self.next_cursor), limit=1)
        return any(True for _ in probe)


def _cursor_after(record: UsageRecord, page: Page) -> str | None:
    """The cursor that continues right after `record`, where the server's cursors tell it.

    The platform's cursor is the id of a page's last record; when this server's
    page says so too, a record's own id continues after it. Otherwise there is
    no cursor to offer (never a false one).
    """
    return record.id if page.items and page.cursor == page.items[-1].id else None


def iter_records(client: PageSource, query: Query, *, limit: int | None = None) -> RecordStream:
    """Every record of `query` (or the first `limit`), page after page."""
    return RecordStream(client, query, limit=limit)


class Follower:
    """The records of a query as they appear, oldest first: `usage list --follow`.

    Each `poll` reads the newest page (and the pages after it, while every
    record on them is new) and returns the records not returned before. The
    first poll is a baseline: what already exists is skipped, unless a start
    time is given (`--since`), when everything from then on is returned. Ids
    are remembered only for an hour behind the newest record seen, so memory
    stays flat over idle days.
    """

    FORGET_AFTER_MS = 3_600_000

    def __init__(self, client: PageSource, query: Query, *, since_ms: int | None = None) -> None:
        self.client = client
        # Newest first, whatever the user's order: new records are on the first page.
        self.query = replace(query, order=Order.desc, cursor=None, since=None, until=None)
        self._since_ms = since_ms
        self._seen: dict[str, int] = {}
        self._started = since_ms is not None

    def backlog(self, last: int) -> list[UsageRecord]:
        """The newest `last` records, oldest first; later polls return only newer ones."""
        shown = list(RecordStream(self.client, self.query, limit=last))
        self._remember(shown)
        if shown:
            self._since_ms = min(record.created_at for record in shown)
        self._started = True
        return shown[::-1]

    def poll(self) -> list[UsageRecord]:
        """Records that appeared since the last poll, oldest first."""
        if not self._started:
            # The baseline: what exists now is history, not news. Its newest
            # page is enough; new records come before it.
            page = self.client.fetch_page(self.query, cursor=None, take=self.query.take)
            self._remember(page.items)
            self._since_ms = max((record.created_at for record in page.items), default=None)
            self._started = True
            return []
        fresh: list[UsageRecord] = []
        this_poll: set[str] = set()
        cursor: str | None = None
        while True:
            page = self.client.fetch_page(self.query, cursor=cursor, take=self.query.take)
            # Ids of this poll are checked too: a server that hands a page back
            # twice (a cursor loop) then yields nothing new, and the poll ends.
            new = [r for r in page.items if self._is_new(r) and r.id not in this_poll]
            this_poll.update(record.id for record in new)
            fresh += new
            # A record seen before, or one older than the start, means the rest
            # of the list was read already: stop there.
            if len(new) < len(page.items) or not page.items or not page.cursor:
                break
            cursor = page.cursor
        # Only now: a poll cut short by a fault forgets nothing it did not print.
        self._remember(fresh)
        return fresh[::-1]

    def _is_new(self, record: UsageRecord) -> bool:
        if record.id in self._seen:
            return False
        return self._since_ms is None or record.created_at >= self._since_ms

    def _remember(self, records: list[UsageRecord]) -> None:
        for record in records:
            self._seen[record.id] = record.created_at
        if len(self._seen) > 10_000:
            horizon = max(self._seen.values()) - self.FORGET_AFTER_MS
            self._seen = {key: ms for key, ms in self._seen.items() if ms >= horizon}
            self._since_ms = max(self._since_ms or horizon, horizon)
