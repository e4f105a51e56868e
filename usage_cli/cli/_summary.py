"""`usage summary`."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from usage_cli.cli._app import app
from usage_cli.cli._invocation import invocation
from usage_cli.cli._options import (
    GLOBAL_NOTE,
    OUTPUT_PANEL,
    AbilityOpt,
    BlueprintOpt,
    BotOpt,
    ContactOpt,
    ConversationOpt,
    DatasetOpt,
    DbOpt,
    DemoOpt,
    MessageOpt,
    MetaOpt,
    OrderOpt,
    SinceOpt,
    SkillsetOpt,
    SourceOpt,
    TakeOpt,
    TaskOpt,
    TypeOpt,
    UntilOpt,
    WideOpt,
)
from usage_cli.cli._typer_internals import Command
from usage_cli.errors import InputError
from usage_cli.formats import Format
from usage_cli.query import DEFAULT_TAKE, Order
from usage_cli.relations import BY_ORDER

SUMMARY_EPILOG = """\
Examples:

\b
  usage summary --demo --by type
  usage summary --by bot --by day --since 7d --top 10
  usage summary --by meta.reason -o csv > reasons.csv
"""
_BY_WORDS = ", ".join(BY_ORDER)
# A summary is a table or a document of groups: the formats but jsonl (a test
# checks these are `Format` values).
SummaryFormat = Literal["table", "json", "csv"]


@app.command("summary", cls=Command, epilog=SUMMARY_EPILOG + GLOBAL_NOTE)
def summary_command(
    ctx: typer.Context,
    # The filters and window: read as a whole by `Invocation.query`.
    type_: TypeOpt = None,
    conversation_id: ConversationOpt = None,
    message_id: MessageOpt = None,
    task_id: TaskOpt = None,
    contact_id: ContactOpt = None,
    blueprint_id: BlueprintOpt = None,
    bot_id: BotOpt = None,
    dataset_id: DatasetOpt = None,
    skillset_id: SkillsetOpt = None,
    ability_id: AbilityOpt = None,
    meta: MetaOpt = None,
    order: OrderOpt = Order.desc,
    take: TakeOpt = DEFAULT_TAKE,
    since: SinceOpt = None,
    until: UntilOpt = None,
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            metavar="DIMENSION",
            help=f"Group by {_BY_WORDS}, hour, day, week, month (in --tz) or meta.KEY; "
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
    db: DbOpt = None,
    source: SourceOpt = None,
    wide: WideOpt = False,
) -> None:
    """Who used what: records and total count per group, largest first, with a grand total."""
    from usage_cli.pages import iter_records
    from usage_cli.summary import Summary, parse_by, write_csv, write_json

    run = invocation(ctx)
    query = run.query(ctx.params)
    dimensions = parse_by(by)
    if top is not None and top < 1:
        raise InputError(f"--top must be at least 1, not {top}")
    if output_format is not None:
        fmt = Format(output_format)
    else:
        fmt = Format.table if run.runtime.stdout_tty else Format.json
    settings = run.settings()
    zone = run.display(settings).zone
    with run.reading(settings, demo=demo, db=db, source=source) as reading:
        summary = None
        if db is not None:
            from usage_cli.archive import ArchiveReader

            assert isinstance(reading.pages, ArchiveReader)
            # Grouped by SQL, over the indexes, when the groups allow it.
            summary = reading.pages.summary(query, dimensions, zone)
        if summary is None:
            summary = Summary(dimensions, zone=zone).add_all(iter_records(reading.pages, query))
    if fmt is Format.table:
        from usage_cli.formats.table import render_summary

        render_summary(summary, run.runtime.stdout, top, run.display(settings, wide=wide))
        return
    with run.data_stream(fmt) as out:
        (write_json if fmt is Format.json else write_csv)(summary, out, top)
