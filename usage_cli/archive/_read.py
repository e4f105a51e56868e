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

import functools
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Any

from usage_cli.archive._store import RELATION_COLUMNS, Archive, Source
from usage_cli.errors import ApiError
from usage_cli.query import Order, Query
from usage_cli.records import Page, UsageRecord
from usage_cli.relations import TABLE

if TYPE_CHECKING:
    from usage_cli.summary import Summary

# Every zone in use changes its offset on a quarter hour: a slot this long
# never straddles a bucket boundary, in any zone (a slot that would is caught).
_QUARTER_HOUR_MS = 900_000
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000

_FILTER_COLUMNS = {
    relation.attribute: relation.attribute for relation in TABLE
}  # Query attribute -> column: the archive names its columns after them
assert set(_FILTER_COLUMNS) - {"type"} == {column for _, column in RELATION_COLUMNS}


@dataclass
class Where:
    """A query's filters and window as SQL, with their parameters."""

    sql: str
    params: list[Any]


def where(source: Source, query: Query) -> Where:
    """The WHERE clause of `query` (no cursor) over one source's records."""
    clauses = ["source = ?"]
    params: list[Any] = [source.id]
    for attribute, column in _FILTER_COLUMNS.items():
        value = getattr(query, attribute)
        if value is None:
            continue
        # The API takes one type, and a comma list of ids for a relation.
        values = [value] if attribute == "type" else value.split(",")
        clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
        params += values
    if query.since_ms is not None:
        clauses.append("created_at >= ?")
        params.append(query.since_ms)
    if query.until_ms is not None:
        clauses.append("created_at <= ?")
        params.append(query.until_ms)
    if query.meta:
        clauses.append("usage_meta_matches(raw -> '$.meta', ?)")
        params.append(json.dumps([list(pair) for pair in query.meta]))
    return Where(" AND ".join(clauses), params)


class ArchiveReader:
    """One source of an archive, answering pages as the list endpoint does."""

    def __init__(self, archive: Archive, source: Source) -> None:
        self.archive = archive
        self.source = source
        self.requests = 0

    def fetch_page(self, query: Query, *, cursor: str | None, take: int) -> Page:
        found = where(self.source, query)
        sql, params = found.sql, list(found.params)
        descending = query.order is Order.desc
        if cursor:
            row = self.archive.connection.execute(
                "SELECT created_at, id FROM records WHERE source = ? AND id = ?",
                (self.source.id, cursor),
            ).fetchone()
            if row is None:
                raise ApiError(
                    f"the archive has no record {cursor!r} to continue after (invalid cursor)",
                    status=400,
                    code="BAD_REQUEST",
                )
            sign = "<" if descending else ">"
            sql += f" AND (created_at {sign} ? OR (created_at = ? AND id {sign} ?))"
            params += [row[0], row[0], row[1]]
        direction = "DESC" if descending else "ASC"
        rows = self.archive.connection.execute(
            f"SELECT raw FROM records WHERE {sql} "
            f"ORDER BY created_at {direction}, id {direction} LIMIT ?",
            (*params, take),
        ).fetchall()
        self.requests += 1
        items = [UsageRecord(json.loads(row[0])) for row in rows]
        # As the platform: a page's cursor is its last id, and the end an empty page.
        return Page(items, items[-1].id if items else None)

    def summary(self, query: Query, by: tuple[str, ...], zone: tzinfo) -> Summary | None:
        """The summary of `query` grouped by SQL, or None when only the records can tell.

        `meta.KEY` groups need each record's JSON; so does a count beyond
        SQLite's integers. Time buckets are grouped by slots of time that lie
        wholly inside one bucket of `zone`, then labelled here, once a slot.
        """
        from usage_cli.summary import BUCKETS, RELATIONS_BY, Group, Summary, bucket_of

        if any(dimension.startswith("meta.") for dimension in by):
            return None
        columns = [
            dimension if dimension == "type" else RELATIONS_BY[dimension]
            for dimension in by
            if dimension not in BUCKETS
        ]
        timed = [dimension for dimension in by if dimension in BUCKETS]
        slot = _slot_ms(timed, zone)
        grouped = [*columns, f"(created_at - ((created_at % {slot}) + {slot}) % {slot}) / {slot}"]
        found = where(self.source, query)
        sql = (
            f"SELECT {', '.join(grouped)}, COUNT(*), SUM(count), COUNT(count), "
            f"MIN(created_at), MAX(created_at) FROM records WHERE {found.sql} "
            f"GROUP BY {', '.join(str(n) for n in range(1, len(grouped) + 1))}"
        )
        try:
            rows = self.archive.connection.execute(sql, found.params).fetchall()
        except sqlite3.OperationalError as error:
            if "overflow" in str(error):
                return None  # a sum beyond 64 bits: Python's integers will do it
            raise
        labels = {dimension: bucket_of(dimension, zone) for dimension in timed}
        summary = Summary(by, zone=zone)
        for row in rows:
            *parts, number, records, total, known, first, last = row
            if known != records:
                return None  # a count beyond SQLite's integers is only in the JSON
            fixed = iter(parts)
            key: list[str | None] = []
            for dimension in by:
                if dimension in labels:
                    label = _label(labels[dimension], number * slot, slot, first, last)
                    if label is None:
                        return None
                    key.append(label)
                else:
                    key.append(next(fixed))
            summary.merge(Group(tuple(key), records, total, first, last))
        return summary

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.archive.close()


def _slot_ms(timed: Sequence[str], zone: tzinfo) -> int:
    """How finely SQL must group times for the `--by` buckets in `zone`."""
    if zone is not UTC:
        return _QUARTER_HOUR_MS
    return _HOUR_MS if "hour" in timed else _DAY_MS


def _label(label: Callable[[int], str], start: int, slot: int, first: int, last: int) -> str | None:
    """The bucket of a slot's records: its edges', else its records'; None if they differ."""
    edges = _cached(label, start), _cached(label, start + slot - 1)
    if edges[0] == edges[1]:
        return edges[0]
    ends = label(first), label(last)
    return ends[0] if ends[0] == ends[1] else None


@functools.lru_cache(maxsize=65_536)
def _cached(label: Callable[[int], str], epoch_ms: int) -> str:
    return label(epoch_ms)
