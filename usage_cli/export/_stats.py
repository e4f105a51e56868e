"""The manifest's figures: a summary by type, kept while the records stream past."""

from __future__ import annotations

from collections.abc import Iterable

from usage_cli.columns import iso_ms
from usage_cli.export._json import StatsJson
from usage_cli.records import UsageRecord
from usage_cli.summary import Group, Summary


class Stats:
    def __init__(self, summary: Summary | None = None) -> None:
        self.summary = summary or Summary(("type",))

    @property
    def records(self) -> int:
        return self.summary.total.records

    def add_all(self, records: Iterable[UsageRecord]) -> None:
        self.summary.add_all(records)

    def to_json(self) -> StatsJson:
        total = self.summary.total
        by_type = sorted(self.summary.groups(), key=lambda group: str(group.key[0]))
        return {
            "records": total.records,
            "countTotal": total.count,
            "countByType": {str(group.key[0]): group.count for group in by_type},
            "recordsByType": {str(group.key[0]): group.records for group in by_type},
            "firstCreatedAt": None if total.first is None else iso_ms(total.first),
            "lastCreatedAt": None if total.last is None else iso_ms(total.last),
            "firstCreatedAtMs": total.first,
            "lastCreatedAtMs": total.last,
        }

    @classmethod
    def from_json(cls, data: StatsJson) -> Stats:
        """The figures a checkpoint saved, to go on adding to."""
        summary = Summary(("type",))
        total = summary.total
        total.records, total.count = data["records"], data["countTotal"]
        total.first, total.last = data["firstCreatedAtMs"], data["lastCreatedAtMs"]
        for kind, count in data["countByType"].items():
            summary.restore(Group((kind,), records=data["recordsByType"][kind], count=count))
        return cls(summary)
