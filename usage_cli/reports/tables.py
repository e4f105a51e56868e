"""The reports people read as tables: summary, comparison, check results, price table.

Each turns its figures into `Column`s and leaves fitting and drawing to
`formats.table`; the notes beneath a table (prices, windows) are written here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TextIO

from usage_cli._text import on_one_line
from usage_cli.columns import shown
from usage_cli.display import Display
from usage_cli.formats.table import BAR_FLOOR, Column, display_for, render

_EIGHTHS = " ▏▎▍▌▋▊▉"
# The share column: `  5.1%` and a bar of up to 20 cells after a space; at the
# table's floor for a bar only the figure is left.
_SHARE = BAR_FLOOR
_BAR = 20


def bar(value: int, largest: int, width: int = 24) -> str:
    """A proportional bar in eighth-of-a-cell steps."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / largest * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def cost_cell(group: Any, currency: str) -> str:
    """A group's cost for a person: `unpriced` when nothing in it has a price, and a `*`
    when part of its count has none (never a silent $0)."""
    from usage_cli.prices import shown as money

    costs = group.costs
    if costs is None:
        return ""
    if not costs.priced_count and costs.unpriced_count:
        return "unpriced"
    return money(costs.amount, currency) + ("*" if costs.unpriced_count else "")


def money_notes(summary: Any, *, short: bool = False) -> list[str]:
    """The lines under a table with money: what is unpriced, coverage, and the prices' hash."""
    from usage_cli.prices import shown as money
    from usage_cli.summary import coverage

    total = summary.total
    costs = total.costs
    lines: list[str] = []
    if costs.unpriced:
        kinds = ", ".join(
            f"{kind} ({records:,} records, count {count:,})"
            for kind, (records, count) in sorted(costs.unpriced.items())
        )
        covered = coverage(total)
        lines.append(f"unpriced (no price in the table, not $0): {kinds}")
        if covered is not None:
            lines.append(
                f"the cost {money(costs.amount, summary.prices.currency)} covers "
                f"{covered * 100:.1f}% of the count; * marks groups with unpriced records"
            )
    lines.append(summary.prices.note(short=short))
    return lines


def render_summary(
    summary: Any,
    stream: TextIO,
    top: int | None = None,
    display: Display | None = None,
    sort: str = "count",
    order: str = "asc",
) -> None:
    """The summary as a table: groups, bars, and the grand total as a footer."""
    from usage_cli.summary import NONE

    display = display_for(stream, display)
    zone = display.zone
    groups = summary.groups(top, sort, order)
    total = summary.total
    largest = max((group.count for group in groups), default=0)
    shares = [group.count / total.count * 100 if total.count else 0.0 for group in groups]

    def share_cells(width: int) -> list[str]:
        room = min(width - _SHARE - 1, _BAR)
        return [
            f"{share:5.1f}%" + (f" {bar(group.count, largest, room)}" if room > 0 else "")
            for share, group in zip(shares, groups, strict=True)
        ]

    columns = [
        Column(
            dimension,
            [
                on_one_line(group.key[index]) if group.key[index] is not None else NONE
                for group in groups
            ],
            footer="total" if index == 0 else "",
            key=True,
        )
        for index, dimension in enumerate(summary.by)
    ]
    columns += [
        Column(
            "records", [f"{g.records:,}" for g in groups], f"{total.records:,}", "right", key=True
        ),
        Column("count", [f"{g.count:,}" for g in groups], f"{total.count:,}", "right", key=True),
        Column("share", share_cells(_SHARE + 1 + _BAR), render=share_cells),
    ]
    if summary.prices is not None:
        currency = summary.prices.currency
        whole = total.costs.amount

        def cost_share(group: Any) -> str:
            amount = group.costs.amount
            return f"{amount / whole * 100:5.1f}%" if whole else ""

        columns += [
            Column(
                "cost",
                [cost_cell(g, currency) for g in groups],
                cost_cell(total, currency),
                "right",
                key=True,
            ),
            Column("cost share", [cost_share(g) for g in groups], justify="right"),
        ]
    columns += [
        Column(
            f"first ({display.zone_name})",
            [shown(g.first, "createdAt", zone) for g in groups],
            shown(total.first, "createdAt", zone),
        ),
        Column(
            f"last ({display.zone_name})",
            [shown(g.last, "createdAt", zone) for g in groups],
            shown(total.last, "createdAt", zone),
        ),
    ]
    share = len(summary.by) + 2
    render(
        columns,
        stream,
        display,
        footer=True,
        style=lambda index: "cyan" if index == share else None,
        shows_hidden="--wide shows them",
    )
    if summary.prices is not None:
        _notes(money_notes(summary, short=display.width is not None), stream, display)


