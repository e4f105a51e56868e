from __future__ import annotations

import csv
import io
import operator
import re
from collections.abc import Callable, Sequence
from datetime import tzinfo
from itertools import chain
from typing import Any, BinaryIO

from pydantic_core import PydanticSerializationError, to_json

from usage_cli._text import utf8
from usage_cli.columns import (
    CSV_COLUMNS,
    TIME_COLUMNS,
    Derived,
    getter,
    iso_ms,
    iso_ms_each,
    json_bytes,
)
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


# A mark at the start of a cell of text joined by NUL. A literal first
# character lets the regular expression skip from cell start to cell start:
# joining a page's text cells and this search, with the check for quotes, take
# 0.28 µs a record, where `[,\n]` and a mark over its joined rows took 0.72 µs.
# A NUL inside a cell is at worst a false alarm.
_MARK_AFTER_NUL = re.compile("\x00[" + "".join(map(re.escape, _FORMULA_STARTS)) + "]")


def _may_start_formula(joined: str) -> bool:
    """Whether any of the cells joined by NUL in `joined` may start with a character
    `guarded` looks at."""
    return joined.startswith(_FORMULA_STARTS) or _MARK_AFTER_NUL.search(joined) is not None


def _needs_quotes(text: str) -> bool:
    """Whether a csv writer (QUOTE_MINIMAL, CRLF) would quote a field holding `text`.

    Four scans of one character each (memchr): far cheaper than one scan for
    any of four.
    """
    return "," in text or '"' in text or "\n" in text or "\r" in text


def _quoted(cells: Sequence[str]) -> list[str]:
    """Fields as a csv writer writes them: quoted, their quotes doubled, where they need it."""
    return [
        '"' + cell.replace('"', '""') + '"'
        if "," in cell or '"' in cell or "\n" in cell or "\r" in cell  # `_needs_quotes`, inlined
        else cell
        for cell in cells
    ]


def _meta_cell(meta: Any) -> Any:
    return None if meta is None else json_bytes(meta).decode()


def _meta_fields(metas: Sequence[Any]) -> list[str]:
    """Each `meta` as a CSV field: compact JSON ("" for None), quoted as a csv writer would."""
    try:
        return _json_fields(metas, to_json)
    except PydanticSerializationError:  # a lone surrogate: `json_bytes` serialises it
        return _json_fields(metas, json_bytes)


def _json_fields(values: Sequence[Any], serialise: Callable[[Any], bytes]) -> list[str]:
    fields = []
    for value in values:
        if value is None:
            fields.append("")
            continue
        text = serialise(value).decode()
        # JSON has no raw line end: only a quote or a comma makes a field quoted.
        fields.append('"' + text.replace('"', '""') + '"' if '"' in text or "," in text else text)
    return fields


def _time_cell(epoch_ms: Any) -> Any:
    return None if epoch_ms is None else iso_ms(epoch_ms)


_RAW = operator.attrgetter("raw")  # a page's dicts in one C call


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
        # A page is joined here rather than by the csv module (which spent more
        # time on a row than the rest of the export did) when every cell is
        # text, an int or None: fields of the contract, times and `meta`. Other
        # layouts go to the csv module, and so does a page holding a cell of
        # another type.
        self._joined = not self._from_record and len(self._columns) > 1
        # All of a row's fields in one C call, when the record sent each of them
        # (a tuple: a joined row has two columns or more).
        self._every = operator.itemgetter(*self._columns)
        # Validated records hold an int in `count`, an int or None in the times, a
        # dict or None in `meta`, and text or None in every other plain column.
        self._numbers = [index for index, column in enumerate(self._columns) if column == "count"]
        self._times = [index for index, fix in self._from_value if fix is _time_cell]
        self._metas = [index for index, fix in self._from_value if fix is _meta_cell]
        made = {*self._numbers, *self._times, *self._metas}
        self._texts = [index for index in range(len(self._columns)) if index not in made]
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
        self._csv.writerows([self._cells(record.raw) for record in records])
        self._drain()

    def _joined_page(self, records: Sequence[UsageRecord]) -> str:
        """The page's rows, joined directly, a column at a time.

        The cells are read a row at a time in C and turned into columns; each
        column is made in one comprehension (None made "", counts made text,
        times from the page's date, `meta` serialised) and the rows joined
        again. Whether a text cell needs the guard or quotes is asked once of
        the page's text cells, and of a column only when some cell does.
        """
        raws = list(map(_RAW, records))
        try:
            rows = list(map(self._every, raws))
        except KeyError:  # a field left out rather than sent as null
            rows = [tuple(map(raw.get, self._columns)) for raw in raws]
        cells: list[Sequence[Any]] = list(zip(*rows, strict=True))
        texts = self._texts
        # Comprehensions rather than `map`: with `is None` and `str` inlined by
        # the interpreter, they take half the time.
        for index in texts:
            cells[index] = ["" if cell is None else cell for cell in cells[index]]
        # NUL is neither a mark nor a character that needs quotes; an empty cell
        # is neither, and left out.
        joined = "\x00".join(filter(None, chain.from_iterable(cells[index] for index in texts)))
        if self._guard and _may_start_formula(joined):
            for index in texts:
                cells[index] = list(map(guarded, cells[index]))
        # A leading `'` needs no quotes: `joined` still tells whether a cell does.
        if _needs_quotes(joined):
            for index in texts:
                if _needs_quotes("".join(cells[index])):
                    cells[index] = _quoted(cells[index])
        for index in self._numbers:
            cells[index] = ["" if cell is None else str(cell) for cell in cells[index]]
        made: tuple[Sequence[Any], list[str]] | None = None
        for index in self._times:
            epochs = cells[index]
            # `updatedAt` is usually `createdAt`, record for record: made once.
            if made is None or made[0] != epochs:
                made = (epochs, iso_ms_each(epochs))
            cells[index] = made[1]
        for index in self._metas:
            cells[index] = _meta_fields(cells[index])
        return "\r\n".join(map(",".join, zip(*cells, strict=True))) + "\r\n"

    def close(self) -> None:
        self._stream.flush()
