"""One list read from both ends at once, for `usage sync`: two chains that stop where they meet.

A cursor chain costs one round trip a page, however fast the client is. The
list can be read in order from either end (`order=desc` and `order=asc`), so
two chains, each on its own connection, cover it in about half the round
trips: the *lead* reads in the query's order, the *trail* from the other
end. Where a page of one holds the record the other read last, they have
met (by id). A sync stores the trail's pages as they come (see
`usage_cli.archive._sync`).

The snapshot: the first page of the `desc` chain is taken before any page of
the `asc` chain, so the `asc` chain always meets records the `desc` chain has
read, and never reads past them: records created later are left to the next
run, as with one chain.

The two orders must be mirror images of each other (the platform's are: both
sort by creation). Where something says otherwise (the chains cross without
sharing a record, the overlap is not the reversed run of what the other read,
the trail ends without meeting, a cursor is not its page's last id), or the
trail fails after its retries (an error of the API's), the trail is dropped
and the lead reads on alone: slower, never wrong. A failure of the lead is
the reader's, as with one chain.
"""

from __future__ import annotations

import itertools
import queue
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from usage_cli.errors import UsageCliError
from usage_cli.query import Order, Query
from usage_cli.reading.chain import END, Chain, Failed, Outbox, next_posted
from usage_cli.reading.cursors import PageSource, cursor_is_last_id, iter_pages
from usage_cli.reading.pace import FAR_END, Pace, Threshold
from usage_cli.records import Page, UsageRecord

OnNote = Callable[[str], None]
MIRROR = "the API's two orders are not mirror images here"
CURSORS = "the API's cursors are not record ids"


class Timed:
    """A page source that times each page it fetches against `threshold` (`pace`)."""

    def __init__(
        self, source: PageSource, threshold: Threshold, clock: Callable[[], float]
    ) -> None:
        self._source = source
        self._clock = clock
        # Written by the one thread that fetches, read by any.
        self.pace = Pace(threshold)

    def fetch_page(self, query: Query, *, cursor: str | None, take: int) -> Page:
        started = self._clock()
        page = self._source.fetch_page(query, cursor=cursor, take=take)
        self.pace.took(self._clock() - started)
        return page


@dataclass
class _Side:
    """One end: its chain, and what the reader has taken from it (its last records)."""

    chain: Chain
    timed: Timed
    order: Order
    recent: deque[tuple[str, int]]
    records: int = 0
    pages: int = 0
    ended: bool = False

    @classmethod
    def reading(
        cls,
        name: str,
        source: PageSource,
        query: Query,
        start: str | None,
        outbox: Outbox,
        clock: Callable[[], float],
    ) -> _Side:
        timed = Timed(source, FAR_END, clock)

        def fetch(cursor: str | None) -> Page:
            return timed.fetch_page(query, cursor=cursor, take=query.take)

        chain = Chain(name, iter_pages(fetch, start), outbox)
        return cls(chain, timed, query.order, deque(maxlen=query.take))

    @property
    def frontier(self) -> tuple[str, int] | None:
        return self.recent[-1] if self.recent else None

    def took(self, records: list[UsageRecord]) -> None:
        self.recent.extend((record.id, record.created_at) for record in records)
        self.records += len(records)
        self.pages += 1


class TwoEnds:
    """Two chains of one list from its two ends, and the rules that say they met.

    The *lead* reads `query` (from `start`, after a cursor of its order); the
    *trail* reads the other order from the far end. The reader takes their
    pages with `next` (the `desc` chain's first before any of the `asc`'s: the
    snapshot), hands each back with `used`, and asks `lead_meets` and
    `trail_page` where each page reaches what the other read. A page that shows
    the two orders disagree, or a trail that fails, drops the trail (`alone`):
    the lead reads on as one chain.
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` times the pages (`when_slow`): seconds, as `time.monotonic` counts."""
        other = Order.asc if query.order is Order.desc else Order.desc
        # The trail begins once the lead's pages come slowly (see `begin`).
        self._when_slow = when_slow and query.order is Order.desc
        self._outbox: Outbox = queue.SimpleQueue()
        self.lead = _Side.reading("lead", lead, query, start, self._outbox, clock)
        trail_query = replace(query, order=other, cursor=None)
        self.trail = _Side.reading("trail", trail, trail_query, None, self._outbox, clock)
        self._on_note = on_note
        self.alone = False  # the trail was dropped: the lead reads on as one chain
        # Pages of the `asc` chain that came before the `desc` chain's first (the snapshot).
        self._held: deque[tuple[Chain, object]] = deque()

    @property
    def _desc(self) -> _Side:
        return self.lead if self.lead.order is Order.desc else self.trail

    @property
    def requests(self) -> int:
        """Requests both chains answered so far, pages read ahead included."""
        return self.lead.timed.pace.pages + self.trail.timed.pace.pages

    def begin(self) -> None:
        """Start the lead, and the trail now or, `when_slow`, once pages come slowly.

        On a fast link (a local server) a second chain saves no round trip
        worth its cost: two connections share the server. So the trail may
        wait until the lead's pages come slowly (`pace.FAR_END`). Only a
        `desc` lead waits: its first page, the snapshot, then comes before
        any of the trail's, as the rule wants.
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
            and lead.timed.pace.slowed
        ):
            trail.begin()

    def stop(self) -> None:
        for side in (self.lead, self.trail):
            side.chain.stop()

    def close(self) -> None:
        self.stop()
        for side in (self.lead, self.trail):
            side.chain.join()

    def next(self) -> tuple[Chain, object]:
        """The next page to use: any chain's, but the `desc` chain's first before the `asc`'s."""
        desc = self._desc
        while True:
            if self._held and (desc.pages or desc.ended or self.alone):
                return self._held.popleft()
            chain, item = next_posted(self._outbox, self._trail_when_slow)
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
        if isinstance(item, Failed):
            raise item.error
        if item is END:
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
        if cut is None and not self.alone and _crossed(page.items, self.trail.frontier, self.lead):
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
        if isinstance(item, Failed):
            if not isinstance(item.error, UsageCliError):
                raise item.error  # Ctrl-C (in a transport) or a bug: not a stream's fault
            self.drop_trail(f"the other end failed ({item.error})")
            return None
        if item is END:
            trail.ended = True
            self.drop_trail("the other end ended without meeting this one")
            return None
        assert isinstance(item, Page)
        if not _cursor_is_last_id(item):
            self.drop_trail(CURSORS)
            return None
        if not _in_time_order(item.items, trail.frontier, trail.order):
            # The meeting is found by reversing one end's run into the
            # other's: only a list in time order reverses into the other order.
            self.drop_trail(MIRROR)
            return None
        cut = self._overlap(item.items, self.lead)
        if self.alone:
            return None
        if cut is None and _crossed(item.items, self.lead.frontier, trail):
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


def _cursor_is_last_id(page: Page) -> bool:
    """Whether the page's cursor is its last record's id, or it has none (the end).

    The ends meet by id, and a sync keeps a cursor of the meeting's records;
    that holds only where the API's cursors are record ids.
    """
    return not page.cursor or cursor_is_last_id(page)


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


def _crossed(items: list[UsageRecord], frontier: tuple[str, int] | None, side: _Side) -> bool:
    """Whether `items` (read by `side`) went past the other chain's last record in time."""
    if frontier is None or not items:
        return False
    last: int = items[-1].created_at
    return last < frontier[1] if side.order is Order.desc else last > frontier[1]
