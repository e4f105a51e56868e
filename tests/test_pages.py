from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from usage_cli.errors import CursorLoopError
from usage_cli.query import Order, Query
from usage_cli.reading import RecordStream, iter_pages
from usage_cli.reading.pace import READ_AHEAD
from usage_cli.records import Page


def item(n: int, created: int | None = None) -> dict[str, Any]:
    return {"id": f"r{n}", "type": "T", "count": 1, "createdAt": created or n}


class FakeFetch:
    """Serves scripted pages and records which cursors were asked for."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.asked: list[str | None] = []
        self.threads: list[str] = []  # the thread each page was fetched on

    def __call__(self, cursor: str | None) -> Page:
        import threading

        self.asked.append(cursor)
        self.threads.append(threading.current_thread().name)
        return Page.model_validate(self.pages[len(self.asked) - 1])


def ids(pages: Iterator[Page]) -> list[str]:
    return [record.id for page in pages for record in page.items]


@pytest.mark.parametrize(
    "last",
    [
        {"items": [item(3)]},
        {"items": [item(3)], "cursor": None},
        {"items": [item(3)], "cursor": ""},
    ],
    ids=["absent", "null", "empty"],
)
def test_a_missing_cursor_ends_the_list(last: dict[str, Any]) -> None:
    fetch = FakeFetch([{"items": [item(1), item(2)], "cursor": "c1"}, last])
    assert ids(iter_pages(fetch)) == ["r1", "r2", "r3"]
    assert fetch.asked == [None, "c1"]


def test_an_empty_page_ends_the_list_even_with_a_cursor() -> None:
    fetch = FakeFetch([{"items": [item(1)], "cursor": "c1"}, {"items": [], "cursor": "c2"}])
    assert ids(iter_pages(fetch)) == ["r1"]
    assert fetch.asked == [None, "c1"]


def test_a_short_page_is_not_the_end() -> None:
    fetch = FakeFetch(
        [
            {"items": [item(1)], "cursor": "c1"},
            {"items": [item(2)], "cursor": "c2"},
            {"items": []},
        ]
    )
    assert ids(iter_pages(fetch)) == ["r1", "r2"]
    assert len(fetch.asked) == 3


def test_a_repeated_cursor_is_an_error_not_a_loop() -> None:
    fetch = FakeFetch(
        [
            {"items": [item(1)], "cursor": "c1"},
            {"items": [item(2)], "cursor": "c2"},
            {"items": [item(3)], "cursor": "c1"},
        ]
    )
    pages = iter_pages(fetch)
    with pytest.raises(CursorLoopError, match="c1"):
        list(pages)
    assert len(fetch.asked) == 3


def test_a_cursor_equal_to_the_starting_one_is_a_loop() -> None:
    fetch = FakeFetch([{"items": [item(1)], "cursor": "start"}])
    with pytest.raises(CursorLoopError):
        list(iter_pages(fetch, "start"))


class FakeClient:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.fetch = FakeFetch(pages)
        self.takes: list[int] = []

    def fetch_page(self, query: Query, *, cursor: str | None, take: int) -> Page:
        self.takes.append(take)
        return self.fetch(cursor)


def stream(pages: list[dict[str, Any]], query: Query, limit: int | None = None) -> Any:
    client = FakeClient(pages)
    return client, RecordStream(client, query, limit=limit)


def test_limit_asks_for_no_more_than_it_shows_and_keeps_the_cursor() -> None:
    client, records = stream(
        [{"items": [item(1), item(2)], "cursor": "c1"}, {"items": [item(3)], "cursor": "c2"}],
        Query(take=100),
        limit=3,
    )
    assert [r.id for r in records] == ["r1", "r2", "r3"]
    assert client.takes == [3, 1]
    assert records.next_cursor == "c2"
    assert not records.exhausted


def test_a_server_that_ignores_take_is_cut_without_a_false_cursor() -> None:
    _, records = stream([{"items": [item(1), item(2), item(3)], "cursor": "c1"}], Query(), limit=2)
    assert [r.id for r in records] == ["r1", "r2"]
    assert records.next_cursor is None
    assert records.more_exist()


def ms(day: int) -> int:
    return int(datetime(2026, 1, day, tzinfo=UTC).timestamp() * 1000)


def test_since_stops_early_in_descending_order() -> None:
    query = Query(since=datetime(2026, 1, 5, tzinfo=UTC), until=datetime(2026, 1, 8, tzinfo=UTC))
    client, records = stream(
        [
            {"items": [item(10, ms(10)), item(8, ms(8))], "cursor": "c1"},
            {"items": [item(6, ms(6)), item(5, ms(5))], "cursor": "c2"},
            {"items": [item(4, ms(4)), item(3, ms(3))], "cursor": "c3"},
            {"items": [item(2, ms(2))], "cursor": "c4"},
            {"items": [item(1, ms(1))], "cursor": "c5"},
            {"items": []},
        ],
        query,
    )
    assert [r.id for r in records] == ["r8", "r6", "r5"]
    # Three pages were needed; the prefetcher may have asked for one more, never two.
    assert len(client.takes) <= 4
    assert records.exhausted


def test_until_stops_early_in_ascending_order() -> None:
    query = Query(
        order=Order.asc,
        since=datetime(2026, 1, 3, tzinfo=UTC),
        until=datetime(2026, 1, 4, tzinfo=UTC),
    )
    client, records = stream(
        [
            {"items": [item(2, ms(2)), item(3, ms(3))], "cursor": "c1"},
            {"items": [item(4, ms(4)), item(5, ms(5))], "cursor": "c2"},
            {"items": [item(6, ms(6))], "cursor": "c3"},
            {"items": [item(7, ms(7))], "cursor": "c4"},
            {"items": []},
        ],
        query,
    )
    assert [r.id for r in records] == ["r3", "r4"]
    assert len(client.takes) <= 3


def numbered(count: int) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = [{"items": [item(n)], "cursor": f"c{n}"} for n in range(count)]
    return [*pages, {"items": []}]


def test_prefetching_keeps_order_and_ends_like_the_plain_stream() -> None:
    plain = FakeFetch(numbered(30))
    ahead = FakeFetch(numbered(30))
    assert ids(iter_pages(plain)) == ids(iter_pages(ahead, prefetch=True))
    assert plain.asked == ahead.asked


@pytest.mark.parametrize("slow", [False, True], ids=["fast: this thread", "slow: read ahead"])
def test_prefetching_surfaces_errors_after_the_pages_before_them(slow: bool) -> None:
    # The seventh page hands back the first cursor: a loop, found where the pages are
    # fetched (on the read-ahead thread once pages come slowly), raised to the reader
    # after the six pages before it.
    fetch = (SlowFetch if slow else FakeFetch)(
        [*numbered(6)[:6], {"items": [item(9)], "cursor": "c0"}]
    )
    pages = iter_pages(fetch, prefetch=True)
    seen = [next(pages).items[0].id for _ in range(7)]
    assert seen == ["r0", "r1", "r2", "r3", "r4", "r5", "r9"]
    with pytest.raises(CursorLoopError):
        next(pages)
    assert ("usage-prefetch" in fetch.threads) is slow
    prefetch_threads_ended()


def prefetch_threads_ended() -> None:
    """Every read-ahead thread has ended (waited for, not slept on: no timing to lose)."""
    import threading

    for thread in threading.enumerate():
        if thread.name == "usage-prefetch":
            thread.join(10)
            assert not thread.is_alive()


def test_fast_pages_are_read_in_this_thread_and_stop_with_the_consumer() -> None:
    fetch = FakeFetch(numbered(1000))
    pages = iter_pages(fetch, prefetch=True)
    assert next(pages).items[0].id == "r0"
    pages.close()
    assert len(fetch.asked) == 1  # nothing read ahead
    assert "usage-prefetch" not in fetch.threads


def test_records_skipped_outside_the_window_are_read_in_full_pages() -> None:
    query = Query(until=datetime(2026, 1, 3, tzinfo=UTC), take=100)
    newer = [{"items": [item(n, ms(10))], "cursor": f"r{n}"} for n in range(20, 30)]
    client, records = stream(
        [*newer, {"items": [item(2, ms(2)), item(1, ms(1))], "cursor": "r1"}, {"items": []}],
        query,
        limit=1,
    )
    assert [r.id for r in records] == ["r2"]
    # Full pages while skipping; the limit shrinks nothing until a record is kept.
    assert client.takes == [100] * 11


def test_a_page_cut_by_the_limit_continues_after_the_last_shown_when_cursors_are_ids() -> None:
    _, records = stream([{"items": [item(1), item(2), item(3)], "cursor": "r3"}], Query(), limit=2)
    assert [r.id for r in records] == ["r1", "r2"]
    assert records.next_cursor == "r2"
    assert records.more_exist()


class SlowFetch(FakeFetch):
    """Pages that take longer than `READ_AHEAD` allows: the thread takes over the chain."""

    def __call__(self, cursor: str | None) -> Page:
        import time

        time.sleep(READ_AHEAD.seconds * 1.5)
        return super().__call__(cursor)


def test_slow_pages_are_fetched_ahead_by_a_thread_in_order() -> None:
    import threading

    plain = FakeFetch(numbered(12))
    slow = SlowFetch(numbered(12))
    seen: list[str] = []
    threads: set[str] = set()
    for page in iter_pages(slow, prefetch=True):
        seen.append(page.items[0].id)
        threads.update(thread.name for thread in threading.enumerate())
    assert seen == ids(iter_pages(plain))
    assert plain.asked == slow.asked
    assert "usage-prefetch" in threads
    assert "usage-prefetch" in slow.threads


def test_slow_pages_stop_being_fetched_when_the_consumer_stops() -> None:
    fetch = SlowFetch(numbered(1000))
    pages = iter_pages(fetch, prefetch=True)
    for _ in range(6):  # past the pages read before the thread starts
        next(pages)
    pages.close()
    prefetch_threads_ended()
    assert len(fetch.asked) <= 6 + 2  # at most two pages read ahead, never used
