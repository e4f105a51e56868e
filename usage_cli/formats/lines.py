"""Records as aligned lines, written as they come: the table of `list --follow`.

A table needs every row before it can size its columns; a follow never ends.
So each column has a fixed width, wide enough for the platform's values, and
each record is one line, flushed at once. Columns are `list`'s; those that
are not key columns are left out when the terminal is too narrow for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from usage_cli._text import on_one_line
from usage_cli.columns import LIST_KEYS, TABLE_COLUMNS, TIME_COLUMNS, shown, value_of
from usage_cli.display import Display
from usage_cli.records import UsageRecord

# Widths that hold what the platform sends: times, `rec_` + 16 hex, type names.
# The key columns fill 80 exactly; a count past 9,999,999 pushes its line out.
_WIDTHS = {"createdAt": 19, "updatedAt": 19, "id": 20, "type": 31, "count": 7}
_OTHER = 14
# A cut cell keeps at least this much, ellipsis included (as `list`'s tables).
_NARROWEST = 8


class LineWriter:
    def __init__(
        self, stream: TextIO, display: Display, columns: Sequence[str] | None = None
    ) -> None:
        self._stream = stream
        self._display = display
        chosen = tuple(columns or TABLE_COLUMNS)
        self._columns = chosen if columns else self._fitting(chosen, display.width)
        # What the terminal had no room for, for a `hidden:` note as `list` gives.
        self.hidden = tuple(name for name in chosen if name not in self._columns)
        self._header_written = False

    @staticmethod
    def _fitting(columns: tuple[str, ...], width: int | None) -> tuple[str, ...]:
        """The default columns that fit `width`, dropping the others from the right."""
        kept = list(columns)
        while width is not None and _span(kept) > width:
            optional = [name for name in kept if name not in LIST_KEYS]
            if not optional:
                break
            kept.remove(optional[-1])
        return tuple(kept)

    def _line(self, cells: Sequence[str], *, cut: bool = True) -> str:
        """One line; a cell past its column is cut with `…` as `list` cuts it, the last
        to what the terminal has left, so a long `meta` never wraps a row. Key
        columns are never cut."""
        parts = []
        last = len(cells) - 1
        for index, (name, cell) in enumerate(zip(self._columns, cells, strict=True)):
            width = _WIDTHS.get(name, _OTHER)
            if index == last and name not in LIST_KEYS and self._display.width is not None:
                width = max(self._display.width - _span(self._columns[:last]) - 1, _NARROWEST)
            if cut and name not in LIST_KEYS and len(cell) > width:
                cell = cell[: width - 1] + "…"
            if name == "count":
                parts.append(cell.rjust(width))
            else:
                parts.append(cell if index == last else cell.ljust(width))
        return " ".join(parts).rstrip()

    def _header(self, column: str) -> str:
        if column not in TIME_COLUMNS:
            return column
        # The zone where it fits; the status line names it in any case.
        labelled = f"{column} ({self._display.zone_name})"
        return labelled if len(labelled) <= _WIDTHS[column] else column

    def _cell(self, record: UsageRecord, column: str) -> str:
        return on_one_line(shown(value_of(record, column), column, self._display.zone))

    def write(self, records: Sequence[UsageRecord]) -> None:
        if not self._header_written:
            self._stream.write(self._line([self._header(name) for name in self._columns]) + "\n")
            self._header_written = True
        for record in records:
            self._stream.write(self._line([self._cell(record, c) for c in self._columns]) + "\n")
        self._stream.flush()

    def close(self) -> None:
        self._stream.flush()


def _span(columns: Sequence[str]) -> int:
    widths = [_WIDTHS.get(name, _OTHER) for name in columns]
    return sum(widths) + len(widths) - 1
