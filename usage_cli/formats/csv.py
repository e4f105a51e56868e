from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import TextIO

from usage_cli.columns import CSV_COLUMNS, text_of, value_of
from usage_cli.records import UsageRecord


class CsvWriter:
    """RFC 4180: a header row, CRLF line ends, quotes where a value needs them."""

    def __init__(
        self, stream: TextIO, columns: Sequence[str] | None = None, *, resumed: bool = False
    ) -> None:
        self._stream = stream
        self._columns = tuple(columns or CSV_COLUMNS)
        self._csv = csv.writer(stream, lineterminator="\r\n")
        if not resumed:
            self._csv.writerow(self._columns)

    def write(self, record: UsageRecord) -> None:
        self._csv.writerow([text_of(value_of(record, c), c) for c in self._columns])

    def close(self) -> None:
        self._stream.flush()
