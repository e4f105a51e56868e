"""Tables for people: columns fitted to the terminal, drawn with rich, and `-o table`.

`fit` decides what each column gets (narrowed, dropped, or whole); `render`
draws the result; `TableWriter` collects records for it. The reports built on
it (summary, comparison, check, prices) are `usage_cli.reports`.
"""

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
from usage_cli.columns import (
    FULL_TIME,
    LIST_KEYS,
    TABLE_COLUMNS,
    TIME_COLUMNS,
    Derived,
    middle_cut,
    shown,
    value_of,
    zone_label,
)
from usage_cli.display import Display
from usage_cli.records import UsageRecord

# Narrowed text keeps this much (ellipsis included) before its column is dropped.
NARROWEST = 8
# Off a terminal nobody can resize the window: a width no row reaches.
UNLIMITED = 100_000
# A column redrawn for its width (a bar) keeps this many cells: the share's
# `  5.1%` in a summary, whose bar is the part that gives way.
BAR_FLOOR = 6


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
    # A style per cell (check's ok/warn/breach in colour), when colour is on.
    styles: list[str | None] | None = None
    natural: int = field(init=False)

    def __post_init__(self) -> None:
        from rich.cells import cell_len

        texts = [self.header, self.footer, *self.cells]
        self.natural = max(cell_len(line) for text in texts for line in text.split("\n") or [""])

    @property
    def floor(self) -> int:
        if self.render is not None:
            return min(self.natural, BAR_FLOOR)
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


def _style_of(column: Column, row: int) -> str:
    return (column.styles[row] or "") if column.styles is not None else ""


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
    headers: bool = True,
) -> None:
    """Lay `columns` out for the display's width and print them, with a note of any hidden."""
    layout = fit(columns, display.width)
    if layout.compact:
        table = Table(
            box=box.SIMPLE, show_edge=False, padding=0, show_footer=footer, show_header=headers
        )
    else:
        table = Table(show_footer=footer, show_header=headers)
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
        table.add_row(
            *(Text(cells[row], style=_style_of(columns[index], row)) for index, cells in shown)
        )
    console = _console(stream, display, max(display.width or UNLIMITED, layout.width))
    console.print(table)
    hidden = [
        column.header for column, width in zip(columns, layout.widths, strict=True) if width is None
    ]
    if hidden and not display.quiet:
        from usage_cli._text import wrapped

        # It names what is missing, and how to see it: broken between words to fit.
        note = wrapped(f"hidden: {', '.join(hidden)}; {shows_hidden}", display.width)
        console.print(Text(note, style="dim"), soft_wrap=True)


# A type cut in the middle keeps this much, ellipsis included.
TYPE_FLOOR = 12
SHORT_TIME = "%m-%d %H:%M"
TODAY_TIME = "%H:%M:%S"
DAY_MS = 86_400_000


def _today_only(moments: Sequence[Any], display: Display) -> bool:
    """Every time is of the reader's today, in their zone: the date says nothing."""
    from usage_cli.columns import utc_moment

    if display.now_ms is None:
        return False
    today = utc_moment(display.now_ms)
    if today is None:
        return False
    day = today.astimezone(display.zone).date()
    for value in moments:
        moment = utc_moment(int(value)) if isinstance(value, int | float) else None
        if moment is None or moment.astimezone(display.zone).date() != day:
            return False
    return True


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
        *,
        headers: bool = True,
    ) -> None:
        self._stream = stream
        self._headers = headers
        self._derived = derived or {}
        self._columns = tuple(columns or TABLE_COLUMNS)
        # Columns the user named are narrowed if need be, never dropped.
        self._chosen = columns is not None
        # Off a terminal nobody can resize the window, so render at natural width.
        self._display = display_for(stream, display)
        self._cells: list[list[str]] = [[] for _ in self._columns]
        # Times as sent, drawn at `close`: their format depends on the width left.
        self._times: dict[int, list[Any]] = {
            index: [] for index, name in enumerate(self._columns) if name in TIME_COLUMNS
        }
        self.rows = 0
        self._wrapper: io.TextIOWrapper | None = None

    @classmethod
    def over_bytes(
        cls,
        stream: BinaryIO,
        columns: Sequence[str] | None = None,
        display: Display | None = None,
        derived: Derived | None = None,
        *,
        headers: bool = True,
    ) -> TableWriter:
        """A table written as UTF-8 to a binary stream, which `close` leaves open."""
        text = _Borrowed(stream, encoding="utf-8", newline="", write_through=True)
        writer = cls(text, columns, display, derived, headers=headers)
        writer._wrapper = text
        return writer

    def write(self, records: Sequence[UsageRecord]) -> None:
        zone = self._display.zone
        derived = self._derived
        times = self._times
        for record in records:
            for index, (cells, column) in enumerate(zip(self._cells, self._columns, strict=True)):
                if column in derived:
                    cells.append(derived[column](record.raw))
                elif index in times:
                    times[index].append(value_of(record, column))
                else:
                    cells.append(on_one_line(shown(value_of(record, column), column, zone)))
            self.rows += 1

    def _laid_out(
        self,
        time_format: str | None = None,
        type_width: int | None = None,
        *,
        abbreviate: bool = False,
    ) -> list[Column]:
        display = self._display
        columns = []
        for index, (name, cells) in enumerate(zip(self._columns, self._cells, strict=True)):
            header = name
            if index in self._times:
                moments = self._times[index]
                chosen = time_format or FULL_TIME
                if time_format is not None and _today_only(moments, display):
                    chosen = TODAY_TIME
                cells = [shown(value, name, display.zone, chosen) for value in moments]
                zone = display.zone_name
                if abbreviate:
                    zone = zone_label(zone, display.zone, moments)
                # A short time is narrower than its header: the zone goes beneath.
                header = f"{name}\n({zone})" if time_format is not None else f"{name} ({zone})"
            elif name == "type" and type_width is not None:
                cells = [middle_cut(cell, type_width) for cell in cells]
            columns.append(
                Column(
                    header,
                    cells,
                    justify="right" if name in ("count", *self._derived) else "left",
                    key=name in LIST_KEYS,
                    narrows=name not in TIME_COLUMNS,
                    droppable=not self._chosen,
                )
            )
        return columns

    def _fitted(self) -> list[Column]:
        """The columns for the reader's width, giving way in steps while they overflow.

        A long zone name in a time header (`America/New_York`) gives way to the
        abbreviations its times use (`EST`); then, when the key columns still overflow
        with every optional one left out (below about 80 columns), the times are
        shortened, and then the type is cut in the middle. The id is never cut.
        """
        width = self._display.width
        columns = self._laid_out()
        if width is None or fit(columns, width).width <= width:
            return columns
        columns = self._laid_out(abbreviate=True)
        if fit(columns, width).width <= width:
            return columns
        columns = self._laid_out(SHORT_TIME, abbreviate=True)
        over = fit(columns, width).width - width
        if over <= 0 or "type" not in self._columns:
            return columns
        natural = columns[self._columns.index("type")].natural
        return self._laid_out(SHORT_TIME, max(natural - over, TYPE_FLOOR), abbreviate=True)

    def close(self) -> None:
        if self.rows:
            render(self._fitted(), self._stream, self._display, headers=self._headers)
        if self._wrapper is not None:
            self._wrapper.close()  # flushes, and leaves the caller's stream open
            self._wrapper = None


def display_for(stream: TextIO, display: Display | None) -> Display:
    """The reader's display, or, for a library caller, one guessed from the stream."""
    if display is not None:
        return display
    tty = hasattr(stream, "isatty") and stream.isatty()
    return Display(width=None, color=tty)
