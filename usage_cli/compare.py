"""`usage summary --compare`: the same groups in two windows, side by side.

A group that has records in only one window is *new* or *gone*: its figures
for the other window are absent (null), not zero, and it has no change.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from usage_cli._version import SCHEMA_VERSION
from usage_cli.columns import iso_ms
from usage_cli.errors import InputError
from usage_cli.summary import BUCKETS, OTHER, Group, Summary, sort_key

_SPAN = re.compile(r"(\d+)(mo|min|[mhdw])")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Window:
    """A `createdAt` window, both ends inclusive, in epoch ms."""

    since: int
    until: int

    def to_dict(self) -> dict[str, str]:
        return {"since": iso_ms(self.since), "until": iso_ms(self.until)}

    def moments(self) -> tuple[datetime, datetime]:
        return _moment(self.since), _moment(self.until)


def _moment(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms // 1000, UTC) + timedelta(milliseconds=epoch_ms % 1000)


def _ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _back(moment: datetime, amount: int, unit: str) -> datetime:
    if unit != "mo":
        return moment - timedelta(**{_UNITS[unit]: amount})
    months = moment.year * 12 + moment.month - 1 - amount
    year, month = divmod(months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _whole_months(window: Window) -> int:
    """How many calendar months (UTC) `window` is, when it is exactly some; else 0."""
    since, after = _moment(window.since), _moment(window.until + 1)
    starts = since == since.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    ends = after == after.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if not (starts and ends):
        return 0
    return (after.year - since.year) * 12 + after.month - since.month


def described(current: Window, against: Window) -> str:
    """What `against` is to `current`, in words, when `--compare previous` could have set
    it (a span or dates the user gave are said by the span alone): "" otherwise."""
    if against.until != current.since - 1:
        return ""
    months = _whole_months(current)
    if months and _whole_months(against) == months:
        return f"the {months} calendar months before" if months > 1 else "the calendar month before"
    if against.until - against.since == current.until - current.since:
        return "the span of the same length just before"
    return ""


def baseline(current: Window, text: str) -> Window:
    """The window `--compare TEXT` sets against `current`, refused if they share a moment.

    A baseline that overlaps the window counts the same records on both sides,
    so its change says less than it seems to (the same window: always 0).
    """
    against = _baseline(current, text)
    if against.since <= current.until and current.since <= against.until:
        from usage_cli.columns import shown

        def span(window: Window) -> str:
            return " .. ".join(
                shown(moment, "createdAt") for moment in (window.since, window.until)
            )

        raise InputError(
            f"--compare {text!r}: the baseline {span(against)} overlaps the window "
            f"{span(current)} (UTC)",
            hint="compare with an earlier window: --compare previous, or a span at least "
            "as long as --since",
        )
    return against


def _baseline(current: Window, text: str) -> Window:
    """The window `--compare TEXT` sets against `current`.

    `previous`: the equal window just before, or the same number of calendar
    months before a window of whole months (`--window month`); a span (`7d`, `1w`, `1mo`): the
    same window that much earlier (`--since 1d --compare 7d`: the same day a
    week ago); `START..END`: those dates (ISO 8601, END's whole day).
    """
    from usage_cli.query import parse_when, to_ms

    word = text.strip()
    if word == "previous":
        months = _whole_months(current)
        if months:
            # A month is compared with the month before it, as a reader of "last
            # month" means: March's 31 days against February's 28, not March 1 less
            # 31 days.
            since = _back(current.moments()[0], months, "mo")
            return Window(_ms(since), current.since - 1)
        length = current.until - current.since + 1
        return Window(current.since - length, current.since - 1)
    span = _SPAN.fullmatch(word)
    if span:
        amount, unit = int(span.group(1)), span.group(2)
        if amount < 1:
            raise InputError(f"--compare {text!r}: the span must be at least 1")
        since, until = current.moments()
        return Window(_ms(_back(since, amount, unit)), _ms(_back(until, amount, unit)))
    start, sep, end = word.partition("..")
    if sep and start and end:
        try:
            window = Window(to_ms(parse_when(start)), to_ms(parse_when(end, end_of_day=True)))
        except InputError as exc:
            raise InputError(f"--compare {text!r}: {exc.message}", hint=exc.hint) from None
        if window.since > window.until:
            raise InputError(f"--compare {text!r}: its start is after its end")
        return window
    import difflib

    if difflib.get_close_matches(word.lower(), ["previous"], n=1, cutoff=0.6):
        raise InputError(
            f"--compare {text!r}: did you mean 'previous'?",
            hint="--compare previous: the window of the same length just before",
        )
    raise InputError(
        f"--compare {text!r}: neither 'previous', a span (7d) nor dates (START..END)",
        hint="e.g. --compare previous, --compare 7d (a week earlier), "
        "--compare 2026-01-01..2026-01-07",
    )


def check_dimensions(by: Sequence[str]) -> None:
    """Time buckets never meet across two windows: every group would be new or gone."""
    for dimension in by:
        if dimension in BUCKETS:
            raise InputError(
                f"--compare cannot group by {dimension}: the two windows share no {dimension}",
                hint="compare by type, a relation or meta.KEY",
            )


@dataclass
class Row:
    key: tuple[str | None, ...]
    now: Group | None
    before: Group | None

    @property
    def status(self) -> str:
        if self.now is None:
            return "gone"
        return "new" if self.before is None else "both"


def _change(now: int | Decimal | None, before: int | Decimal | None) -> tuple[Any, float | None]:
    """The absolute and relative change; None for a group absent from either window."""
    if now is None or before is None:
        return None, None
    difference = now - before
    return difference, (round(float(Decimal(difference) / Decimal(before)), 6) if before else None)


def _amount(group: Group | None) -> Decimal | None:
    # A group none of whose records has a price has no cost, which is not $0.
    return None if group is None else group.priced_cost()


def _unpriced(group: Group | None) -> int | None:
    return None if group is None or group.costs is None else group.costs.unpriced_count


@dataclass
class Comparison:
    current: Summary
    previous: Summary
    window: Window
    against: Window

    def rows(self, top: int | None = None, sort: str = "count") -> list[Row]:
        """Groups of the current window, largest first, then those gone, largest first."""
        now, before = self.current.keyed(), self.previous.keyed()
        order = sort_key(sort)
        present = sorted(now.values(), key=order)
        gone = sorted((g for k, g in before.items() if k not in now), key=order)
        rows = [Row(g.key, g, before.get(g.key)) for g in present]
        rows += [Row(g.key, None, g) for g in gone]
        if top is None or len(rows) <= top:
            return rows
        other_key = tuple(OTHER for _ in self.current.by)
        folded_now = self.current.new_group(other_key)
        folded_before = self.previous.new_group(other_key)
        for row in rows[top:]:
            if row.now is not None:
                folded_now.absorb(row.now)
            if row.before is not None:
                folded_before.absorb(row.before)
        return [*rows[:top], Row(other_key, folded_now, folded_before)]

    def total(self) -> Row:
        return Row(self.current.total.key, self.current.total, self.previous.total)

    def row_dict(self, row: Row) -> dict[str, Any]:
        from usage_cli.prices import exact

        out: dict[str, Any] = {"status": row.status}
        for name, value in (("records", "records"), ("count", "count")):
            now = None if row.now is None else getattr(row.now, value)
            before = None if row.before is None else getattr(row.before, value)
            change, ratio = _change(now, before)
            prefix = name[0].upper() + name[1:]
            out |= {
                name: now,
                f"previous{prefix}": before,
                f"{name}Change": change,
                f"{name}ChangeRatio": ratio,
            }
        if self.current.prices is not None:
            now_cost, before_cost = _amount(row.now), _amount(row.before)
            change, ratio = _change(now_cost, before_cost)
            out |= {
                "cost": None if now_cost is None else exact(now_cost),
                "previousCost": None if before_cost is None else exact(before_cost),
                "costChange": None if change is None else exact(change),
                "costChangeRatio": ratio,
                # What the cost leaves out: the count no price covers, in each window.
                "unpricedCount": _unpriced(row.now),
                "previousUnpricedCount": _unpriced(row.before),
            }
        return out

    def to_dict(self, top: int | None = None, sort: str = "count") -> dict[str, Any]:
        by = self.current.by
        out: dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "by": list(by),
            "window": self.window.to_dict(),
            "previous": self.against.to_dict(),
            "groups": [
                {"key": dict(zip(by, row.key, strict=True)), **self.row_dict(row)}
                for row in self.rows(top, sort)
            ],
            "total": {k: v for k, v in self.row_dict(self.total()).items() if k != "status"},
        }
        if self.current.prices is not None:
            out["prices"] = self.current.prices.to_json()
        return out


def write_json(comparison: Comparison, stream: Any, top: int | None, sort: str) -> None:
    import json

    from usage_cli._text import json_escaping_surrogates

    text = json.dumps(comparison.to_dict(top, sort), ensure_ascii=False, indent=2)
    stream.write(json_escaping_surrogates(text) + "\n")


CSV_FIGURES = (
    "status",
    "records",
    "previousRecords",
    "recordsChange",
    "count",
    "previousCount",
    "countChange",
    "countChangeRatio",
)
CSV_MONEY = ("cost", "previousCost", "costChange", "costChangeRatio")


def write_csv(comparison: Comparison, stream: Any, top: int | None, sort: str) -> None:
    """One row per group; an absent window's cells are empty, never 0."""
    import csv

    from usage_cli._text import without_surrogates

    writer = csv.writer(stream, lineterminator="\r\n")
    money = comparison.current.prices is not None
    figures = CSV_FIGURES + (CSV_MONEY if money else ())
    writer.writerow([*comparison.current.by, *figures, *(["pricesSha256"] if money else [])])
    sha = [comparison.current.prices.sha256] if comparison.current.prices is not None else []
    for row in comparison.rows(top, sort):
        data = comparison.row_dict(row)
        cells = ["" if data[name] is None else data[name] for name in figures]
        writer.writerow([*(without_surrogates(p or "") for p in row.key), *cells, *sha])
