"""`usage list`."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from usage_cli._progress import say as _say
from usage_cli.cli._app import (
    DEFAULT_LIMIT,
    GLOBAL_NOTE,
    OUTPUT_PANEL,
    PAGING_PANEL,
    CursorOpt,
    DemoOpt,
    Format,
    _client,
    _command,
    _query,
    _settings,
    _with_record_filters,
)
from usage_cli.errors import InputError

LIST_EPILOG = """\
Examples:

\b
  usage list --demo
  usage list --bot-id bot_1 --meta reason=retry --since 7d
  usage list --all --type OPENAI_GPT_4O_TOKEN | jq .count
  usage list -o csv --columns id,type,count,meta.reason --limit 100
"""


@_command("list", epilog=LIST_EPILOG + GLOBAL_NOTE)
@_with_record_filters
def list_command(
    ctx: typer.Context,
    filters: dict[str, Any],
    cursor: CursorOpt = None,
    limit: Annotated[
        int | None,
        typer.Option(
            help=f"Stop after this many records [default: {DEFAULT_LIMIT}].",
            rich_help_panel=PAGING_PANEL,
            show_default=False,
        ),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every matching record.", rich_help_panel=PAGING_PANEL)
    ] = False,
    output_format: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-o",
            help="Output format [default: table on a terminal, jsonl otherwise].",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            help="Columns for csv and table, e.g. id,type,count,meta.reason (in a pipe, "
            "implies csv).",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = None,
    demo: DemoOpt = False,
) -> None:
    """List usage records, newest first: a table on a terminal, JSON lines in a pipe."""
    from usage_cli.columns import parse_columns
    from usage_cli.formats import Writer, make_writer
    from usage_cli.pages import iter_records

    query = _query(filters | {"cursor": cursor})
    if all_ and limit is not None:
        raise InputError("--limit and --all cannot be used together")
    if limit is not None and limit < 1:
        raise InputError(
            f"--limit must be at least 1, not {limit}", hint="use --all for every record"
        )
    if output_format:
        fmt = output_format.value
    elif sys.stdout.isatty():
        fmt = "table"
    else:
        # Picking columns asks for rows: in a pipe that means CSV, not JSON lines.
        fmt = "csv" if columns is not None else "jsonl"
    if columns is not None and fmt not in ("csv", "table"):
        raise InputError(f"--columns applies to csv and table output, not {fmt}")
    chosen = parse_columns(columns) if columns is not None else None
    settings = _settings(ctx)

    with _client(settings, demo=demo) as client:
        stream = iter_records(client, query, limit=None if all_ else (limit or DEFAULT_LIMIT))
        writer: Writer
        if fmt == "table":
            from usage_cli.formats.table import TableWriter

            writer = TableWriter(sys.stdout, chosen)
        else:
            sys.stdout.flush()
            writer = make_writer(fmt, sys.stdout.buffer, chosen)
        for batch in stream.batches():
            writer.write(batch.records)
        writer.close()
        if settings.quiet:
            return
        if stream.records == 0:
            _say("no records match")
        if not all_ and stream.records and stream.more_exist():
            if stream.next_cursor:
                _say(
                    f"showing the first {stream.records} records; more exist. "
                    f"Continue with --cursor {stream.next_cursor}, or use --all"
                )
            else:
                _say(f"showing the first {stream.records} records; more exist. Use --all")
