from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from pydantic_core import PydanticSerializationError, to_json

from usage_cli.columns import json_bytes
from usage_cli.records import UsageRecord


class JsonWriter:
    """One JSON array, a record per line, streamed so memory stays flat."""

    def __init__(self, stream: BinaryIO, *, resumed_after: int | None = None) -> None:
        self._stream = stream
        self._first = not resumed_after
        if resumed_after is None:
            stream.write(b"[")

    def write(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        try:
            parts = [to_json(record.raw) for record in records]
        except PydanticSerializationError:
            parts = [json_bytes(record.raw) for record in records]
        self._stream.write((b"\n" if self._first else b",\n") + b",\n".join(parts))
        self._first = False

    def close(self) -> None:
        self._stream.write(b"]\n" if self._first else b"\n]\n")
        self._stream.flush()
