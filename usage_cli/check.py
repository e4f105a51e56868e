"""`usage check`: thresholds on a window's usage, for CI and cron.

Rules are read (and refused, exit 2) before any request: `--max-records`,
`--max-count`, `--max-cost` take `[DIMENSION=VALUE:]AMOUNT` (`2M`, `1.5k`,
`$50`), and `--spike [METRIC:]FACTORx` compares the window with the median of
the equal windows before it. Each rule is measured overall, or per group of
`--by`; a value above its limit is a breach (exit 7), one at or above
`--warn-at` of it a warning (exit 0).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from usage_cli._version import SCHEMA_VERSION
from usage_cli.errors import InputError, unknown_choice
from usage_cli.summary import BUCKETS, DIMENSIONS, Group, Summary

METRICS = ("records", "count", "cost")
_SCALE = {"": 1, "k": 1000, "K": 1000, "M": 1_000_000, "G": 1_000_000_000, "B": 1_000_000_000}
_AMOUNT = re.compile(r"\$?\s*(\d+(?:\.\d+)?)\s*([kKMGB]?)")
# A spike below this (in the window) pages nobody: quiet groups stay quiet.
DEFAULT_FLOORS = {"records": Decimal(10), "count": Decimal(1000), "cost": Decimal(1)}
OK, WARN, BREACH = "ok", "warn", "breach"
# A cost with no price for any of its records: never $0, and no verdict.
UNPRICED = "unpriced"


@dataclass(frozen=True)
class Rule:
    """`--max-METRIC [DIMENSION=VALUE:]AMOUNT`."""

    flag: str
    text: str
    metric: str
    limit: Decimal
    selector: tuple[str, str] | None = None

    @property
    def label(self) -> str:
        return f"{self.flag} {self.text}"


@dataclass(frozen=True)
class SpikeRule:
    """`--spike [METRIC:]FACTORx` against the median of `windows` earlier windows."""

    text: str
    metric: str
    factor: Decimal
    floor: Decimal
    windows: int

    @property
    def label(self) -> str:
        return f"--spike {self.text}"


def amount(text: str, flag: str, *, whole: bool) -> Decimal:
    """`2M`, `1.5k`, `$50`, `500000` as an exact number; `whole` for records and counts."""
    match = _AMOUNT.fullmatch(text.strip())
    if not match:
        raise InputError(
            f"{flag}: cannot read {text!r} as an amount", hint="e.g. 50, 1.5k, 2M, $50"
        )
    value = Decimal(match.group(1)) * _SCALE[match.group(2)]
    if whole and value != value.to_integral_value():
        raise InputError(f"{flag}: {text!r} is not a whole number")
    return value


def check_dimension(dimension: str, flag: str) -> None:
    """A dimension to select or group by: known, and not a time bucket."""
    if dimension.startswith("meta.") and len(dimension) > len("meta."):
        return
    choices = [d for d in DIMENSIONS if d not in BUCKETS]
    if dimension in BUCKETS:
        raise InputError(
            f"{flag}: cannot group by {dimension!r}: a check measures one window as a whole",
            hint="set the window with --since/--until; group by " + ", ".join(choices),
        )
    if dimension not in choices:
        raise unknown_choice(
            f"{flag}: unknown group {dimension!r}",
            dimension,
            choices,
            hint="groups: " + ", ".join(choices) + ", or meta.KEY",
        )


def parse_rule(flag: str, text: str) -> Rule:
    metric = flag.removeprefix("--max-")
    selector = None
    limit_text = text
    if "=" in text:
        # The limit follows the last colon, so a value may hold colons itself.
        pair, sep, limit_text = text.rpartition(":")
        dimension, _, value = pair.partition("=")
        if not sep or not dimension.strip() or not value:
            raise InputError(
                f"{flag} {text!r}: a group is DIMENSION=VALUE:AMOUNT",
                hint=f"e.g. {flag} type=OPENAI_GPT_4O_TOKEN:2M",
            )
        check_dimension(dimension.strip(), flag)
        selector = (dimension.strip(), value)
    limit = amount(limit_text, f"{flag} {text!r}", whole=metric != "cost")
    return Rule(flag, text, metric, limit, selector)


def parse_spike(text: str, *, floor: str | None, windows: int) -> SpikeRule:
    metric, sep, factor_text = text.rpartition(":")
    metric = metric.strip() if sep else "count"
    if metric not in METRICS:
        raise unknown_choice(
            f"--spike {text!r}: cannot measure {metric!r}",
            metric,
            METRICS,
            hint="--spike [records:|count:|cost:]FACTORx, e.g. --spike 3x",
        )
    try:
        factor = Decimal(factor_text.strip().removesuffix("x").removesuffix("X"))
    except InvalidOperation:
        factor = Decimal(0)
    if not factor.is_finite() or factor <= 1:
        raise InputError(
            f"--spike {text!r}: the factor must be a number above 1, such as 3x",
            hint="a spike is a window above FACTOR times the median of the windows before",
        )
    if not 1 <= windows <= 365:
        raise InputError(f"--baseline must be between 1 and 365 windows, not {windows}")
    if floor is not None and metric != "cost" and floor.strip().startswith("$"):
        raise InputError(
            f"--spike-floor {floor!r} is money, but --spike {text!r} measures {metric}",
            hint=f"give the floor in {metric}, e.g. --spike-floor 10",
        )
    low = (
        DEFAULT_FLOORS[metric]
        if floor is None
        else amount(floor, "--spike-floor", whole=metric != "cost")
    )
    return SpikeRule(text, metric, factor, low, windows)


def parse_warn_at(text: str | None) -> Decimal | None:
    if text is None:
        return None
    word = text.strip()
    try:
        value = Decimal(word[:-1]) / 100 if word.endswith("%") else Decimal(word)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or not 0 < value < 1:
        raise InputError(f"--warn-at {text!r}: must be a share below the limit, such as 80% or 0.8")
    return value


@dataclass
class Result:
    label: str
    metric: str
    group: dict[str, str | None] | None
    value: Decimal
    limit: Decimal
    status: str
    baseline: Decimal | None = None
    # For a cost: the count in the group that no price covers (not in `value`).
    unpriced: int = 0

    @property
    def used(self) -> float | None:
        if self.status == UNPRICED or not self.limit:
            return None
        return float(self.value / self.limit)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "rule": self.label,
            "metric": self.metric,
            "group": self.group,
            "value": None if self.status == UNPRICED else _number(self.value, self.metric),
            "limit": _number(self.limit, self.metric),
            "used": None if self.used is None else round(self.used, 6),
            "status": self.status,
        }
        if self.baseline is not None:
            out["baseline"] = _number(self.baseline, self.metric)
        if self.metric == "cost":
            out["unpricedCount"] = self.unpriced
        return out


def _number(value: Decimal, metric: str) -> Any:
    """Counts as JSON integers; money as exact text; a median may be a half."""
    from usage_cli.prices import exact

    if metric != "cost" and value == value.to_integral_value():
        return int(value)
    return exact(value)


def measure(group: Group, metric: str) -> Decimal:
    if metric == "records":
        return Decimal(group.records)
    if metric == "count":
        return Decimal(group.count)
    assert group.costs is not None
    return group.costs.amount


def unpriced_only(group: Group, metric: str) -> bool:
    """A cost that no price covers: records, none of them priced."""
    costs = group.costs
    return metric == "cost" and costs is not None and 0 < group.records == costs.unpriced_records


def _status(value: Decimal, limit: Decimal, warn_at: Decimal | None) -> str:
    if value > limit:
        return BREACH
    if warn_at is not None and value >= warn_at * limit and value > 0:
        return WARN
    return OK


def fold(summary: Summary, by: Sequence[str], selector: tuple[str, str] | None) -> dict[Any, Group]:
    """The summary's groups (over `by` and selector dimensions) folded onto `by` alone."""
    positions = [summary.by.index(dimension) for dimension in by]
    chosen = None if selector is None else (summary.by.index(selector[0]), selector[1])
    folded: dict[Any, Group] = {}
    for group in summary.keyed().values():
        if chosen is not None and group.key[chosen[0]] != chosen[1]:
            continue
        key = tuple(group.key[index] for index in positions)
        if key not in folded:
            folded[key] = summary.new_group(key)
        folded[key].absorb(group)
    if not by and () not in folded:
        folded[()] = summary.new_group(())  # nothing matched: a true zero, measured
    return folded


