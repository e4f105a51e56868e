"""`usage report`: what one page says of a window, drawn from the core's summaries.

Nothing is counted here: the figures are `Summary.to_dict`'s (so the page and
`usage summary -o json` agree to the digit), the change is `Comparison`'s, a
spike is `check.evaluate_spike`'s verdict on one bucket against the buckets
before it. This module lays those out for the two writers, `html` and
`markdown`, which only draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from usage_cli.check import BREACH, SpikeRule, evaluate_spike, fold
from usage_cli.compare import Comparison, Window
from usage_cli.summary import OTHER, Summary, bucket_of

if TYPE_CHECKING:
    from usage_cli.prices import PriceTable

# The chart stacks this many types; the rest is one "other" band, so the
# colours stay few enough to tell apart (and to name in a legend).
CHART_TYPES = 5
# Rows of the bots and types tables; the rest folds into summary's "(other)".
TABLE_ROWS = 10
# A spike list longer than this says "and N more": a page, not a log.
SPIKES_LISTED = 30
HOUR_UP_TO = timedelta(days=2)
DAY_UP_TO = timedelta(days=92)


def unit_for(window: Window) -> str:
    """The chart's bucket: an hour over two days or less, a day up to about 90, else a week."""
    # The span between the ends: `--since 2d` (now less two days, until now) is two days.
    length = timedelta(milliseconds=window.until - window.since)
    if length <= HOUR_UP_TO:
        return "hour"
    return "day" if length <= DAY_UP_TO else "week"


def labels(window: Window, unit: str, zone: tzinfo) -> list[str]:
    """Every bucket of the window in order, empty ones included (a chart keeps its gaps).

    Stepped an hour at a time (a day at a time for weeks), taking each new label:
    a local day of 23 or 25 hours is still one day, whatever the zone's rules.
    """
    label = bucket_of(unit, zone)
    step = 24 * 3600_000 if unit == "week" else 3600_000
    found = dict.fromkeys(label(at) for at in range(window.since, window.until + 1, step))
    found[label(window.until)] = None
    return list(found)


def before(window: Window, unit: str, buckets: int) -> Window:
    """The `buckets` whole units just before `window`: the history of its first buckets' spikes."""
    hours = {"hour": 1, "day": 24, "week": 24 * 7}[unit] * buckets
    return Window(window.since - hours * 3600_000, window.since - 1)


def axis_top(top: int) -> int:
    """The axis's top: 1, 2 or 5 times a power of ten, at or above `top`."""
    if top <= 0:
        return 1
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= top:
                return step * scale
        scale *= 10


def short_label(label: str, unit: str) -> str:
    """A bucket's label under a chart: the hour, or the month and day."""
    if unit == "hour":
        return label[11:16]
    return label[5:10]


@dataclass(frozen=True)
class Bucket:
    label: str
    # Count per charted series (the top types, then "other"), in `Page.series` order.
    counts: tuple[int, ...]
    # The compared period's count in the bucket at the same place; None without --compare,
    # or past the compared period's end (March's 31st against February).
    previous: int | None
    spiked: bool

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class Spike:
    bucket: str
    type: str | None
    value: Decimal
    median: Decimal
    limit: Decimal


@dataclass(frozen=True)
class Evidence:
    """Where the figures come from, for whoever has to trust them."""

    query: dict[str, Any]
    source: str
    prices: PriceTable
    version: str
    made_at: str
    # From an archive: its head (hex) and `usage verify`'s verdict on it.
    head: str | None = None
    verified: str | None = None
    verified_ok: bool | None = None


@dataclass(frozen=True)
class Page:
    window: Window
    zone: str
    unit: str
    # `Summary.to_dict` of the window by type (the types table and the headline total)
    # and by bot; `Comparison.to_dict`'s total when there is a compared period.
    types: dict[str, Any]
    bots: dict[str, Any]
    change: dict[str, Any] | None
    against: Window | None
    series: tuple[str, ...]
    buckets: tuple[Bucket, ...]
    spikes: tuple[Spike, ...]
    spike_rule: SpikeRule
    # Unpriced type -> count: what the cost leaves out.
    unpriced: dict[str, int]
    currency: str
    evidence: Evidence
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> dict[str, Any]:
        total: dict[str, Any] = self.types["total"]
        return total

    def span(self) -> str:
        shown = self.window.to_dict()
        return f"{shown['since']} .. {shown['until']}"

    def against_span(self) -> str | None:
        if self.against is None:
            return None
        shown = self.against.to_dict()
        return f"{shown['since']} .. {shown['until']}"

    def against_said(self) -> str | None:
        """The compared span to the millisecond, and which rule chose it when one did
        (a month's previous is the calendar month, not the 31 days, before it)."""
        span = self.against_span()
        if span is None or self.against is None:
            return None
        from usage_cli.compare import described

        rule = described(self.window, self.against)
        return f"{span} ({rule})" if rule else span


@dataclass(frozen=True)
class Inputs:
    """The summaries one report is drawn from (see `cli/_report` for how they are read)."""

    by_type: Summary
    by_bot: Summary
    # By (bucket, type): the window's, and the spike rule's buckets before it.
    series: Summary
    labels: list[str]
    history_series: Summary
    history: list[str]
    previous_by_type: Summary | None = None
    # By (bucket,), over the compared period.
    previous_series: Summary | None = None
    previous_labels: list[str] = field(default_factory=list)


