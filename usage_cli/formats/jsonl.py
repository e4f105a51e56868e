from __future__ import annotations

from typing import TextIO

from usage_cli.columns import compact_json
from usage_cli.records import UsageRecord


class JsonlWriter:
    """One record per line, exactly as the API sent it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, record: UsageRecord) -> None:
        self._stream.write(compact_json(record.raw) + "\n")

    def close(self) -> None:
        self._stream.flush()
