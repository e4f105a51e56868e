from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, BinaryIO, TextIO

from rich.console import Console
from rich.table import Table

from usage_cli._text import for_terminal
from usage_cli.columns import TABLE_COLUMNS, TIME_COLUMNS, text_of, utc_moment, value_of
from usage_cli.records import UsageRecord


def _cell(value: Any, column: str) -> str:
    if value is None:
        return ""
    if column in TIME_COLUMNS and isinstance(value, int | float) and not isinstance(value, bool):
        moment = utc_moment(int(value))
        return str(value) if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")
    if column == "count" and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return text_of(value, column)


class TableWriter:
    """A rich table for people; rows are kept until `close` renders them."""

    def __init__(self, stream: TextIO, columns: Sequence[str] | None = None) -> None:
        self._columns = tuple(columns or TABLE_COLUMNS)
        # Off a terminal nobody can resize the window, so render at natural width.
        tty = hasattr(stream, "isatty") and stream.isatty()
        self._console = Console(
            file=stream, highlight=False, soft_wrap=False, width=None if tty else 100_000
        )
        self._table = Table(show_lines=False, header_style="bold")
        for column in self._columns:
            self._table.add_column(
                column + (" (UTC)" if column in TIME_COLUMNS else ""),
                justify="right" if column == "count" else "left",
                overflow="fold",
                no_wrap=column == "count",
            )
        self.rows = 0
        self._wrapper: io.TextIOWrapper | None = None

    @classmethod
    def over_bytes(cls, stream: BinaryIO, columns: Sequence[str] | None = None) -> TableWriter:
        """A table written as UTF-8 to a binary stream, which `close` leaves open."""
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
        writer = cls(text, columns)
        writer._wrapper = text
        return writer

    def write(self, records: Sequence[UsageRecord]) -> None:
        # Markup in data must show as typed, never be interpreted by rich.
        from rich.text import Text

        for record in records:
            self._table.add_row(
                *(Text(for_terminal(_cell(value_of(record, c), c))) for c in self._columns)
            )
            self.rows += 1

    def close(self) -> None:
        if self.rows:
            self._console.print(self._table)
        if self._wrapper is not None:
            # Detached, the wrapper cannot close the caller's stream when collected.
            self._wrapper.flush()
            self._wrapper.detach()
            self._wrapper = None


_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(value: int, largest: int, width: int = 24) -> str:
    """A proportional bar in eighth-of-a-cell steps."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / largest * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def render_summary(summary: Any, stream: TextIO, top: int | None = None) -> None:
    """The summary as a rich table: groups, bars, and the grand total as a footer."""
    from usage_cli.summary import NONE

    groups = summary.groups(top)
    tty = hasattr(stream, "isatty") and stream.isatty()
    console = Console(file=stream, highlight=False, width=None if tty else 100_000)
    table = Table(show_footer=True, header_style="bold", footer_style="bold")
    for index, dimension in enumerate(summary.by):
        table.add_column(dimension, footer="total" if index == 0 else "")
    total = summary.total
    table.add_column("records", justify="right", footer=f"{total.records:,}")
    table.add_column("count", justify="right", footer=f"{total.count:,}")
    table.add_column("share", footer="", no_wrap=True, overflow="crop")
    table.add_column("first (UTC)", footer=_cell(total.first, "createdAt"))
    table.add_column("last (UTC)", footer=_cell(total.last, "createdAt"))
    largest = max((group.count for group in groups), default=0)
    from rich.text import Text

    for group in groups:
        share = group.count / total.count * 100 if total.count else 0.0
        table.add_row(
            *(Text(for_terminal(part) if part is not None else NONE) for part in group.key),
            f"{group.records:,}",
            f"{group.count:,}",
            Text(f"{share:5.1f}% {bar(group.count, largest, 20)}", style="cyan"),
            _cell(group.first, "createdAt"),
            _cell(group.last, "createdAt"),
        )
    console.print(table)