def _signed(value: Any) -> str:
    return f"{value:+,}" if value else "0"


def percent_change(value: float | None) -> str:
    """A change as a signed percentage; no change has no sign, and thousands are
    grouped as in every other figure."""
    if value is None:
        return ""
    return "0.0%" if value == 0 else f"{value * 100:+,.1f}%"


def render_comparison(
    comparison: Any,
    stream: TextIO,
    top: int | None = None,
    display: Display | None = None,
    sort: str = "count",
) -> None:
    """Two windows side by side: count, previous, change; new and gone groups named."""
    from usage_cli.prices import shown as money
    from usage_cli.summary import NONE

    display = display_for(stream, display)
    rows = comparison.rows(top, sort)
    total = comparison.total()
    data = [comparison.row_dict(row) for row in rows]
    whole = comparison.row_dict(total)
    absent = "—"

    def figure(row: dict[str, Any], name: str) -> str:
        value = row[name]
        return absent if value is None else f"{value:,}"

    def change(row: dict[str, Any], name: str, signed: Callable[[Any], str] = _signed) -> str:
        if row["status"] != "both":
            return str(row["status"])
        return signed(row[name])

    def ratio(row: dict[str, Any], name: str) -> str:
        return percent_change(row[name])

    columns = [
        Column(
            dimension,
            [on_one_line(row.key[index]) if row.key[index] is not None else NONE for row in rows],
            footer="total" if index == 0 else "",
            key=True,
        )
        for index, dimension in enumerate(comparison.current.by)
    ]
    whole["status"] = "both"
    columns += [
        Column(
            "count", [figure(r, "count") for r in data], figure(whole, "count"), "right", key=True
        ),
        Column(
            "previous",
            [figure(r, "previousCount") for r in data],
            figure(whole, "previousCount"),
            "right",
            key=True,
        ),
        Column(
            "change",
            [change(r, "countChange") for r in data],
            change(whole, "countChange"),
            "right",
            key=True,
        ),
        Column(
            "change %",
            [ratio(r, "countChangeRatio") for r in data],
            ratio(whole, "countChangeRatio"),
            "right",
        ),
    ]
    prices = comparison.current.prices
    if prices is not None:
        from decimal import Decimal

        currency = prices.currency
        pairs = [(row.now, row.before) for row in rows]
        pairs_total = (total.now, total.before)

        def cash(group: Any) -> str:
            # The summary's own cell: `unpriced`, or a `*` when part of the count has no price.
            return absent if group is None else cost_cell(group, currency)

        def cash_change(row: dict[str, Any], pair: tuple[Any, Any]) -> str:
            if row["status"] != "both":
                return str(row["status"])
            if row["costChange"] is None:
                # Unpriced in a window: there is no cost to take the other from, not $0.
                return absent
            amount = Decimal(row["costChange"])
            partial = any(g.costs is not None and g.costs.unpriced_count for g in pair)
            return ("+" if amount > 0 else "") + money(amount, currency) + ("*" if partial else "")

        columns += [
            Column("cost", [cash(now) for now, _ in pairs], cash(total.now), "right"),
            Column(
                "previous cost",
                [cash(before) for _, before in pairs],
                cash(total.before),
                "right",
            ),
            Column(
                "cost change",
                [cash_change(r, pair) for r, pair in zip(data, pairs, strict=True)],
                cash_change(whole, pairs_total),
                "right",
            ),
        ]
    render(columns, stream, display, footer=True, shows_hidden="--wide shows them")
    lines = [
        f"window {_span(comparison.window, display)} ({display.zone_name}) against "
        f"{_span(comparison.against, display)}"
    ]
    if any(row.status != "both" for row in rows):
        lines[0] += "; new and gone: groups found in only one of them"
    if prices is not None:
        lines += _compare_money_notes(comparison, short=display.width is not None)
    _notes(lines, stream, display)


