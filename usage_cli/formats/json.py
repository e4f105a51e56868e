from __future__ import annotations

from typing import TextIO

from usage_cli.columns import compact_json
from usage_cli.records import UsageRecord


class JsonWriter:
    """One JSON array, streamed a record at a time so memory stays flat."""

    def __init__(self, stream: TextIO, *, resumed_after: int | None = None) -> None:
        self._stream = stream
        self._first = not resumed_after
        if resumed_after is None:
            stream.write("[")

    def write(self, record: UsageRecord) -> None:
        self._stream.write(("\n" if self._first else ",\n") + compact_json(record.raw))
        self._first = False

    def close(self) -> None:
        self._stream.write("]\n" if self._first else "\n]\n")
        self._stream.flush()
