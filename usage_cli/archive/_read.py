"""Reading the archive as the API would answer: `ArchiveReader.fetch_page`.

The reader offers the one method `RecordStream` needs of a `Client`, with the
platform's semantics (filters, `meta[KEY]=VALUE`, order, take, a cursor that
is the id of a page's last record), so `list`, `summary` and `export` read an
archive through the same code, and print the same bytes, as they read the API.

The `--since/--until` window, applied to what the API sends, is also put into
the SQL here: the records outside it never leave SQLite, and the indexes
find the window's edge instead of reading up to it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json

from usage_cli.archive._store import INDEXED, RELATION_COLUMNS, Archive, Source
from usage_cli.errors import ApiError
from usage_cli.query import Order, Query
from usage_cli.records import Page, UsageRecord

if TYPE_CHECKING:
    from usage_cli.prices import PriceTable
    from usage_cli.summary import Summary

# The first step when looking for a bucket's end: shorter than any bucket.
_QUARTER_HOUR_MS = 900_000
# Past the end of time as SQLite integers count it: one bucket holds the rest.
_LAST_MS = 2**63 - 1

# The archive names its columns after the `Query` attributes they filter.
_FILTER_COLUMNS = ("type", *(column for _, column in RELATION_COLUMNS))


@dataclass
class Where:
    """A query's filters and window as SQL, with their parameters."""

    sql: str
    params: list[Any]


def where(source: Source, query: Query) -> Where:
    """The WHERE clause of `query` (no cursor) over one source's records."""
    clauses = ["source = ?"]
    params: list[Any] = [source.id]
    for column in _FILTER_COLUMNS:
        value = getattr(query, column)
        if value is None:
            continue
        # The API takes one type, and a comma list of ids for a relation.
        values = [value] if column == "type" else value.split(",")
        clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
        params += values
    if query.since_ms is not None:
        clauses.append("created_at >= ?")
        params.append(query.since_ms)
    if query.until_ms is not None:
        clauses.append("created_at <= ?")
        params.append(query.until_ms)
    if query.meta:
        # The object's JSON, or NULL for anything else (no match): json_extract, as `->`
        # needs SQLite 3.38 (Ubuntu 22.04 has 3.37).
        clauses.append(
            "usage_meta_matches(CASE json_type(raw, '$.meta') WHEN 'object' "
            "THEN json_extract(raw, '$.meta') END, ?)"
        )
        params.append(json.dumps([list(pair) for pair in query.meta]))
    return Where(" AND ".join(clauses), params)


