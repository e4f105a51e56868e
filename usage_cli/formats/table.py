from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from usage_cli._text import on_one_line
from usage_cli.columns import LIST_KEYS, TABLE_COLUMNS, TIME_COLUMNS, Derived, shown, value_of
from usage_cli.display import Display
from usage_cli.records import UsageRecord

# Narrowed text keeps this much (ellipsis included) before its column is dropped.
NARROWEST = 8
# Off a terminal nobody can resize the window: a width no row reaches.
UNLIMITED = 100_000


@dataclass
class Column:
    """One column of a table to lay out: its text, and how far it may give way."""

    header: str
    cells: list[str]
    footer: str = ""
    justify: str = "left"
    # A key column is never cut, wrapped or dropped.
    key: bool = False
    # Text that may be cut with an ellipsis (ids in meta, bot ids); times and
    # numbers are dropped whole rather than cut.
    narrows: bool = False
    # A bar is redrawn shorter for its width (`render`), so it gives way first.
    render: Callable[[int], list[str]] | None = None
    # Dropped when the terminal is too narrow; never a column the user asked for.
    droppable: bool = True
    natural: int = field(init=False)

    def __post_init__(self) -> None:
        from rich.cells import cell_len

        texts = [self.header, self.footer, *self.cells]
        self.natural = max(cell_len(line) for text in texts for line in text.split("\n") or [""])

    @property
    def floor(self) -> int:
        if self.render is not None:
            return min(self.natural, _BAR_FLOOR)
        return min(self.natural, NARROWEST) if self.narrows else self.natural


@dataclass(frozen=True)
class Layout:
    """Widths of the columns shown (None: hidden), and whether the compact style fits."""

    widths: list[int | None]
    compact: bool

    @property
    def width(self) -> int:
        shown = [w for w in self.widths if w is not None]
        return sum(shown) + (len(shown) - 1 if self.compact else 3 * len(shown) + 1)


def fit(columns: Sequence[Column], width: int | None) -> Layout:
    """Column widths for a terminal `width` columns wide (None: natural widths).

    In order: the boxed table at natural width; then a compact one (no
    borders, one space between columns) where bars shrink, then text narrows
    with an ellipsis, rightmost first; then optional columns are dropped,
    rightmost first, and the rest get their room back. Key columns keep their
    natural width even when that overflows the terminal: cut, they would lie.
    """
    natural: list[int | None] = [column.natural for column in columns]
    boxed = Layout(natural, compact=False)
    if width is None or boxed.width <= width:
        return boxed
    optional = [
        index for index, column in enumerate(columns) if not column.key and column.droppable
    ]
    for dropped in range(len(optional) + 1):
        hidden = set(optional[len(optional) - dropped :])
        widths: list[int | None] = [
            None if index in hidden else column.natural for index, column in enumerate(columns)
        ]
        over = Layout(widths, compact=True).width - width
        shown = [index for index in reversed(range(len(columns))) if index not in hidden]
        bars = [index for index in shown if columns[index].render is not None]
        texts = [index for index in shown if columns[index].narrows and not columns[index].key]
        for index in [*bars, *texts]:
            current = widths[index]
            assert current is not None
            give = min(max(over, 0), current - columns[index].floor)
            widths[index] = current - give
            over -= give
        if over <= 0:
            return Layout(widths, compact=True)
    # Even with every optional column left out it overflows: what could narrow
    # has (the last pass), and the key columns stay whole.
    return Layout(widths, compact=True)


def _console(stream: TextIO, display: Display, width: int) -> Console:
    return Console(
        file=stream,
        highlight=False,
        soft_wrap=False,
        width=width,
        # A table for a person either way: styles (bold headers) whenever colour is on.
        force_terminal=display.color or None,
        color_system="auto" if display.color else None,
        no_color=not display.color,
    )


