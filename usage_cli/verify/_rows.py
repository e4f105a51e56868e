"""Records read back from an export's text: one reader for whole files and for parts.

A file is CSV, a JSON array or JSON lines, gzipped or not; a part of a
partitioned folder is CSV or JSON lines, always gzipped (parquet parts have
their own reader, in `folder`).
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from usage_cli.export._costs import COST_COLUMN
from usage_cli.formats.csv import unguarded

# id, type, count, cost cell (None: no cost column, as in JSON), the record itself
Row = tuple[str, str, int, str | None, Mapping[str, Any]]

# What reading an export's records raises when its text is not what it should be.
UNREADABLE = (OSError, ValueError, KeyError, TypeError, EOFError, csv.Error)


class Unreadable(ValueError):
    """A record that cannot be read back, said for a person: where, and what is wrong."""


def unreadable(error: BaseException) -> str:
    """What an UNREADABLE error says of the file, in words rather than Python's."""
    if isinstance(error, Unreadable):
        return str(error)
    if isinstance(error, UnicodeDecodeError):
        return "it is not UTF-8 text"
    if isinstance(error, gzip.BadGzipFile | EOFError):
        return "its gzip stream is damaged or cut short"
    if isinstance(error, OSError):
        from usage_cli._files import reason

        return reason(error)
    if isinstance(error, json.JSONDecodeError):
        return f"it is not JSON ({error.msg}, line {error.lineno} column {error.colno})"
    if isinstance(error, csv.Error):
        return f"it is not CSV as written ({error})"
    return str(error)


def opened(path: Path, *, compressed: bool) -> IO[str]:
    """The export's text, as it was written (newline="": CSV keeps its own line ends)."""
    if compressed:
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def rows(handle: IO[str], fmt: str, *, guarded: bool = False) -> Iterator[Row]:
    """Each record of `handle`, written as `fmt`: csv, json (an array) or jsonl.

    `guarded`: the CSV's text cells may carry the `'` that keeps a spreadsheet
    from running them (the manifest says so); it is taken off here. A record
    that cannot be read is Unreadable, naming its line (its place in an array).
    """
    if fmt == "csv":
        yield from _csv_rows(handle, guarded=guarded)
        return
    if fmt == "json":
        items = json.load(handle)
        if not isinstance(items, list):
            raise Unreadable("it is not a JSON array")
        for number, item in enumerate(items, 1):
            yield _row(item, f"record {number} of the array")
        return
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise Unreadable(f"line {number} is not JSON ({exc.msg})") from None
        yield _row(item, f"line {number}")


def _csv_rows(handle: IO[str], *, guarded: bool) -> Iterator[Row]:
    # csv.reader rather than DictReader: a row cut short or with a cell too many
    # is damage to name, where DictReader would fill in None or a list.
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        raise Unreadable("it has no header row")
    for cells in reader:
        where = f"line {reader.line_num}"
        if len(cells) != len(header):
            raise Unreadable(f"{where} has {len(cells)} cells where the header has {len(header)}")
        if guarded:
            cells = [unguarded(cell) for cell in cells]
        row = dict(zip(header, cells, strict=True))
        yield _fields(row, where, row.get(COST_COLUMN))


def _row(item: Any, where: str) -> Row:
    if not isinstance(item, dict):
        raise Unreadable(f"{where} is not a JSON object")
    return _fields(item, where, None)


def _fields(record: Mapping[str, Any], where: str, cost: str | None) -> Row:
    missing = [name for name in ("id", "type", "count") if name not in record]
    if missing:
        raise Unreadable(f"{where} has no {missing[0]!r}")
    try:
        count = int(record["count"])
    except (TypeError, ValueError):
        raise Unreadable(f"{where}: count {record['count']!r} is not a whole number") from None
    return record["id"], record["type"], count, cost, record
