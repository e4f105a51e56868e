"""`usage check` for people: a line per result, its table's cells, a Markdown report.

What a check decides (rules, groups, verdicts, the JSON document) is
`usage_cli.check`'s; this is how a person or a CI job summary reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from usage_cli._text import on_one_line
from usage_cli.check import BREACH, OK, UNPRICED, WARN, Result, ordered


def describe(result: Result, currency: str = "USD") -> str:
    """One line for stderr: which group, which rule, how far."""
    where = (
        ", ".join(f"{k}={v if v is not None else '(none)'}" for k, v in result.group.items())
        if result.group
        else "overall"
    )
    used = "" if result.used is None else f" ({result.used * 100:.1f}% of the limit)"
    text = f"{where}: {result.metric} {shown_value(result.value, result.metric, currency)}"
    text += f" against {shown_value(result.limit, result.metric, currency)}{used}"
    if result.baseline is not None:
        median = shown_value(result.baseline, result.metric, currency)
        text += f", median of the earlier windows {median}"
    return f"{text} [{result.label}]"


def shown_value(value: Decimal, metric: str, currency: str = "USD") -> str:
    from usage_cli.prices import shown

    if metric == "cost":
        return shown(value, currency)
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _group_text(result: Result) -> str:
    if not result.group:
        return "overall"
    return ", ".join(f"{k}={v if v is not None else '(none)'}" for k, v in result.group.items())


def rows(results: Sequence[Result], currency: str = "USD") -> list[list[str]]:
    """status, rule, group, value, limit, used: the cells of a table or markdown."""
    out = []
    for result in ordered(results):
        limit = shown_value(result.limit, result.metric, currency)
        if result.baseline is not None:
            limit += f" (median {shown_value(result.baseline, result.metric, currency)})"
        out.append(
            [
                result.status,
                result.label,
                _group_text(result),
                UNPRICED
                if result.status == UNPRICED
                else shown_value(result.value, result.metric, currency)
                + ("*" if result.metric == "cost" and result.unpriced else ""),
                limit,
                "" if result.used is None else f"{result.used * 100:.1f}%",
            ]
        )
    return out


HEADERS = ("status", "rule", "group", "value", "limit", "used")


def write_markdown(
    results: Sequence[Result], stream: Any, *, window: str, prices: Any, currency: str = "USD"
) -> None:
    """A GitHub/GitLab-flavoured report, for `$GITHUB_STEP_SUMMARY` or a merge request."""
    breaches = sum(1 for r in results if r.status == BREACH)
    warnings = sum(1 for r in results if r.status == WARN)
    verdict = (
        f"{breaches} breached"
        if breaches
        else f"{warnings} near the limit"
        if warnings
        else "all within limits"
    )
    lines = [f"### usage check: {verdict}", "", f"{len(results)} checks over {window}.", ""]
    lines.append("| " + " | ".join(HEADERS) + " |")
    lines.append("|" + "|".join(["---"] * 3 + ["--:"] * 3) + "|")
    icons = {BREACH: "❌ breach", WARN: "⚠️ warn", OK: "✅ ok", UNPRICED: "❔ unpriced"}
    for row in rows(results, currency):
        cells = [icons[row[0]], *(markdown_cell(cell) for cell in row[1:])]
        lines.append("| " + " | ".join(cells) + " |")
    note = unpriced_note(results)
    if note:
        lines += ["", note]
    if prices is not None:
        lines += ["", f"Prices: {prices.label()}, sha256 `{prices.sha256}`."]
    stream.write("\n".join(lines) + "\n")


def markdown_cell(text: str) -> str:
    # Group values come from the API (ids, meta): their control codes are escaped as
    # a table cell's are (an ESC or OSC in a job summary, or a terminal, runs there).
    # A pipe would end the cell; a backslash-escaped one shows as itself.
    shown = on_one_line(text)
    return shown.replace("\\", "\\\\").replace("|", "\\|")


def unpriced_note(results: Sequence[Result]) -> str | None:
    """What a cost limit cannot see: usage with no price, said whenever there is some."""
    if not any(r.metric == "cost" and r.unpriced for r in results):
        return None
    return (
        "cost limits cover priced usage only: * marks a cost with unpriced records, and a "
        "group with no priced record is 'unpriced' (never $0); see `usage prices`"
    )
