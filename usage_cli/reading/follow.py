"""`usage list --follow`: the records of a query as they appear."""

from __future__ import annotations

from dataclasses import replace

from usage_cli.query import Order, Query
from usage_cli.reading.cursors import PageSource
from usage_cli.reading.stream import RecordStream
from usage_cli.records import UsageRecord, mended_records


class Follower:
    """The records of a query as they appear, oldest first: `usage list --follow`.

    Each `poll` reads the newest page (and the pages after it, while every
    record on them is new) and returns the records not returned before. The
    first poll is a baseline: what already exists is skipped, unless a start
    time is given (`--since`), when everything from then on is returned. Ids
    are remembered only for an hour behind the newest record seen, so memory
    stays flat over idle days. Lone surrogates are mended as `RecordStream`
    mends them, unless `exact`.
    """

    FORGET_AFTER_MS = 3_600_000

    def __init__(
        self, client: PageSource, query: Query, *, since_ms: int | None = None, exact: bool = False
    ) -> None:
        self.client = client
        self.exact = exact
        # Newest first, whatever the user's order: new records are on the first page.
        self.query = replace(query, order=Order.desc, cursor=None, since=None, until=None)
        self._since_ms = since_ms
        self._seen: dict[str, int] = {}
        self._started = since_ms is not None

    def backlog(self, last: int) -> list[UsageRecord]:
        """The newest `last` records, oldest first; later polls return only newer ones."""
        shown = list(RecordStream(self.client, self.query, limit=last, exact=True))
        self._remember(shown)
        if shown:
            self._since_ms = min(record.created_at for record in shown)
        self._started = True
        return self._written(shown[::-1])

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
        return self._written(fresh[::-1])

    def _written(self, records: list[UsageRecord]) -> list[UsageRecord]:
        """Records as they are written: mended, unless `exact`. Only here, as ids are
        remembered as the API sent them."""
        return records if self.exact else mended_records(records)[0]

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
