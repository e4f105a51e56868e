"""Output formats behind one interface: `write` a batch of records, then `close`.

`Format` is the one vocabulary of formats (flags, file extensions, writers);
`make_writer` maps each member to its writer and checks, for the type checker,
that none is left out. Every writer takes a binary stream; the table, which
needs rich, is imported only when asked for, and this module imports neither
rich nor pydantic, so `--help` can name the formats for free.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, BinaryIO, Protocol, assert_never

if TYPE_CHECKING:
    from usage_cli.columns import Derived
    from usage_cli.display import Display
    from usage_cli.records import UsageRecord


class Format(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"

    @property
    def machine(self) -> bool:
        """Whether programs read it (exports), as opposed to people (table)."""
        return self is not Format.table


class ExportFormat(StrEnum):
    """What `usage export -o` takes: the machine formats, and parquet for a partitioned export.

    Parquet is no `Format`: it is written only as the parts of a folder
    (`--partition`), by `usage_cli.formats.parquet`, never by `make_writer`.
    A table is for people, never a file: neither `-o` nor TAB offers it.
    """

    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


class Writer(Protocol):
    def write(self, records: Sequence[UsageRecord]) -> None:
        """Write a batch (usually one page) of records."""

    def close(self) -> None:
        """Finish the output (closing bracket, rendered table); not the stream."""


def make_writer(
    fmt: Format | str,
    stream: BinaryIO,
    columns: Sequence[str] | None = None,
    *,
    resumed_after: int | None = None,
    display: Display | None = None,
    derived: Derived | None = None,
    exact: bool = False,
    headers: bool = True,
) -> Writer:
    """A writer of `fmt` to a binary stream.

    `resumed_after` continues an output that already holds its preamble and
    that many records (a resumed export): no second CSV header or bracket.
    `display` is the reader's terminal (width, colour, zone) for a table; for
    CSV, its zone when `--tz` asked for one. `derived` fills columns no record
    carries (`cost`), for csv and table. A CSV cell a spreadsheet would run
    as a formula gets a leading `'` unless `exact`. `headers=False` leaves out a
    CSV's header row and a table's header (`--no-headers`, as kubectl's).
    """
    fmt = Format(fmt)
    if fmt is Format.jsonl:
        from usage_cli.formats.jsonl import JsonlWriter

        return JsonlWriter(stream)
    if fmt is Format.json:
        from usage_cli.formats.json import JsonWriter

        return JsonWriter(stream, resumed_after=resumed_after)
    if fmt is Format.csv:
        from usage_cli.formats.csv import CsvWriter

        zone = display.zone if display is not None and display.csv_zone else None
        return CsvWriter(
            stream,
            columns,
            # A resumed output holds its header already; --no-headers wants none.
            resumed=resumed_after is not None or not headers,
            zone=zone,
            derived=derived,
            guard=not exact,
        )
    if fmt is Format.table:
        from usage_cli.formats.table import TableWriter

        return TableWriter.over_bytes(stream, columns, display, derived, headers=headers)
    assert_never(fmt)