def _result(
    rule: Rule | SpikeRule,
    by: Sequence[str],
    key: Any,
    group: Group,
    value: Decimal,
    limit: Decimal,
    status: str,
    baseline: Decimal | None = None,
) -> Result:
    """One group's result; a cost that no price covers has no verdict (UNPRICED)."""
    return Result(
        rule.label,
        rule.metric,
        dict(zip(by, key, strict=True)) if by else None,
        value,
        limit,
        UNPRICED if unpriced_only(group, rule.metric) else status,
        baseline=baseline,
        unpriced=group.costs.unpriced_count if group.costs is not None else 0,
    )


def unmatched(rules: Sequence[Rule], summary: Summary) -> list[Rule]:
    """Rules whose GROUP=VALUE names no group of the window: a typo checks nothing."""
    groups = summary.keyed()
    missing = []
    for rule in rules:
        if rule.selector is None:
            continue
        index = summary.by.index(rule.selector[0])
        if not any(key[index] == rule.selector[1] for key in groups):
            missing.append(rule)
    return missing


def evaluate(
    rules: Sequence[Rule], summary: Summary, by: Sequence[str], warn_at: Decimal | None
) -> list[Result]:
    results = []
    for rule in rules:
        for key, group in fold(summary, by, rule.selector).items():
            value = measure(group, rule.metric)
            status = _status(value, rule.limit, warn_at)
            results.append(_result(rule, by, key, group, value, rule.limit, status))
    return results


