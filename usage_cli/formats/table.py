from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from usage_cli.columns import TABLE_COLUMNS, TIME_COLUMNS, text_of, value_of
from usage_cli.records import UsageRecord


def _cell(value: Any, column: str) -> str:
    if value is None:
        return ""
    if column in TIME_COLUMNS and isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
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

    def write(self, record: UsageRecord) -> None:
        # Markup in data must show as typed, never be interpreted by rich.
        from rich.text import Text

        self._table.add_row(*(Text(_cell(value_of(record, c), c)) for c in self._columns))
        self.rows += 1

    def close(self) -> None:
        if self.rows:
            self._console.print(self._table)
