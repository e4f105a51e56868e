from __future__ import annotations

import csv
import io
import operator
import re
from collections.abc import Callable, Sequence
from datetime import tzinfo
from itertools import chain, compress, repeat
from typing import Any, BinaryIO

from usage_cli._text import utf8
from usage_cli.columns import CSV_COLUMNS, TIME_COLUMNS, Derived, getter, iso_ms, json_bytes
from usage_cli.records import UsageRecord

Fix = Callable[[Any], Any]

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP's
# list: `=`, `+`, `-`, `@`, TAB, CR). `'` is guarded too, so that unguarding
# is exact: a leading `'` is always one the guard added (and a spreadsheet shows
# `''x` as `'x`, the value as sent).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def guarded(cell: str) -> str:
    """A text cell a spreadsheet shows as the text and never runs: a leading `'` where
    it would start a formula. Text that is a plain number (`-5`) is no formula."""
    if cell.startswith(_FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def unguarded(cell: str) -> str:
    """The text `guarded` was given."""
    return cell[1:] if cell.startswith("'") else cell


# A mark at the start of a cell of joined rows: after a comma or a line end.
_MARK_AFTER = re.compile("[,\n][" + "".join(map(re.escape, _FORMULA_STARTS)) + "]")


def _may_start_formula(text: str) -> bool:
    """Whether a cell of joined rows (cells after a comma, rows after a line end)
    may start with a character `guarded` looks at.

    One pass of a regular expression: 0.35 s of CPU over 200,000 records (2,000
    pages), where a scan for each mark after a comma and after a line end took
    1.42 s, and ruling out first the marks the page does not hold 0.62 s (`-`,
    in every date, is always there; commas are in every cell).
    """
    return text.startswith(_FORMULA_STARTS) or _MARK_AFTER.search(text) is not None


def _meta_cell(meta: Any) -> Any:
    return None if meta is None else json_bytes(meta).decode()


def _time_cell(epoch_ms: Any) -> Any:
    return None if epoch_ms is None else iso_ms(epoch_ms)


# `map(_BLANK.get, cells, cells)`: None becomes "", any other cell stays itself.
_BLANK: dict[Any, str] = {None: ""}


_SLOT = "\x00"  # stands for `meta` in a joined row; a row holding one goes to the csv module


def _plain(text: str, commas: int, rows: int, slots: int) -> bool:
    """Whether `rows` rows joined by "\\n" hold no field a csv writer would quote:
    only the commas between cells, no quote or line end, `slots` stand-ins a row."""
    return (
        text.count(",") == commas * rows
        and text.count("\n") == rows - 1
        and '"' not in text
        and "\r" not in text
        and text.count(_SLOT) == slots * rows
    )


def _quoting(rows: list[str], commas: int, slots: int) -> list[int]:
    """The rows (by index) a csv writer would quote a field of.

    Each question is asked of all rows in one C loop (`map`): only the rows
    it picks out pass through Python.
    """
    odd = {
        index for index, count in enumerate(map(str.count, rows, repeat(","))) if count != commas
    }
    for mark in ('"', "\r", "\n"):
        odd.update(compress(range(len(rows)), map(str.__contains__, rows, repeat(mark))))
    odd.update(
        index for index, count in enumerate(map(str.count, rows, repeat(_SLOT))) if count != slots
    )
    return sorted(odd)


class _Guard(Exception):
    """A page with a cell to guard: written by the csv module, cell by cell."""


class CsvWriter:
    """RFC 4180: a header row, CRLF line ends, quotes where a value needs them.

    A row is every column's field read in one C call (`map(raw.get, columns)`;
    the csv module writes None as an empty cell), then the few cells that are
    not the field as sent are fixed by position: times, `meta`, and columns a
    record does not carry (`meta.KEY`, `cost`, times in a zone).

    With `guard` (the default), a text cell a spreadsheet would run as a
    formula is written with a leading `'` (`guarded`); numbers never are.
    """

    def __init__(
        self,
        stream: BinaryIO,
        columns: Sequence[str] | None = None,
        *,
        resumed: bool = False,
        zone: tzinfo | None = None,
        derived: Derived | None = None,
        guard: bool = True,
    ) -> None:
        self._stream = stream
        self._guard = guard
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
        self._times = [index for index, fix in self._from_value if fix is _time_cell]
        # All of a row's fields in one C call, when the record sent each of them
        # (a tuple: a joined row has two columns or more).
        self._every = operator.itemgetter(*self._columns)
        # Validated records hold an int in these and text or None in every other
        # plain column.
        self._numbers = [index for index, column in enumerate(self._columns) if column == "count"]
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
        if self._guard:
            return [guarded(cell) if isinstance(cell, str) else cell for cell in cells]
        return cells

    def write(self, records: Sequence[UsageRecord]) -> None:
        if self._joined and records:
            try:
                self._stream.write(utf8(self._joined_page(records)))
                return
            except TypeError:
                pass  # a cell that is neither text nor a number: the csv module's way
            except _Guard:
                pass  # a cell to guard: the csv module's way, cell by cell
        self._csv.writerows([self._cells(record.raw) for record in records])
        self._drain()

    def _joined_page(self, records: Sequence[UsageRecord]) -> str:
        """The page's rows, joined directly; a row whose fields need quoting by the csv module.

        Each row is joined with a stand-in for `meta`, numbers made text first
        so that the join needs no `str` call a cell. The page is then one
        text: whether a field holds a comma, quote or line end is asked of it
        once, and of each row only when some row does; the stand-ins are
        filled in one pass (`meta`'s JSON, or a quoted row's whole line).
        """
        columns, meta, numbers, times = self._columns, self._meta, self._numbers, self._times
        blank: Callable[[Any, Any], str] = _BLANK.get
        every = self._every
        rows: list[str] = []
        fills: list[str] = []  # what each stand-in in the page's text stands for
        for record in records:
            raw = record.raw
            try:
                cells = list(every(raw))
            except KeyError:  # a field left out rather than sent as null
                cells = list(map(raw.get, columns))
            for index in numbers:
                if cells[index] is not None:
                    cells[index] = str(cells[index])
            last_ms, last_text = None, ""
            for index in times:
                epoch_ms = cells[index]
                if epoch_ms is not None:
                    # `updatedAt` is usually `createdAt`: format it once.
                    if epoch_ms != last_ms:
                        last_ms, last_text = epoch_ms, iso_ms(epoch_ms)
                    cells[index] = last_text
            if meta is not None:
                field = cells[meta]
                if field is None:
                    fills.append("")
                else:
                    json_text = json_bytes(field).decode()
                    # Quoted as the csv module would: JSON has no raw line end, and
                    # of a dict only `{}` holds neither quote nor comma.
                    quote = '"' in json_text or "," in json_text
                    fills.append('"' + json_text.replace('"', '""') + '"' if quote else json_text)
                cells[meta] = _SLOT
            rows.append(",".join(map(blank, cells, cells)))
        commas, slots = len(columns) - 1, int(meta is not None)
        text = "\n".join(rows)
        if self._guard and _may_start_formula(text):
            raise _Guard
        if not _plain(text, commas, len(rows), slots):
            for index in _quoting(rows, commas, slots):
                self._csv.writerow(self._cells(records[index].raw))
                line = self._buffer.getvalue()[:-2]  # its "\r\n" is added with the others'
                self._buffer.seek(0)
                self._buffer.truncate()
                if meta is None:
                    fills.append(line)  # the rows come in order: so do their stand-ins
                else:
                    fills[index] = line
                rows[index] = _SLOT
            text = "\n".join(rows)
        text = text.replace("\n", "\r\n") + "\r\n"
        if not fills:
            return text
        parts = text.split(_SLOT)
        # One stand-in a fill (_plain and _quoting saw to it): strict says so if not.
        return "".join(chain.from_iterable(zip(parts[:-1], fills, strict=True))) + parts[-1]

    def close(self) -> None:
        self._stream.flush()
