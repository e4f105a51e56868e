"""`usage summary`: who used what, aggregated while the records stream past.

Memory grows with the number of groups, never with the number of records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from usage_cli._text import json_escaping_surrogates, without_surrogates
from usage_cli._version import SCHEMA_VERSION
from usage_cli.columns import compact_json, iso_ms, utc_moment
from usage_cli.errors import InputError, unknown_choice
from usage_cli.records import UsageRecord
from usage_cli.relations import BY_ORDER, BY_WORD

if TYPE_CHECKING:
    from usage_cli.prices import Costs, PriceTable

# `--by` word -> record attribute, for every relation but `type` (a plain field).
RELATIONS_BY = {word: BY_WORD[word].attribute for word in BY_ORDER if word != "type"}
BUCKETS = ("hour", "day", "week", "month")
DIMENSIONS = ("type", *RELATIONS_BY, *BUCKETS)
OTHER = "(other)"
NONE = "(none)"
OUT_OF_RANGE = "(time out of range)"
SORTS = ("count", "records", "cost")


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
    # With a price table (`--cost`): the group's cost, kept exact.
    costs: Costs | None = None
    # The rest `--top` folded into one row: its key says `(other)`, which a real id
    # could say too, so JSON says `folded` as well.
    folded: bool = False

    def add(self, record: UsageRecord) -> None:
        raw = record.raw  # the hot path of summary and export: plain dict lookups
        self.records += 1
        self.count += raw["count"]
        created = raw["createdAt"]
        if self.first is None or created < self.first:
            self.first = created
        if self.last is None or created > self.last:
            self.last = created
        if self.costs is not None:
            self.costs.add(raw["type"], created, 1, raw["count"])

    def absorb(self, other: Group) -> None:
        self.records += other.records
        self.count += other.count
        if other.costs is not None:
            if self.costs is None:
                from usage_cli.prices import Costs

                self.costs = Costs(other.costs.table)
            self.costs.absorb(other.costs)
        for moment in (other.first, other.last):
            if moment is not None:
                self.first = moment if self.first is None else min(self.first, moment)
                self.last = moment if self.last is None else max(self.last, moment)

    def to_dict(self, by: Sequence[str]) -> dict[str, Any]:
        said: dict[str, Any] = {
            "key": dict(zip(by, self.key, strict=True)),
            "records": self.records,
            "count": self.count,
            "firstCreatedAt": None if self.first is None else iso_ms(self.first),
            "lastCreatedAt": None if self.last is None else iso_ms(self.last),
        }
        if self.folded:
            said["folded"] = True
        return said

    def priced_cost(self) -> Decimal | None:
        """The group's cost; None when none of its records has a price (never $0 then)."""
        if self.costs is None or (self.records and self.costs.unpriced_records == self.records):
            return None
        return self.costs.amount

    def cost_dict(self, whole: Decimal | None) -> dict[str, Any]:
        """The group's money: exact cost (text), its share of `whole`, and what is unpriced."""
        from usage_cli.prices import exact, share

        assert self.costs is not None
        amount = self.priced_cost()
        return {
            # No priced record: no cost at all, which is not a cost of 0.
            "cost": None if amount is None else exact(amount),
            "costShare": None if whole is None or amount is None else share(amount, whole),
            "pricedCount": self.costs.priced_count,
            "unpriced": {
                "records": self.costs.unpriced_records,
                "count": self.costs.unpriced_count,
                "types": {kind: c for kind, (_, c) in sorted(self.costs.unpriced.items())},
            },
        }


