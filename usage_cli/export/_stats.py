"""The manifest's figures: a summary by type, kept while the records stream past."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from usage_cli.columns import iso_ms
from usage_cli.export._json import StatsJson
from usage_cli.records import UsageRecord
from usage_cli.summary import Group, Summary

Edge = tuple[int, str]  # (createdAt, id): how the list orders records


class Stats:
    def __init__(
        self,
        summary: Summary | None = None,
        oldest: Edge | None = None,
        newest: Edge | None = None,
    ) -> None:
        self.summary = summary or Summary(("type",))
        self.oldest = oldest
        self.newest = newest
        # Strings whose lone surrogates were written as U+FFFD (`Batch.mended`).
        self.mended = 0

    @property
    def records(self) -> int:
        return self.summary.total.records

    def add_all(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        # A page at a time rather than `Summary.add` per record (two `Group.add`
        # calls each): the figures are sums per type, and the page's extremes.
        per_type: dict[str, list[int]] = {}
        for record in records:
            raw = record.raw
            tally = per_type.get(raw["type"])
            if tally is None:
                tally = per_type[raw["type"]] = [0, 0]
            tally[0] += 1
            tally[1] += raw["count"]
        summary = self.summary
        for kind, (records_of_kind, count) in per_type.items():
            summary.merge(Group((kind,), records=records_of_kind, count=count))
        # `merge` keeps no times for a group without them: the total's span is set here.
        total = summary.total
        created = [record.raw["createdAt"] for record in records]
        low, high = min(created), max(created)
        total.first = low if total.first is None else min(total.first, low)
        total.last = high if total.last is None else max(total.last, high)
        # Pages come in list order, so a page's extremes are at its two ends.
        for record in (records[0], records[-1]):
            edge = (record.created_at, record.id)
            if self.oldest is None or edge < self.oldest:
                self.oldest = edge
            if self.newest is None or edge > self.newest:
                self.newest = edge

    def to_json(self, *, mended: bool = False) -> StatsJson:
        """The figures; with `mended`, a checkpoint's, the strings mended so far too."""
        total = self.summary.total
        by_type = sorted(self.summary.groups(), key=lambda group: str(group.key[0]))
        figures: StatsJson = {
            "records": total.records,
            "countTotal": total.count,
            "countByType": {str(group.key[0]): group.count for group in by_type},
            "recordsByType": {str(group.key[0]): group.records for group in by_type},
            "firstCreatedAt": None if total.first is None else iso_ms(total.first),
            "lastCreatedAt": None if total.last is None else iso_ms(total.last),
            "firstCreatedAtMs": total.first,
            "lastCreatedAtMs": total.last,
            "firstId": None if self.oldest is None else self.oldest[1],
            "lastId": None if self.newest is None else self.newest[1],
        }
        if mended:
            figures["stringsMended"] = self.mended
        return figures

    @classmethod
    def from_json(cls, data: StatsJson) -> Stats:
        """The figures a checkpoint saved, to go on adding to."""
        summary = Summary(("type",))
        total = summary.total
        total.records, total.count = data["records"], data["countTotal"]
        total.first, total.last = data["firstCreatedAtMs"], data["lastCreatedAtMs"]
        for kind, count in data["countByType"].items():
            summary.restore(Group((kind,), records=data["recordsByType"][kind], count=count))
        first, last = data.get("firstId"), data.get("lastId")
        oldest = None if first is None or total.first is None else (total.first, first)
        newest = None if last is None or total.last is None else (total.last, last)
        stats = cls(summary, oldest, newest)
        stats.mended = data.get("stringsMended", 0)
        return stats


def merged(figures: Iterable[StatsJson]) -> StatsJson:
    """The figures of several sets of records taken together (the partitions of a
    dataset): sums, and the extremes of the extremes."""
    records = count = 0
    count_by_type: dict[str, int] = {}
    records_by_type: dict[str, int] = {}
    oldest: Edge | None = None
    newest: Edge | None = None
    for each in figures:
        records += each["records"]
        count += each["countTotal"]
        for kind, value in each["countByType"].items():
            count_by_type[kind] = count_by_type.get(kind, 0) + value
        for kind, value in each["recordsByType"].items():
            records_by_type[kind] = records_by_type.get(kind, 0) + value
        first, last = each["firstCreatedAtMs"], each["lastCreatedAtMs"]
        if first is not None:
            edge = (first, each.get("firstId") or "")
            oldest = edge if oldest is None else min(oldest, edge)
        if last is not None:
            edge = (last, each.get("lastId") or "")
            newest = edge if newest is None else max(newest, edge)
    return {
        "records": records,
        "countTotal": count,
        "countByType": dict(sorted(count_by_type.items())),
        "recordsByType": dict(sorted(records_by_type.items())),
        "firstCreatedAt": None if oldest is None else iso_ms(oldest[0]),
        "lastCreatedAt": None if newest is None else iso_ms(newest[0]),
        "firstCreatedAtMs": None if oldest is None else oldest[0],
        "lastCreatedAtMs": None if newest is None else newest[0],
        "firstId": None if oldest is None else oldest[1] or None,
        "lastId": None if newest is None else newest[1] or None,
    }