def _notes(lines: Sequence[str], stream: TextIO, display: Display) -> None:
    """The lines under a table, broken between words to the terminal's width with a
    hanging indent (a hash or a type is never split)."""
    from usage_cli._text import wrapped

    stream.write("".join(wrapped(line, display.width) + "\n" for line in lines))
    stream.flush()


def _compare_money_notes(comparison: Any, *, short: bool = False) -> list[str]:
    """What the two windows' costs leave out, and how much of each count they cover."""
    from usage_cli.prices import shown as money
    from usage_cli.summary import coverage

    prices = comparison.current.prices
    now, before = comparison.current.total, comparison.previous.total
    lines: list[str] = []
    kinds = sorted(set(now.costs.unpriced) | set(before.costs.unpriced))
    if kinds:

        def count(costs: Any, kind: str) -> str:
            return f"{costs.unpriced[kind][1]:,}" if kind in costs.unpriced else "—"

        named = ", ".join(
            f"{kind} (count {count(now.costs, kind)}, previous {count(before.costs, kind)})"
            for kind in kinds
        )
        lines.append(f"unpriced (no price in the table, not $0): {named}")
        covers = [
            f"{label} {money(group.costs.amount, prices.currency)} covers "
            f"{covered * 100:.1f}% of its count"
            for label, group in (("the cost", now), ("the previous cost", before))
            if (covered := coverage(group)) is not None
        ]
        lines.append("; ".join([*covers, "* marks groups with unpriced records"]))
    lines.append(prices.note(short=short))
    return lines


def _span(window: Any, display: Display) -> str:
    """A window's two ends as a person reads times (summary, compare and check alike)."""
    return " .. ".join(
        shown(moment, "createdAt", display.zone) for moment in (window.since, window.until)
    )


def render_check(
    rows: Sequence[Sequence[str]], stream: TextIO, display: Display, window: Any, prices: Any
) -> None:
    """The results of `usage check`, breaches first; the window and prices beneath."""
    from usage_cli.reports.check import HEADERS

    # gh's colours for a verdict: a breach red, a warning yellow, ok green.
    verdicts = {"breach": "bold red", "warn": "yellow", "ok": "green"}
    columns = [
        Column(
            header,
            [row[index] for row in rows],
            justify="right" if index >= 3 else "left",
            key=index in (0, 2, 3),
            narrows=index in (1, 4),
            styles=[verdicts.get(row[0]) for row in rows] if index == 0 else None,
        )
        for index, header in enumerate(HEADERS)
    ]
    render(columns, stream, display)
    lines = [f"window {_span(window, display)} ({display.zone_name})"]
    if prices is not None:
        lines.append(prices.note(short=display.width is not None))
    _notes(lines, stream, display)


def render_prices(table: Any, stream: TextIO, display: Display) -> None:
    """The price table in effect: each entry in the order it is tried, and where it is from."""
    from usage_cli.columns import iso_ms

    def day(moment: int | None) -> str:
        return "" if moment is None else iso_ms(moment).replace("T00:00:00.000Z", "")

    entries = table.ordered()
    headers = ("type", "price", "per", "from", "until", "origin", "source", "notes")
    cells = [
        [
            e.pattern,
            f"{e.price:f}",
            f"{e.per:,}",
            day(e.start_ms),
            day(e.end_ms),
            e.origin,
            on_one_line(e.source),
            on_one_line(e.notes),
        ]
        for e in entries
    ]
    columns = [
        Column(
            header,
            [row[index] for row in cells],
            justify="right" if header in ("price", "per") else "left",
            key=index < 3,
            narrows=index >= 5,
        )
        for index, header in enumerate(headers)
    ]
    render(columns, stream, display, shows_hidden="--wide shows them")
    _notes(
        [f"currency {table.currency}; {table.note(short=display.width is not None)}"],
        stream,
        display,
    )
