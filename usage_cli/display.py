"""How records are shown to a person: the terminal's width, colour, and time zone.

Light on purpose: the CLI builds one before it imports rich.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo


@dataclass(frozen=True)
class Display:
    # Columns to fit a table in; None keeps its natural width (a pipe, `--wide`).
    width: int | None = None
    color: bool = True
    zone: tzinfo = UTC
    zone_name: str = "UTC"
    # `--tz` given on the command line: CSV shows times in that zone too.
    csv_zone: bool = False
    quiet: bool = False
    # The run's clock (epoch ms): a narrow table shows only the time of today's records.
    now_ms: int | None = None
