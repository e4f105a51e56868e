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


def opened(path: Path, *, compressed: bool) -> IO[str]:
    """The export's text, as it was written (newline="": CSV keeps its own line ends)."""
    if compressed:
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def rows(handle: IO[str], fmt: str, *, guarded: bool = False) -> Iterator[Row]:
    """Each record of `handle`, written as `fmt`: csv, json (an array) or jsonl.

    `guarded`: the CSV's text cells may carry the `'` that keeps a spreadsheet
    from running them (the manifest says so); it is taken off here.
    """
    if fmt == "csv":
        for row in csv.DictReader(handle):
            if guarded:
                row = {name: unguarded(cell) for name, cell in row.items()}
            yield row["id"], row["type"], int(row["count"]), row.get(COST_COLUMN), row
        return
    if fmt == "json":
        items = json.load(handle)
        if not isinstance(items, list):
            raise ValueError("the file is not a JSON array")
    else:
        items = (json.loads(line) for line in handle if line.strip())
    for item in items:
        yield item["id"], item["type"], int(item["count"]), None, item
