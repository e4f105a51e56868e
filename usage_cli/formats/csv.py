from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import Any, BinaryIO

from usage_cli._text import utf8
from usage_cli.columns import CSV_COLUMNS, TIME_COLUMNS, Derived, getter, iso_ms, json_bytes
from usage_cli.records import UsageRecord

Fix = Callable[[Any], Any]


def _meta_cell(meta: Any) -> Any:
    return None if meta is None else json_bytes(meta).decode()


def _time_cell(epoch_ms: Any) -> Any:
    return None if epoch_ms is None else iso_ms(epoch_ms)


# `map(_BLANK.get, cells, cells)`: None becomes "", any other cell stays itself.
_BLANK: dict[Any, str] = {None: ""}


_SLOT = "\x00"  # stands for `meta` in a joined row; a row holding one goes to the csv module


def _quoted(field: str) -> str:
    """A field as the csv module writes it with "," and "\r\n" (QUOTE_MINIMAL).

    A field holding none of `,"\r\n` is written as it is, any other quoted,
    its quotes doubled (tests/test_properties.py holds this to the module).
    """
    if '"' in field or "," in field or "\n" in field or "\r" in field:
        return '"' + field.replace('"', '""') + '"'
    return field


class CsvWriter:
    """RFC 4180: a header row, CRLF line ends, quotes where a value needs them.

    A row is every column's field read in one C call (`map(raw.get, columns)`;
    the csv module writes None as an empty cell), then the few cells that are
    not the field as sent are fixed by position: times, `meta`, and columns a
    record does not carry (`meta.KEY`, `cost`, times in a zone).
    """

    def __init__(
        self,
        stream: BinaryIO,
        columns: Sequence[str] | None = None,
        *,
        resumed: bool = False,
        zone: tzinfo | None = None,
        derived: Derived | None = None,
    ) -> None:
        self._stream = stream
        self._columns = tuple(columns or CSV_COLUMNS)
        # Cells made from the field's own value, and cells made from the whole record.
        self._from_value: list[tuple[int, Fix]] = []
        self._from_record: list[tuple[int, Callable[[dict[str, Any]], Any]]] = []
        for index, column in enumerate(self._columns):
            own = not (derived and column in derived) and not column.startswith("meta.")
            if own and column == "meta":
                self._from_value.append((index, _meta_cell))
            elif own and column in TIME_COLUMNS and zone is None:
                self._from_value.append((index, _time_cell))
            elif not own or column in TIME_COLUMNS:
                self._from_record.append((index, getter(column, zone, derived)))
        # Rows are joined here rather than by the csv module (which spent more
        # time on a row than the rest of the export did) when every cell is
        # text, an int or None: fields of the contract, times and `meta`. A row
        # whose fields need quoting goes to the csv module, and so does every
        # row of other layouts.
        self._meta = self._columns.index("meta") if "meta" in self._columns else None
        self._joined = not self._from_record and len(self._columns) > 1
        self._buffer = io.StringIO(newline="")
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")
        if not resumed:
            self._csv.writerow(self._columns)
            self._drain()

    def _drain(self) -> None:
        self._stream.write(utf8(self._buffer.getvalue()))
        self._buffer.seek(0)
        self._buffer.truncate()

    def _cells(self, raw: dict[str, Any]) -> list[Any]:
        cells = list(map(raw.get, self._columns))
        for index, fix in self._from_value:
            cells[index] = fix(cells[index])
        for index, get in self._from_record:
            cells[index] = get(raw)
        return cells

    def write(self, records: Sequence[UsageRecord]) -> None:
        if not self._joined:
            self._csv.writerows([self._cells(record.raw) for record in records])
            self._drain()
            return
        lines: list[str] = []
        columns, meta = self._columns, self._meta
        times = [index for index, fix in self._from_value if fix is _time_cell]
        commas = len(columns) - 1
        blank = _BLANK.get
        for record in records:
            raw = record.raw
            cells = list(map(raw.get, columns))
            last_ms, last_text = None, ""
            for index in times:
                epoch_ms = cells[index]
                if epoch_ms is not None:
                    # `updatedAt` is usually `createdAt`: format it once.
                    if epoch_ms != last_ms:
                        last_ms, last_text = epoch_ms, iso_ms(epoch_ms)
                    cells[index] = last_text
            field = None
            if meta is not None:
                # `meta` is quoted on its own (its JSON always needs it): the
                # row is joined with a stand-in, replaced afterwards.
                field = cells[meta]
                if field is not None:
                    field = json_bytes(field).decode()
                cells[meta] = _SLOT
            line = ",".join(map(str, map(blank, cells, cells)))
            if (
                line.count(",") != commas
                or '"' in line
                or "\n" in line
                or "\r" in line
                or (meta is not None and line.count(_SLOT) != 1)
            ):
                if meta is not None:
                    cells[meta] = field
                self._csv.writerow(cells)
                lines.append(self._buffer.getvalue())
                self._buffer.seek(0)
                self._buffer.truncate()
                continue
            if meta is not None:
                line = line.replace(_SLOT, "" if field is None else _quoted(field))
            lines.append(line + "\r\n")
        self._stream.write(utf8("".join(lines)))

    def close(self) -> None:
        self._stream.flush()
