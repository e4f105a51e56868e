from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import tzinfo
from typing import BinaryIO

from usage_cli._text import utf8
from usage_cli.columns import CSV_COLUMNS, Derived, getter
from usage_cli.records import UsageRecord


class CsvWriter:
    """RFC 4180: a header row, CRLF line ends, quotes where a value needs them."""

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
        self._getters = [getter(column, zone, derived) for column in self._columns]
        self._buffer = io.StringIO(newline="")
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")
        if not resumed:
            self._csv.writerow(self._columns)
            self._drain()

    def _drain(self) -> None:
        self._stream.write(utf8(self._buffer.getvalue()))
        self._buffer.seek(0)
        self._buffer.truncate()

    def write(self, records: Sequence[UsageRecord]) -> None:
        getters = self._getters
        self._csv.writerows([[get(record.raw) for get in getters] for record in records])
        self._drain()

    def close(self) -> None:
        self._stream.flush()