def render(
    columns: Sequence[Column],
    stream: TextIO,
    display: Display,
    *,
    footer: bool = False,
    style: Callable[[int], str | None] = lambda index: None,
    shows_hidden: str = "--wide or --columns shows them",
) -> None:
    """Lay `columns` out for the display's width and print them, with a note of any hidden."""
    layout = fit(columns, display.width)
    if layout.compact:
        table = Table(box=box.SIMPLE, show_edge=False, padding=0, show_footer=footer)
    else:
        table = Table(show_footer=footer)
    table.header_style = "bold"
    table.footer_style = "bold"
    shown: list[tuple[int, list[str]]] = []
    for index, (column, width) in enumerate(zip(columns, layout.widths, strict=True)):
        if width is None:
            continue
        narrowed = width < column.natural
        table.add_column(
            column.header,
            footer=column.footer,
            justify="right" if column.justify == "right" else "left",
            no_wrap=True,
            overflow="ellipsis" if narrowed else "fold",
            width=width if layout.compact else None,
            style=style(index),
        )
        cells = column.render(width) if column.render is not None else column.cells
        shown.append((index, cells))
    rows = len(columns[0].cells) if columns else 0
    for row in range(rows):
        # Markup in data must show as typed, never be interpreted by rich.
        table.add_row(*(Text(cells[row]) for _, cells in shown))
    console = _console(stream, display, max(display.width or UNLIMITED, layout.width))
    console.print(table)
    hidden = [
        column.header for column, width in zip(columns, layout.widths, strict=True) if width is None
    ]
    if hidden and not display.quiet:
        # One line, however narrow: it names what is missing, and how to see it.
        console.print(
            Text(f"hidden: {', '.join(hidden)}; {shows_hidden}", style="dim"),
            soft_wrap=True,
        )


def _header(column: str, display: Display) -> str:
    return column + (f" ({display.zone_name})" if column in TIME_COLUMNS else "")


class _Borrowed(io.TextIOWrapper):
    """A text layer over a binary stream it does not own.

    Closing it, or dropping it unclosed (a run that failed mid-table), flushes
    and lets go of the stream rather than closing it: stdout stays usable.
    """

    def close(self) -> None:
        with contextlib.suppress(ValueError):  # already let go
            self.flush()
            self.detach()


class TableWriter:
    """A rich table for people; rows are kept until `close` lays them out."""

    def __init__(
        self,
        stream: TextIO,
        columns: Sequence[str] | None = None,
        display: Display | None = None,
        derived: Derived | None = None,
    ) -> None:
        self._stream = stream
        self._derived = derived or {}
        self._columns = tuple(columns or TABLE_COLUMNS)
        # Columns the user named are narrowed if need be, never dropped.
        self._chosen = columns is not None
        # Off a terminal nobody can resize the window, so render at natural width.
        self._display = _display_for(stream, display)
        self._cells: list[list[str]] = [[] for _ in self._columns]
        self.rows = 0
        self._wrapper: io.TextIOWrapper | None = None

    @classmethod
    def over_bytes(
        cls,
        stream: BinaryIO,
        columns: Sequence[str] | None = None,
        display: Display | None = None,
        derived: Derived | None = None,
    ) -> TableWriter:
        """A table written as UTF-8 to a binary stream, which `close` leaves open."""
        text = _Borrowed(stream, encoding="utf-8", newline="", write_through=True)
        writer = cls(text, columns, display, derived)
        writer._wrapper = text
        return writer

    def write(self, records: Sequence[UsageRecord]) -> None:
        zone = self._display.zone
        derived = self._derived
        for record in records:
            for cells, column in zip(self._cells, self._columns, strict=True):
                if column in derived:
                    cells.append(derived[column](record.raw))
                    continue
                cells.append(on_one_line(shown(value_of(record, column), column, zone)))
            self.rows += 1

    def close(self) -> None:
        if self.rows:
            columns = [
                Column(
                    _header(name, self._display),
                    cells,
                    justify="right" if name in ("count", *self._derived) else "left",
                    key=name in LIST_KEYS,
                    narrows=name not in TIME_COLUMNS,
                    droppable=not self._chosen,
                )
                for name, cells in zip(self._columns, self._cells, strict=True)
            ]
            render(columns, self._stream, self._display)
        if self._wrapper is not None:
            self._wrapper.close()  # flushes, and leaves the caller's stream open
            self._wrapper = None


