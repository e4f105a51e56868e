"""Records as aligned lines, written as they come: the table of `list --follow`.

A table needs every row before it can size its columns; a follow never ends.
So the columns have fixed widths wide enough for the platform's values, and
each record is one line, flushed at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, tzinfo
from typing import TextIO

from usage_cli._text import for_terminal
from usage_cli.columns import utc_moment
from usage_cli.records import UsageRecord

# (header, width): ids and type names as the platform makes them fit.
_LAYOUT = (("createdAt", 19), ("type", 32), ("count", 9), ("id", 24), ("botId", 0))


class LineWriter:
    def __init__(self, stream: TextIO, zone: tzinfo = UTC, zone_name: str = "UTC") -> None:
        self._stream = stream
        self._zone = zone
        self._zone_name = zone_name
        self._header_written = False

    def _line(self, cells: Sequence[str]) -> str:
        parts = []
        for (name, width), cell in zip(_LAYOUT, cells, strict=True):
            parts.append(cell.rjust(width) if name == "count" else cell.ljust(width))
        return "  ".join(parts).rstrip() + "\n"

    def write(self, records: Sequence[UsageRecord]) -> None:
        if not self._header_written:
            names = [name for name, _ in _LAYOUT]
            self._stream.write(self._line([f"createdAt ({self._zone_name})", *names[1:]]))
            self._header_written = True
        for record in records:
            moment = utc_moment(record.created_at)
            when = (
                str(record.created_at)
                if moment is None
                else f"{moment.astimezone(self._zone):%Y-%m-%d %H:%M:%S}"
            )
            cells = [when, record.type, f"{record.count:,}", record.id, record.bot_id or ""]
            self._stream.write(for_terminal(self._line(cells).rstrip("\n")) + "\n")
        self._stream.flush()

    def close(self) -> None:
        self._stream.flush()
