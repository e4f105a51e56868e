"""`usage summary`: who used what, aggregated while the records stream past.

Memory grows with the number of groups, never with the number of records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta, tzinfo
from typing import Any

from usage_cli._text import json_escaping_surrogates, without_surrogates
from usage_cli.columns import compact_json, iso_ms, utc_moment
from usage_cli.errors import InputError, unknown_choice
from usage_cli.records import UsageRecord
from usage_cli.relations import BY_ORDER, BY_WORD

# `--by` word -> record attribute, for every relation but `type` (a plain field).
RELATIONS_BY = {word: BY_WORD[word].attribute for word in BY_ORDER if word != "type"}
BUCKETS = ("hour", "day", "week", "month")
DIMENSIONS = ("type", *RELATIONS_BY, *BUCKETS)
OTHER = "(other)"
NONE = "(none)"
OUT_OF_RANGE = "(time out of range)"


def bucket_of(unit: str, zone: tzinfo = UTC) -> Callable[[int], str]:
    """The `--by hour|day|week|month` label of an epoch-ms time, in `zone`'s calendar."""
    from usage_cli.zones import offset_text

    def key(epoch_ms: int) -> str:
        moment = utc_moment(epoch_ms)
        if moment is None:
            return OUT_OF_RANGE
        # The calendar of `--tz`: a day there starts at its own midnight.
        moment = moment.astimezone(zone)
        if unit == "hour":
            return moment.strftime("%Y-%m-%dT%H:00") + offset_text(moment)
        if unit == "day":
            return moment.strftime("%Y-%m-%d")
        if unit == "week":
            # The ISO week's Monday: sorts as text and reads as a date.
            return (moment - timedelta(days=moment.weekday())).strftime("%Y-%m-%d")
        return moment.strftime("%Y-%m")

    return key


def _bucket(unit: str, zone: tzinfo = UTC) -> Callable[[UsageRecord], str]:
    label = bucket_of(unit, zone)
    return lambda record: label(record.created_at)


def _relation(attribute: str) -> Callable[[UsageRecord], str | None]:
    def key(record: UsageRecord) -> str | None:
        value: str | None = getattr(record, attribute)
        return value

    return key


def meta_key(value: Any) -> str | None:
    """The group of a `meta.KEY` value: a string as it is, anything else as compact JSON."""
    if value is None:
        return None
    return value if isinstance(value, str) else compact_json(value)


def _meta(name: str) -> Callable[[UsageRecord], str | None]:
    return lambda record: meta_key((record.meta or {}).get(name))


def key_function(dimension: str, zone: tzinfo = UTC) -> Callable[[UsageRecord], str | None]:
    if dimension == "type":
        return lambda record: record.type
    if dimension in RELATIONS_BY:
        return _relation(RELATIONS_BY[dimension])
    if dimension in BUCKETS:
        return _bucket(dimension, zone)
    return _meta(dimension[len("meta.") :])


def parse_by(values: Sequence[str] | None) -> tuple[str, ...]:
    """`--by` values, checked; `type` when none is given."""
    chosen = tuple(value.strip() for value in values or ("type",))
    for value in chosen:
        if value.startswith("meta.") and len(value) > len("meta."):
            continue
        if value not in DIMENSIONS:
            raise unknown_choice(
                f"--by: cannot group by {value!r}",
                value,
                DIMENSIONS,
                hint="group by " + ", ".join(DIMENSIONS) + ", or meta.KEY",
            )
    if len(set(chosen)) != len(chosen):
        raise InputError("--by: the same grouping is given twice")
    return chosen


@dataclass
class Group:
    key: tuple[str | None, ...]
    records: int = 0
    count: int = 0
    first: int | None = None
    last: int | None = None

    def add(self, record: UsageRecord) -> None:
        raw = record.raw  # the hot path of summary and export: plain dict lookups
        self.records += 1
        self.count += raw["count"]
        created = raw["createdAt"]
        if self.first is None or created < self.first:
            self.first = created
        if self.last is None or created > self.last:
            self.last = created

    def absorb(self, other: Group) -> None:
        self.records += other.records
        self.count += other.count
        for moment in (other.first, other.last):
            if moment is not None:
                self.first = moment if self.first is None else min(self.first, moment)
                self.last = moment if self.last is None else max(self.last, moment)

    def to_dict(self, by: Sequence[str]) -> dict[str, Any]:
        return {
            "key": dict(zip(by, self.key, strict=True)),
            "records": self.records,
            "count": self.count,
            "firstCreatedAt": None if self.first is None else iso_ms(self.first),
            "lastCreatedAt": None if self.last is None else iso_ms(self.last),
        }


class Summary:
    """Groups of records by the `--by` dimensions, with a grand total."""

    def __init__(self, by: Sequence[str], *, zone: tzinfo = UTC) -> None:
        self.by = tuple(by)
        self._keys = [key_function(dimension, zone) for dimension in self.by]
        self._groups: dict[tuple[str | None, ...], Group] = {}
        self.total = Group(key=tuple("(total)" for _ in self.by))

    def add(self, record: UsageRecord) -> None:
        key = tuple([function(record) for function in self._keys])
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key)
        group.add(record)
        self.total.add(record)

    def restore(self, group: Group) -> None:
        """Take back a group saved earlier (a resumed export's per-type figures)."""
        self._groups[group.key] = group

    def merge(self, group: Group) -> None:
        """Add a group counted elsewhere (by SQL, say) to the group of its key, and the total."""
        mine = self._groups.get(group.key)
        if mine is None:
            mine = self._groups[group.key] = Group(group.key)
        mine.absorb(group)
        self.total.absorb(group)

    def add_all(self, records: Iterable[UsageRecord]) -> Summary:
        for record in records:
            self.add(record)
        return self

    def groups(self, top: int | None = None) -> list[Group]:
        """Largest total `count` first (then most records, then key); `top` folds the rest."""
        ordered = sorted(
            self._groups.values(),
            key=lambda g: (-g.count, -g.records, tuple(part or "" for part in g.key)),
        )
        if top is None or len(ordered) <= top:
            return ordered
        other = Group(key=tuple(OTHER for _ in self.by))
        for group in ordered[top:]:
            other.absorb(group)
        return [*ordered[:top], other]

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        return {
            "by": list(self.by),
            "groups": [group.to_dict(self.by) for group in self.groups(top)],
            "total": {k: v for k, v in self.total.to_dict(self.by).items() if k != "key"},
        }


def write_json(summary: Summary, stream: Any, top: int | None = None) -> None:
    import json

    text = json.dumps(summary.to_dict(top), ensure_ascii=False, indent=2)
    stream.write(json_escaping_surrogates(text) + "\n")


def write_csv(summary: Summary, stream: Any, top: int | None = None) -> None:
    """One row per group (the folded rest as `(other)`); no total row, so sums stay honest."""
    import csv

    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow([*summary.by, "records", "count", "firstCreatedAt", "lastCreatedAt"])
    for group in summary.groups(top):
        row = group.to_dict(summary.by)
        writer.writerow(
            [
                *(without_surrogates(part or "") for part in group.key),
                group.records,
                group.count,
                row["firstCreatedAt"] or "",
                row["lastCreatedAt"] or "",
            ]
        )
