"""Output formats behind one interface: `write` each record, then `close`.

The table writer needs rich and is imported only when asked for, so the
machine formats stay usable without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TextIO

from usage_cli.records import UsageRecord

FORMATS: tuple[str, ...] = ("table", "json", "jsonl", "csv")


class Writer(Protocol):
    def write(self, record: UsageRecord) -> None: ...

    def close(self) -> None:
        """Finish the output (closing bracket, rendered table); not the stream."""


def make_writer(
    fmt: str,
    stream: TextIO,
    columns: Sequence[str] | None = None,
    *,
    resumed_after: int | None = None,
) -> Writer:
    """A writer of `fmt` to `stream`.

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
    if fmt == "table":
        from usage_cli.formats.table import TableWriter

        return TableWriter(stream, columns)
    raise ValueError(f"unknown format {fmt!r}")
