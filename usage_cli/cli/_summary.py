"""`usage summary`."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer

from usage_cli.cli._app import (
    GLOBAL_NOTE,
    OUTPUT_PANEL,
    DemoOpt,
    _client,
    _command,
    _data_stream,
    _query,
    _settings,
    _with_record_filters,
)
from usage_cli.errors import InputError

SUMMARY_EPILOG = """\
Examples:

\b
  usage summary --demo --by type
  usage summary --by bot --by day --since 7d --top 10
  usage summary --by meta.reason -o csv > reasons.csv
"""


class SummaryFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@_command("summary", epilog=SUMMARY_EPILOG + GLOBAL_NOTE)
@_with_record_filters
def summary_command(
    ctx: typer.Context,
    filters: dict[str, Any],
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            metavar="DIMENSION",
            help="Group by type, bot, conversation, task, contact, blueprint, dataset, "
            "skillset, ability, message, hour, day, week, month (UTC) or meta.KEY; "
            "repeatable [default: type].",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(
            help="Show the N largest groups and fold the rest into one '(other)' row.",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        SummaryFormat | None,
        typer.Option(
            "--format",
            "-o",
            help="table, json or csv [default: table on a terminal, json otherwise].",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    demo: DemoOpt = False,
) -> None:
    """Who used what: records and total count per group, largest first, with a grand total."""
    from usage_cli.pages import iter_records
    from usage_cli.summary import Summary, parse_by, write_csv, write_json

    query = _query(filters)
    dimensions = parse_by(by)
    if top is not None and top < 1:
        raise InputError(f"--top must be at least 1, not {top}")
    fmt = output_format.value if output_format else ("table" if sys.stdout.isatty() else "json")
    settings = _settings(ctx)
    with _client(settings, demo=demo) as client:
        summary = Summary(dimensions).add_all(iter_records(client, query))
    if fmt == "table":
        from usage_cli.formats.table import render_summary

        render_summary(summary, sys.stdout, top)
        return
    with _data_stream() as out:
        (write_json if fmt == "json" else write_csv)(summary, out, top)