class ArchiveReader:
    """One source of an archive, answering pages as the list endpoint does."""

    def __init__(self, archive: Archive, source: Source) -> None:
        self.archive = archive
        self.source = source
        self.requests = 0
        # The last page's last record (id, created_at): the cursor the next asks for,
        # found without a lookup (the archive has no index on ids alone).
        self._last: tuple[str, int] | None = None

    def fetch_page(self, query: Query, *, cursor: str | None, take: int) -> Page:
        found = where(self.source, query)
        sql, params = found.sql, list(found.params)
        descending = query.order is Order.desc
        if cursor:
            row = (
                (self._last[1], self._last[0])
                if self._last is not None and self._last[0] == cursor
                else self.archive.connection.execute(
                    "SELECT created_at, id FROM records WHERE source = ? AND id = ?",
                    (self.source.id, cursor),
                ).fetchone()
            )
            if row is None:
                raise ApiError(
                    f"the archive has no record {cursor!r} to continue after (invalid cursor)",
                    status=400,
                    code="BAD_REQUEST",
                )
            sign = "<" if descending else ">"
            # Written so that the index can seek to the cursor (`a < x OR (a = x AND
            # b < y)` would read the index from its start).
            sql += f" AND created_at {sign}= ? AND (created_at {sign} ? OR id {sign} ?)"
            params += [row[0], row[0], row[1]]
        direction = "DESC" if descending else "ASC"
        with self.archive.storage("read"):
            rows = self.archive.connection.execute(
                f"SELECT raw FROM records WHERE {sql} "
                f"ORDER BY created_at {direction}, id {direction} LIMIT ?",
                (*params, take),
            ).fetchall()
        self.requests += 1
        decoded, odd_text = _decoded([row[0] for row in rows])
        items = [UsageRecord(raw) for raw in decoded]
        self._last = (items[-1].id, items[-1].created_at) if items else None
        # As the platform: a page's cursor is its last id, and the end an empty page.
        return Page(items, items[-1].id if items else None, odd_text)

    def summary(
        self,
        query: Query,
        by: tuple[str, ...],
        zone: tzinfo,
        prices: PriceTable | None = None,
    ) -> Summary | None:
        """The summary of `query` grouped by SQL, or None when only the records can tell.

        A count beyond SQLite's integers is only in the records' JSON, and
        so is a `meta.KEY` whose key a JSON path cannot spell; `meta.KEY`
        groups otherwise come from the JSON text SQLite finds at that path,
        made a key here as `summary` makes one. Time buckets are not computed
        row by row: the
        span of each bucket that holds records is found here, in `zone`'s
        calendar, and SQL counts inside it over the `createdAt` index (one
        range query a bucket, so no sort of the whole archive).

        With `prices`, each group is further split by type and by the spans
        between the table's price changes, so that every row has one price:
        the cost comes out exactly as record by record.
        """
        from usage_cli.prices import Costs
        from usage_cli.summary import BUCKETS, RELATIONS_BY, Group, Summary, bucket_of

        columns: list[str] = []
        paths: list[str] = []
        for dimension in by:
            if dimension.startswith("meta."):
                name = dimension[len("meta.") :]
                if '"' in name or "\\" in name:
                    return None
                if sqlite3.sqlite_version_info < (3, 38):
                    # `->` gives a value's JSON as sent (half an emoji as its escape),
                    # which nothing older spells; the records are grouped in Python.
                    return None
                columns.append("raw -> ?")
                paths.append(f'$.meta."{name}"')
            elif dimension not in BUCKETS:
                columns.append(dimension if dimension == "type" else RELATIONS_BY[dimension])
        labellers = [bucket_of(dimension, zone) for dimension in by if dimension in BUCKETS]

        def labels(epoch_ms: int) -> tuple[str, ...]:
            return tuple(label(epoch_ms) for label in labellers)

        found = where(self.source, query)
        figures = "COUNT(*), SUM(count), COUNT(count), MIN(created_at), MAX(created_at)"
        splits: list[str] = []
        split_params: list[int] = []
        if prices is not None:
            # The price era: how many of the table's price changes lie at or before it.
            changes = prices.boundaries()
            era = " + ".join("(created_at >= ?)" for _ in changes) or "0"
            splits = ["type", f"({era})"]
            split_params = changes
        grouped = [*columns, *splits]
        # By position: an expression with parameters is not written (nor bound) twice.
        grouping = f" GROUP BY {', '.join(str(n + 1) for n in range(len(grouped)))}"
        grouping = grouping if grouped else ""
        sql = f"SELECT {', '.join([*grouped, figures])} FROM records WHERE {found.sql}"
        summary = Summary(by, zone=zone, prices=prices)
        db = self.archive.connection
        with self.archive.storage("read"):
            try:
                if labellers:
                    spans = list(_spans(db, found, labels))
                    rows = _bucketed(db, found, spans, grouped, [*paths, *split_params])
                else:
                    params = [*paths, *split_params, *found.params]
                    rows = (((), *row) for row in db.execute(sql + grouping, params))
                for bucket, *row in rows:
                    *parts, records, total, known, first, last = row
                    if not records:
                        continue  # no GROUP BY: one row even when nothing matches
                    if known != records:
                        return None  # a count beyond SQLite's integers: only in the JSON
                    costs = None
                    if prices is not None:
                        kind, _ = parts[len(columns) :]
                        costs = Costs(prices)
                        # One era: the price at its first record is the price of all.
                        costs.add(kind, first, records, total)
                    fixed, timed = iter(parts[: len(columns)]), iter(bucket)
                    key = tuple(
                        next(timed)
                        if dimension in BUCKETS
                        else _meta_key(next(fixed))
                        if dimension.startswith("meta.")
                        else next(fixed)
                        for dimension in by
                    )
                    summary.merge(Group(key, records, total, first, last, costs))
            except sqlite3.OperationalError as error:
                if "overflow" in str(error):
                    return None  # a sum beyond 64 bits: Python's integers will do it
                raise
        return summary


_FIGURES = "COUNT(*), SUM(count), COUNT(count), MIN(created_at), MAX(created_at)"


