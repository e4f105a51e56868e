"""Following a list's cursors to its end: where the list ends, and refusing to loop.

`iter_pages` alone decides both, for every reader above it (a stream, a
sync, either end of two).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from typing import Protocol

from usage_cli.errors import CursorLoopError
from usage_cli.query import Query
from usage_cli.reading.chain import read_ahead
from usage_cli.reading.pace import READ_AHEAD, Pace
from usage_cli.records import Page

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

    With `prefetch`, once pages come slowly (`pace.READ_AHEAD`), the next
    page is fetched while the caller works on this one.
    """
    pages = _follow(fetch, start)
    return _read_ahead_when_slow(pages) if prefetch else pages


def cursor_is_last_id(page: Page) -> bool:
    """Whether the page's cursor is its last record's id, as the platform's are.

    Only then does a record's own id continue after it: a limit may cut a page
    at any record, and two ends may meet at one, with a cursor to go on from.
    """
    return bool(page.items) and page.cursor == page.items[-1].id


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


def _read_ahead_when_slow(pages: Iterator[Page]) -> Generator[Page, None, None]:
    """`pages` in this thread while they come fast; through `read_ahead` once they come slowly."""
    pace = Pace(READ_AHEAD)
    while not pace.slowed:
        started = time.monotonic()
        page = next(pages, None)
        if page is None:
            return
        pace.took(time.monotonic() - started)
        yield page
    yield from read_ahead(pages)
