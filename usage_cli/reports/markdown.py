"""`usage report PATH.md`: the page as GitHub-flavoured Markdown, for a CI job summary.

Tables, and the series as a Mermaid `xychart-beta` (GitHub draws Mermaid blocks
in job summaries and comments). xychart has no stacked bars, so the chart is the
total per bucket with the compared period as a line; the stacking by type is
the HTML page's. Everything is bounded by the window's buckets and the tables'
rows, far inside GitHub's 1 MiB limit on a job summary (a test holds it there).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from usage_cli._text import on_one_line, plural, without_surrogates
from usage_cli.reports.check import markdown_cell, shown_value
from usage_cli.reports.page import (
    SPIKES_LISTED,
    Page,
    a_unit,
    axis_top,
    share_text,
    short_label,
)


def render(page: Page) -> str:
    lines = [
        f"## Usage report: {page.span()}",
        "",
        f"Count per {page.unit}, {page.zone} calendar"
        + (f"; compared with {page.against_said()}" if page.against else "")
        + ".",
        "",
        *_headline(page),
        "",
        *mermaid(page),
        "",
        *_table(page, page.types, "Top types", "type"),
        "",
        *_table(page, page.bots, "Top bots", "bot"),
        "",
        *_spikes(page),
        *_unpriced(page),
        *_evidence(page),
    ]
    return without_surrogates("\n".join(lines) + "\n")


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _money(page: Page, text: str | None) -> str:
    from usage_cli.prices import shown

    return "no price" if text is None else shown(Decimal(text), page.currency)


def _ratio(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{'+' if ratio > 0 else ''}{ratio * 100:.1f}%"


def _headline(page: Page) -> list[str]:
    total, change = page.total, page.change
    coverage = total.get("coverage")
    cost = _money(page, total.get("cost"))
    if coverage is not None:
        cost += f" (priced: {share_text(coverage)} of the count)"
    if change is None:
        return [
            "| records | count | cost |",
            "|--:|--:|--:|",
            f"| {_n(total['records'])} | {_n(total['count'])} | {cost} |",
        ]
    return [
        "| | now | compared period | change |",
        "|---|--:|--:|--:|",
        f"| records | {_n(total['records'])} | {_n(change['previousRecords'])} "
        f"| {_ratio(change['recordsChangeRatio'])} |",
        f"| count | {_n(total['count'])} | {_n(change['previousCount'])} "
        f"| {_ratio(change['countChangeRatio'])} |",
        f"| cost | {cost} | {_money(page, change.get('previousCost'))} "
        f"| {_ratio(change.get('costChangeRatio'))} |",
    ]


def _quoted(text: str) -> str:
    # Mermaid's strings have no escape for a double quote: it would end the string.
    return '"' + on_one_line(text).replace('"', "'") + '"'


def mermaid(page: Page) -> list[str]:
    """The series as a fenced Mermaid `xychart-beta` block."""
    totals = [bucket.total for bucket in page.buckets]
    previous = [bucket.previous or 0 for bucket in page.buckets]
    top = axis_top(max([*totals, *(previous if page.against else []), 0]))
    labels = ", ".join(_quoted(short_label(bucket.label, page.unit)) for bucket in page.buckets)
    lines = [
        "```mermaid",
        "xychart-beta",
        f"    title {_quoted(f'Count per {page.unit}')}",
        f"    x-axis [{labels}]",
        f'    y-axis "count" 0 --> {top}',
        f"    bar [{', '.join(str(t) for t in totals)}]",
    ]
    if page.against is not None:
        lines.append(f"    line [{', '.join(str(p) for p in previous)}]")
    lines.append("```")
    if page.against is not None:
        lines += ["", f"Bars: this window; line: the compared period ({page.against_span()})."]
    return lines


def _table(page: Page, document: dict[str, Any], heading: str, key: str) -> list[str]:
    total = document["total"]["count"] or 0
    lines = [
        f"### {heading}",
        "",
        f"| {key} | count | share | records | cost |",
        "|---|--:|--:|--:|--:|",
    ]
    for group in document["groups"]:
        name = group["key"][key]
        share = group["count"] / total if total else 0.0
        cost = _money(page, group.get("cost"))
        unpriced = (group.get("unpriced") or {}).get("count", 0)
        if group.get("cost") is not None and unpriced:
            cost += f" (+{_n(unpriced)} unpriced)"
        lines.append(
            f"| {markdown_cell('(none)' if name is None else name)} | {_n(group['count'])} "
            f"| {share * 100:.1f}% | {_n(group['records'])} | {cost} |"
        )
    if not document["groups"]:
        lines.append("| (no records) | | | | |")
    return lines


def _spikes(page: Page) -> list[str]:
    rule = page.spike_rule
    words = (
        f"{a_unit(page.unit)}'s {rule.metric} per type above {rule.factor} times the median of the "
        f"{rule.windows} {page.unit}s before it, as `usage check {rule.label}` decides"
    )
    if not page.spikes:
        return ["### Spikes", "", f"None: no {words}.", ""]
    lines = [
        "### Spikes",
        "",
        f"{plural(len(page.spikes), 'spike')}: {words}.",
        "",
        f"| {page.unit} | type | {rule.metric} | median before |",
        "|---|---|--:|--:|",
    ]
    for spike in page.spikes[:SPIKES_LISTED]:
        lines.append(
            f"| {spike.bucket} | {markdown_cell(spike.type or '(none)')} "
            f"| {shown_value(spike.value, rule.metric, page.currency)} "
            f"| {shown_value(spike.median, rule.metric, page.currency)} |"
        )
    if len(page.spikes) > SPIKES_LISTED:
        lines += ["", f"and {len(page.spikes) - SPIKES_LISTED:,} more."]
    return [*lines, ""]


def _unpriced(page: Page) -> list[str]:
    if not page.unpriced:
        return []
    kinds = ", ".join(
        f"{markdown_cell(kind)} ({_n(count)})" for kind, count in page.unpriced.items()
    )
    return [
        "### Unpriced usage",
        "",
        f"A count of {_n(sum(page.unpriced.values()))} has no price, so the cost leaves it "
        f"out (it is not $0): {kinds}.",
        "",
    ]


def _evidence(page: Page) -> list[str]:
    import json

    found = page.evidence
    lines = [
        "### Evidence",
        "",
        f"- query: `{json.dumps(found.query, ensure_ascii=False)}`",
    ]
    if page.against is not None:
        lines.append(f"- compared with: {page.against_said()}")
    lines.append(f"- source: `{found.source}`")
    if found.head is not None:
        lines.append(f"- archive head: `{found.head}`")
    if found.verified is not None:
        lines.append(f"- verify: {on_one_line(found.verified)}")
    lines += [
        f"- prices: {found.prices.label()}, sha256 `{found.prices.sha256}`",
        f"- tool: usage {found.version}",
        f"- made at: {found.made_at}",
    ]
    return lines