@dataclass(frozen=True)
class Baseline:
    """The earlier windows a spike's median was asked over, and those with any record."""

    windows: int
    with_records: int

    @property
    def left_out(self) -> int:
        return self.windows - self.with_records

    def to_dict(self) -> dict[str, int]:
        return {"windows": self.windows, "withRecords": self.with_records}


def evaluate_spike(
    rule: SpikeRule,
    current: Summary,
    earlier: Sequence[Summary],
    by: Sequence[str],
    warn_at: Decimal | None,
) -> tuple[list[Result], Baseline]:
    """Each group of the window against the median of its values in the earlier windows.

    `earlier` runs back in time, the window just before first. A group absent
    from an earlier window that has records used nothing then: 0 in the median.
    A window with no record at all is no baseline (before the data starts, or
    past the API's ~90-day horizon): counted as 0 it would make every group a
    spike, so it is left out, and so is the oldest window with records when an
    older one is empty (the data starts inside it: it holds part of a window).
    With none left there is no verdict.
    """
    has = [bool(summary.total.records) for summary in earlier]
    if False in has and True in has:
        oldest = len(has) - 1 - has[::-1].index(True)
        if False in has[oldest + 1 :]:
            has[oldest] = False
    seen = [summary for summary, kept in zip(earlier, has, strict=True) if kept]
    baseline = Baseline(len(earlier), len(seen))
    if not seen:
        return [], baseline
    results = []
    before = [fold(summary, by, None) for summary in seen]
    for key, group in fold(current, by, None).items():
        value = measure(group, rule.metric)
        history = [measure(f[key], rule.metric) if key in f else Decimal(0) for f in before]
        median = Decimal(statistics.median(history))
        limit = rule.factor * median
        status = _status(value, limit, warn_at) if value >= rule.floor else OK
        results.append(_result(rule, by, key, group, value, limit, status, baseline=median))
    return results, baseline


_RANK = {BREACH: 0, WARN: 1, UNPRICED: 2, OK: 3}


def ordered(results: Sequence[Result]) -> list[Result]:
    """Breaches first, then warnings, then the rest; the most used first within each."""
    return sorted(results, key=lambda r: (_RANK[r.status], -(r.used or 0)))


def to_dict(
    results: Sequence[Result],
    *,
    window: dict[str, str],
    by: Sequence[str],
    warn_at: Decimal | None,
    prices: Any,
    baseline: Baseline | None = None,
) -> dict[str, Any]:
    counts = {status: sum(1 for r in results if r.status == status) for status in _RANK}
    # No result at all is a spike with no baseline: no verdict, which is not ok.
    status = BREACH if counts[BREACH] else WARN if counts[WARN] else OK if results else "none"
    out: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "status": status,
        "window": window,
        "by": list(by),
        "warnAt": None if warn_at is None else float(warn_at),
        "checks": len(results),
        "breaches": counts[BREACH],
        "warnings": counts[WARN],
        "results": [result.to_dict() for result in ordered(results)],
    }
    if baseline is not None:
        out["spikeBaseline"] = baseline.to_dict()
    if prices is not None:
        out["prices"] = prices.to_json()
    return out
