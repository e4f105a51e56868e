from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from pydantic_core import PydanticSerializationError, to_json

from usage_cli.columns import json_bytes
from usage_cli.records import UsageRecord


class JsonlWriter:
    """One record per line, exactly the fields the API sent (serialised in Rust)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, records: Sequence[UsageRecord]) -> None:
        try:
            lines = b"".join([to_json(record.raw) + b"\n" for record in records])
        except PydanticSerializationError:
            lines = b"".join([json_bytes(record.raw) + b"\n" for record in records])
        self._stream.write(lines)

    def close(self) -> None:
        self._stream.flush()