def build(
    inputs: Inputs,
    *,
    window: Window,
    against: Window | None,
    unit: str,
    zone: str,
    spike: SpikeRule,
    evidence: Evidence,
) -> Page:
    by_type = inputs.by_type
    charted = [group.key[0] or "" for group in by_type.groups()[:CHART_TYPES]]
    has_other = len(by_type.groups()) > CHART_TYPES
    series = (*charted, OTHER) if has_other else tuple(charted)
    per_bucket = {label: _bucket_summary(inputs.history_series, label) for label in inputs.history}
    per_bucket |= {label: _bucket_summary(inputs.series, label) for label in inputs.labels}
    spikes = _spikes(spike, [*inputs.history, *inputs.labels], per_bucket, len(inputs.history))
    spiked = {found.bucket for found in spikes}
    previous = _previous_counts(inputs)
    buckets = []
    for index, label in enumerate(inputs.labels):
        counts = {key[0] or "": group.count for key, group in per_bucket[label].keyed().items()}
        row = [counts.get(kind, 0) for kind in charted]
        if has_other:
            row.append(sum(c for kind, c in counts.items() if kind not in charted))
        before_count = None if previous is None or index >= len(previous) else previous[index]
        buckets.append(Bucket(label, tuple(row), before_count, label in spiked))
    change = None
    if inputs.previous_by_type is not None and against is not None:
        comparison = Comparison(by_type, inputs.previous_by_type, window, against)
        change = comparison.to_dict(TABLE_ROWS)["total"]
    costs = by_type.total.costs
    unpriced = {} if costs is None else {kind: c for kind, (_, c) in sorted(costs.unpriced.items())}
    return Page(
        window=window,
        zone=zone,
        unit=unit,
        types=by_type.to_dict(TABLE_ROWS),
        bots=inputs.by_bot.to_dict(TABLE_ROWS),
        change=change,
        against=against,
        series=series,
        buckets=tuple(buckets),
        spikes=tuple(spikes),
        spike_rule=spike,
        unpriced=unpriced,
        currency=evidence.prices.currency,
        evidence=evidence,
    )


def regroup(
    summary: Summary, by: tuple[str, ...], selector: tuple[str, str] | None = None
) -> Summary:
    """`summary`'s groups (those of `selector` only, if given) folded onto `by`, a part of
    its dimensions: the same groups, records, counts and exact costs as a summary by
    `by` alone (a test holds them to `usage summary`'s)."""
    found = Summary(by, prices=summary.prices)
    for group in fold(summary, by, selector).values():
        found.merge(group)
    return found


def _bucket_summary(series: Summary, label: str) -> Summary:
    """One bucket's groups by type, as `check --spike` measures a window."""
    return regroup(series, ("type",), (series.by[0], label))


def _spikes(
    rule: SpikeRule, order: Sequence[str], per_bucket: dict[str, Summary], skip: int
) -> list[Spike]:
    """Each bucket of the window against the median of the `rule.windows` buckets before it:
    `check --spike`'s rule, with a bucket for its window."""
    found = []
    for index in range(skip, len(order)):
        # Back in time from the bucket before, as `evaluate_spike` takes them.
        before = order[max(0, index - rule.windows) : index][::-1]
        earlier = [per_bucket[label] for label in before]
        if not earlier:
            continue
        current = per_bucket[order[index]]
        # Buckets with no earlier record are no baseline (`check --spike`'s rule): no verdict.
        results, _ = evaluate_spike(rule, current, earlier, ("type",), None)
        for result in results:
            if result.status == BREACH:
                kind = None if result.group is None else result.group.get("type")
                median = result.baseline if result.baseline is not None else Decimal(0)
                found.append(Spike(order[index], kind, result.value, median, result.limit))
    return found


def _previous_counts(inputs: Inputs) -> list[int] | None:
    """The compared period's count per bucket, by place: its first bucket under the
    window's first, so the faint line reads as "the same day, last period"."""
    if inputs.previous_series is None:
        return None
    counts = {group.key[0]: group.count for group in inputs.previous_series.keyed().values()}
    return [counts.get(label, 0) for label in inputs.previous_labels]


def made_at(env: Mapping[str, str], now: datetime) -> str:
    """When the page was made: `SOURCE_DATE_EPOCH` (reproducible builds' convention) when
    set, so the same input gives the same bytes; else now."""
    from usage_cli.errors import InputError

    text = env.get("SOURCE_DATE_EPOCH")
    if text:
        try:
            now = datetime.fromtimestamp(int(text), UTC)
        except (ValueError, OverflowError, OSError):
            raise InputError(
                f"SOURCE_DATE_EPOCH={text!r} is not a time in seconds since 1970",
                hint="e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)",
            ) from None
    return now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def share_text(fraction: float | Decimal) -> str:
    """A share as a percentage to a tenth, never rounded onto 0% or 100% that it is
    not: 99.96% priced is not all of it."""
    text = f"{float(fraction) * 100:.1f}%"
    if text == "100.0%" and fraction < 1:
        return ">99.9%"
    if text == "0.0%" and fraction > 0:
        return "<0.1%"
    return text


def a_unit(unit: str) -> str:
    """`an hour`, `a day`: the unit with its article."""
    return f"an {unit}" if unit == "hour" else f"a {unit}"
