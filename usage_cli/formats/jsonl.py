from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from pydantic_core import to_json

from usage_cli.records import UsageRecord


class JsonlWriter:
    """One record per line, exactly the fields the API sent (serialised in Rust)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, records: Sequence[UsageRecord]) -> None:
        self._stream.write(b"".join([to_json(record.raw) + b"\n" for record in records]))

    def close(self) -> None:
        self._stream.flush()
