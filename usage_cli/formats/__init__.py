"""Output formats behind one interface: `write` a batch of records, then `close`.

The machine formats (jsonl, json, csv) write UTF-8 bytes to a binary stream, a
page at a time. The table (`formats.table`) needs rich and a text stream, and
is imported only when asked for, so the machine formats stay usable without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO, Protocol

from usage_cli.records import UsageRecord


class Writer(Protocol):
    def write(self, records: Sequence[UsageRecord]) -> None:
        """Write a batch (usually one page) of records."""

    def close(self) -> None:
        """Finish the output (closing bracket, rendered table); not the stream."""


def make_writer(
    fmt: str,
    stream: BinaryIO,
    columns: Sequence[str] | None = None,
    *,
    resumed_after: int | None = None,
) -> Writer:
    """A writer of a machine format (`jsonl`, `json`, `csv`) to a binary stream.

    `resumed_after` continues an output that already holds its preamble and
    that many records (a resumed export): no second CSV header or bracket.
    """
    if fmt == "jsonl":
        from usage_cli.formats.jsonl import JsonlWriter

        return JsonlWriter(stream)
    if fmt == "json":
        from usage_cli.formats.json import JsonWriter

        return JsonWriter(stream, resumed_after=resumed_after)
    if fmt == "csv":
        from usage_cli.formats.csv import CsvWriter

        return CsvWriter(stream, columns, resumed=resumed_after is not None)
    raise ValueError(f"unknown format {fmt!r}")