def _bucketed(
    db: sqlite3.Connection,
    found: Where,
    spans: list[Span],
    grouped: list[str],
    params: list[Any],
) -> Iterator[tuple[Any, ...]]:
    """The figures of each group in each time bucket: (labels, *groups, *figures) rows.

    By one indexed column (type, bot) or none, each value's records in each
    bucket are one range of an index (its values found by seeks, as a skip-scan
    would), counted where they lie: nothing is sorted; one query a bucket took
    about twice as long. By anything else (another relation, two columns,
    `meta.KEY`, prices), one query a bucket over the time index: over a million
    records by day, type and bot, 30 of them took 0.94-1.1 s, where one query
    grouping every record by its bucket (a CASE) sorted them all and took
    1.3-2.0 s.
    """
    if not spans:
        return
    labels = [bucket for bucket, _, _ in spans]
    values = ", ".join(f"({n}, {start}, {end})" for n, (_, start, end) in enumerate(spans))
    if not grouped or (len(grouped) == 1 and grouped[0] in INDEXED and not params):
        column = grouped[0] if grouped else None
        kinds = ""
        match = ""
        if column is not None:
            # Each value of the column, smallest first, then NULL (the `(none)` group,
            # and the end of the seeks).
            kinds = (
                f", kinds(v) AS (SELECT (SELECT MIN({column}) FROM records WHERE {found.sql}) "
                f"UNION ALL SELECT (SELECT MIN({column}) FROM records WHERE {found.sql} "
                f"AND {column} > kinds.v) FROM kinds WHERE kinds.v IS NOT NULL)"
            )
            match = f" AND {column} IS kinds.v"
        statement = (
            f"WITH buckets(n, low, high) AS (VALUES {values}){kinds} "
            f"SELECT buckets.n, {'kinds.v, ' if column else ''}(SELECT json_array({_FIGURES}) "
            f"FROM records WHERE {found.sql}{match} AND created_at BETWEEN buckets.low "
            f"AND buckets.high) FROM buckets{', kinds' if column else ''}"
        )
        seeks = [*found.params, *found.params] if column else []
        for n, *group, figures in db.execute(statement, [*seeks, *found.params]):
            yield (labels[n], *group, *json.loads(figures))
        return
    keys = ", ".join(str(n + 1) for n in range(len(grouped)))
    statement = (
        f"SELECT {', '.join([*grouped, _FIGURES])} FROM records WHERE {found.sql} "
        f"AND created_at BETWEEN ? AND ? GROUP BY {keys}"
    )
    for bucket, start, end in spans:
        for row in db.execute(statement, [*params, *found.params, start, end]):
            yield (bucket, *row)


def _meta_key(text: str | None) -> str | None:
    """A `meta.KEY` group's key from the JSON text at its path, as `summary` makes it."""
    from usage_cli.summary import meta_key

    return meta_key(None if text is None else json.loads(text))


Labels = Callable[[int], tuple[str, ...]]


Span = tuple[tuple[str, ...], int | None, int | None]


def _spans(db: sqlite3.Connection, found: Where, labels: Labels) -> Iterator[Span]:
    """Each bucket that holds records: its labels and its first and last millisecond."""
    after = f"SELECT MIN(created_at) FROM records WHERE {found.sql} AND created_at > ?"
    moment = db.execute(f"SELECT MIN(created_at) FROM records WHERE {found.sql}", found.params)
    start: int | None = moment.fetchone()[0]
    while start is not None:
        bucket = labels(start)
        end = _last_of_bucket(start, bucket, labels)
        yield bucket, start, end
        start = db.execute(after, [*found.params, end]).fetchone()[0]


def _last_of_bucket(start: int, bucket: tuple[str, ...], labels: Labels) -> int:
    """The last millisecond labelled as `start` is: out by doubling steps, back by halving.

    Buckets are spans of time (an hour, a day, a week, a month, in any zone's
    calendar), so the labels change once at the bucket's end: exact to the
    millisecond whatever the zone's offset.
    """
    step = _QUARTER_HOUR_MS
    inside = start
    while labels(inside + step) == bucket:
        inside += step
        step *= 2
        if inside + step > _LAST_MS:
            return _LAST_MS
    outside = inside + step
    while outside - inside > 1:
        middle = (inside + outside) // 2
        if labels(middle) == bucket:
            inside = middle
        else:
            outside = middle
    return inside


def _decoded(texts: list[str]) -> tuple[list[Any], bool]:
    """Each stored record's JSON, decoded: a page in one call in Rust (about half
    `json.loads`' time), or one at a time where that refuses the text; and
    whether it was refused (`Page.odd_text`).

    pydantic-core refuses the escape of a lone surrogate, which the archive keeps
    for a record the API sent with one; `json.loads` reads it, as online.
    """
    try:
        decoded: list[Any] = from_json("[" + ",".join(texts) + "]")
    except ValueError:
        return [json.loads(text) for text in texts], True
    return decoded, False
