"""The records of a query, page after page: a window, a limit, and where to go on.

`RecordStream` applies the `createdAt` window (`--since/--until`) and a
record limit on top of `iter_pages`, and knows the exact cursor to continue
from, which callers use without ever handling one.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, replace

from usage_cli.query import Order, Query
from usage_cli.reading.cursors import PageSource, cursor_is_last_id, iter_pages
from usage_cli.records import Page, UsageRecord, mended_records


@dataclass(frozen=True)
class Batch:
    """One page's records that fall in the window; `cursor` continues after them."""

    records: list[UsageRecord]
    cursor: str | None
    # Strings of each record whose lone surrogates became U+FFFD (`RecordStream.exact`);
    # empty when none did.
    mended_each: tuple[int, ...] = ()

    @property
    def mended(self) -> int:
        return sum(self.mended_each)


class RecordStream:
    """Records of a query, optionally at most `limit` of them.

    After iteration, `exhausted` tells whether the list was read to its end (or
    to the edge of the `--since/--until` window), and `next_cursor` is where to
    continue when it was not.

    A lone surrogate in a string (half an emoji, as JavaScript cuts one) becomes
    U+FFFD, so that what is written is valid UTF-8 JSON for every reader;
    `mended` counts the strings changed. `exact` keeps them as the API sent them.
    """

    def __init__(
        self, client: PageSource, query: Query, *, limit: int | None = None, exact: bool = False
    ) -> None:
        self.client = client
        self.query = query
        self.limit = limit
        self.exact = exact
        self.mended = 0
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
                yield self._batch(page, page.items)
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
            yield self._batch(page, kept)
            if stopped or (self.limit is not None and self.records >= self.limit):
                return
        self.exhausted = True
        self.next_cursor = None

    def _batch(self, page: Page, kept: list[UsageRecord]) -> Batch:
        """The kept records as written: mended, unless `exact`, after the cursor is
        known (a cursor is an id as the API sent it), and counted only if kept."""
        if page.odd_text and not self.exact:
            kept, counts = mended_records(kept)
            if any(counts):
                self.mended += sum(counts)
                return Batch(kept, self.next_cursor, tuple(counts))
        return Batch(kept, self.next_cursor)

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
        probe = RecordStream(
            self.client, replace(self.query, cursor=self.next_cursor), limit=1, exact=True
        )
        return any(True for _ in probe)


def _cursor_after(record: UsageRecord, page: Page) -> str | None:
    """The cursor that continues right after `record`, where the server's cursors tell it.

    The platform's cursor is the id of a page's last record; when this server's
    page says so too, a record's own id continues after it. Otherwise there is
    no cursor to offer (never a false one).
    """
    return record.id if cursor_is_last_id(page) else None


def iter_records(
    client: PageSource, query: Query, *, limit: int | None = None, exact: bool = False
) -> RecordStream:
    """Every record of `query` (or the first `limit`), page after page; lone
    surrogates made U+FFFD unless `exact` (see `RecordStream`)."""
    return RecordStream(client, query, limit=limit, exact=exact)