class Summary:
    """Groups of records by the `--by` dimensions, with a grand total."""

    def __init__(
        self, by: Sequence[str], *, zone: tzinfo = UTC, prices: PriceTable | None = None
    ) -> None:
        self.by = tuple(by)
        self.prices = prices
        self._keys = [key_function(dimension, zone) for dimension in self.by]
        self._groups: dict[tuple[str | None, ...], Group] = {}
        self.total = self.new_group(tuple("(total)" for _ in self.by))

    def new_group(self, key: tuple[str | None, ...]) -> Group:
        """An empty group, with a cost tally when this summary has prices."""
        if self.prices is None:
            return Group(key)
        from usage_cli.prices import Costs

        return Group(key, costs=Costs(self.prices))

    def add(self, record: UsageRecord) -> None:
        key = tuple([function(record) for function in self._keys])
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = self.new_group(key)
        group.add(record)
        self.total.add(record)

    def restore(self, group: Group) -> None:
        """Take back a group saved earlier (a resumed export's per-type figures)."""
        self._groups[group.key] = group

    def merge(self, group: Group) -> None:
        """Add a group counted elsewhere (by SQL, say) to the group of its key, and the total."""
        mine = self._groups.get(group.key)
        if mine is None:
            mine = self._groups[group.key] = self.new_group(group.key)
        mine.absorb(group)
        self.total.absorb(group)

    def add_all(self, records: Iterable[UsageRecord]) -> Summary:
        for record in records:
            self.add(record)
        return self

    def keyed(self) -> dict[tuple[str | None, ...], Group]:
        """Every group by its key (no order, nothing folded)."""
        return dict(self._groups)

    def groups(
        self, top: int | None = None, sort: str = "count", order: str = "asc"
    ) -> list[Group]:
        """Largest total `count` first (then most records, then key); `top` folds the rest.

        `sort` puts the largest `records` or `cost` first instead. With a time
        bucket among the dimensions, buckets come in time order first (`order`:
        oldest first, asc, or newest first, desc), the groups of one bucket by
        `sort`; `top` keeps the largest of each bucket and folds the rest of that
        bucket, so no bucket is ever hidden (with buckets alone, nothing folds).
        """
        ranked = sort_key(sort)
        times = [index for index, dimension in enumerate(self.by) if dimension in BUCKETS]
        if not times:
            ordered = sorted(self._groups.values(), key=ranked)
            if top is None or len(ordered) <= top:
                return ordered
            other = self.new_group(tuple(OTHER for _ in self.by))
            other.folded = True
            for group in ordered[top:]:
                other.absorb(group)
            return [*ordered[:top], other]
        # A bucket's place in time: its earliest record, since a label alone does
        # not sort (two 01:00 hours of a fall-back day, an offset's sign).
        buckets: dict[tuple[str | None, ...], list[Group]] = {}
        for group in self._groups.values():
            buckets.setdefault(tuple(group.key[index] for index in times), []).append(group)

        def start(groups: list[Group]) -> int:
            return min((g.first for g in groups if g.first is not None), default=0)

        out: list[Group] = []
        for bucket, groups in sorted(
            buckets.items(), key=lambda item: start(item[1]), reverse=order == "desc"
        ):
            ordered = sorted(groups, key=ranked)
            if top is None or len(ordered) <= top or len(times) == len(self.by):
                out += ordered
                continue
            kept = dict(zip(times, bucket, strict=True))
            other = self.new_group(tuple(kept.get(index, OTHER) for index in range(len(self.by))))
            other.folded = True
            for group in ordered[top:]:
                other.absorb(group)
            out += [*ordered[:top], other]
        return out

    def to_dict(
        self, top: int | None = None, sort: str = "count", order: str = "asc"
    ) -> dict[str, Any]:
        whole = self.total.costs.amount if self.total.costs is not None else None
        groups = []
        for group in self.groups(top, sort, order):
            row = group.to_dict(self.by)
            if group.costs is not None:
                row.update(group.cost_dict(whole))
            groups.append(row)
        total = {k: v for k, v in self.total.to_dict(self.by).items() if k != "key"}
        out: dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "by": list(self.by),
            "groups": groups,
            "total": total,
        }
        if self.prices is not None and self.total.costs is not None:
            money = self.total.cost_dict(None)
            del money["costShare"]
            money["coverage"] = coverage(self.total)
            total.update(money)
            out["prices"] = self.prices.to_json()
        return out


def coverage(group: Group) -> float | None:
    """The share of the group's count that has a price (None: no count at all)."""
    if group.costs is None or not group.count:
        return None
    return round(group.costs.priced_count / group.count, 6)


def sort_key(sort: str) -> Callable[[Group], tuple[Any, ...]]:
    """Largest first by `sort`, then by count and records; the key text breaks ties."""

    def key(g: Group) -> tuple[Any, ...]:
        text = tuple(part or "" for part in g.key)
        if sort == "records":
            return (-g.records, -g.count, text)
        if sort == "cost" and g.costs is not None:
            return (-g.costs.amount, -g.count, -g.records, text)
        return (-g.count, -g.records, text)

    return key


def write_json(
    summary: Summary,
    stream: Any,
    top: int | None = None,
    sort: str = "count",
    order: str = "asc",
) -> None:
    import json

    text = json.dumps(summary.to_dict(top, sort, order), ensure_ascii=False, indent=2)
    stream.write(json_escaping_surrogates(text) + "\n")


def write_csv(
    summary: Summary,
    stream: Any,
    top: int | None = None,
    sort: str = "count",
    order: str = "asc",
) -> None:
    """One row per group (the folded rest as `(other)`); no total row, so sums stay honest.

    With prices: the exact cost, its share, the unpriced count, and the table's
    sha256 on every row, so a row read alone still says what priced it.
    """
    import csv

    from usage_cli.prices import exact

    writer = csv.writer(stream, lineterminator="\r\n")
    money = summary.prices is not None
    header = [*summary.by, "records", "count", "firstCreatedAt", "lastCreatedAt"]
    if money:
        header += ["cost", "costShare", "unpricedCount", "pricesSha256"]
    writer.writerow(header)
    whole = summary.total.costs.amount if summary.total.costs is not None else None
    for group in summary.groups(top, sort, order):
        row = group.to_dict(summary.by)
        cells: list[Any] = [
            *(without_surrogates(part or "") for part in group.key),
            group.records,
            group.count,
            row["firstCreatedAt"] or "",
            row["lastCreatedAt"] or "",
        ]
        if money and group.costs is not None and summary.prices is not None:
            from usage_cli.prices import share

            amount = group.priced_cost()
            part = share(amount, whole) if whole is not None and amount is not None else None
            cells += [
                "" if amount is None else exact(amount),
                "" if part is None else part,
                group.costs.unpriced_count,
                summary.prices.sha256,
            ]
        writer.writerow(cells)