_EIGHTHS = " ▏▎▍▌▋▊▉"
# The share column: `  5.1%` and a bar of up to 20 cells after a space.
_SHARE = 6
_BAR = 20
_BAR_FLOOR = _SHARE


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


def money_notes(summary: Any) -> list[str]:
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
    lines.append(summary.prices.note())
    return lines


def _display_for(stream: TextIO, display: Display | None) -> Display:
    """The reader's display, or, for a library caller, one guessed from the stream."""
    if display is not None:
        return display
    tty = hasattr(stream, "isatty") and stream.isatty()
    return Display(width=None, color=tty)


def render_summary(
    summary: Any,
    stream: TextIO,
    top: int | None = None,
    display: Display | None = None,
    sort: str = "count",
) -> None:
    """The summary as a table: groups, bars, and the grand total as a footer."""
    from usage_cli.summary import NONE

    display = _display_for(stream, display)
    zone = display.zone
    groups = summary.groups(top, sort)
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
        stream.write("".join(line + "\n" for line in money_notes(summary)))
        stream.flush()


def _signed(value: Any) -> str:
    return f"{value:+,}" if value else "0"


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

    display = _display_for(stream, display)
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
        value = row[name]
        return "" if value is None else f"{value * 100:+.1f}%"

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

        def cash(row: dict[str, Any], name: str) -> str:
            value = row[name]
            return absent if value is None else money(Decimal(value), prices.currency)

        def signed_cash(value: Any) -> str:
            amount = Decimal(value)
            return ("+" if amount > 0 else "") + money(amount, prices.currency)

        columns += [
            Column("cost", [cash(r, "cost") for r in data], cash(whole, "cost"), "right"),
            Column(
                "previous cost",
                [cash(r, "previousCost") for r in data],
                cash(whole, "previousCost"),
                "right",
            ),
            Column(
                "cost change",
                [change(r, "costChange", signed_cash) for r in data],
                change(whole, "costChange", signed_cash),
                "right",
            ),
        ]
    render(columns, stream, display, footer=True, shows_hidden="--wide shows them")
    lines = [
        f"window {_span(comparison.window, display)} ({display.zone_name}) against "
        f"{_span(comparison.against, display)}; new and gone: groups found in only one of them"
    ]
    if prices is not None:
        lines.append(prices.note())
    stream.write("".join(line + "\n" for line in lines))
    stream.flush()


def _span(window: Any, display: Display) -> str:
    """A window's two ends as a person reads times (summary, compare and check alike)."""
    return " .. ".join(
        shown(moment, "createdAt", display.zone) for moment in (window.since, window.until)
    )


def render_check(
    rows: Sequence[Sequence[str]], stream: TextIO, display: Display, window: Any, prices: Any
) -> None:
    """The results of `usage check`, breaches first; the window and prices beneath."""
    from usage_cli.check import HEADERS

    columns = [
        Column(
            header,
            [row[index] for row in rows],
            justify="right" if index >= 3 else "left",
            key=index in (0, 2, 3),
            narrows=index in (1, 4),
        )
        for index, header in enumerate(HEADERS)
    ]
    render(columns, stream, display)
    lines = [f"window {_span(window, display)} ({display.zone_name})"]
    if prices is not None:
        lines.append(prices.note())
    stream.write("".join(line + "\n" for line in lines))


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
    render(columns, stream, display)
    stream.write(f"currency {table.currency}; {table.note()}\n")
