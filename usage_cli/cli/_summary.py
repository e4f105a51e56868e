"""`usage summary`."""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from usage_cli.cli._app import app
from usage_cli.cli._invocation import invocation
from usage_cli.cli._options import (
    GLOBAL_NOTE,
    OUTPUT_PANEL,
    PAGING_PANEL,
    AbilityOpt,
    BlueprintOpt,
    BotOpt,
    ContactOpt,
    ConversationOpt,
    CostOpt,
    DatasetOpt,
    DbOpt,
    DemoOpt,
    MessageOpt,
    MetaOpt,
    PricesOpt,
    SinceOpt,
    SkillsetOpt,
    SourceOpt,
    TakeOpt,
    TaskOpt,
    TypeOpt,
    UntilOpt,
    WideOpt,
    query_of,
)
from usage_cli.cli._output import data_stream
from usage_cli.cli._typer_internals import Command
from usage_cli.errors import InputError
from usage_cli.formats import Format
from usage_cli.paging import DEFAULT_TAKE, Order
from usage_cli.relations import BY_ORDER

if TYPE_CHECKING:
    from datetime import tzinfo

    from usage_cli.cli._invocation import Reading
    from usage_cli.prices import PriceTable
    from usage_cli.query import Query
    from usage_cli.summary import Summary

SUMMARY_EPILOG = """\
Examples:

\b
  usage summary --demo --by type
  usage summary --by bot --by day --since 7d --top 10
  usage summary --by meta.reason -o csv > reasons.csv
  usage summary --demo --by bot --cost --sort cost
  usage summary --by bot --since 7d --compare previous   (these 7 days against the 7 before)
"""
_BY_WORDS = ", ".join(BY_ORDER)
# A summary is a table or a document of groups: the formats but jsonl (a test
# checks these are `Format` values).
SummaryFormat = Literal["table", "json", "csv"]
SortBy = Literal["count", "records", "cost"]


@app.command(
    "summary",
    cls=Command,
    short_help="Records and count per group, with a grand total",
    epilog=SUMMARY_EPILOG + GLOBAL_NOTE,
)
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
    order: Annotated[
        Order,
        typer.Option(
            help="Time buckets (--by hour, day, week, month) oldest first (asc) or newest "
            "first (desc); also the order records are read in.",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = Order.asc,
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
            help="Show the N largest groups and fold the rest into one '(other)' row (per time "
            "bucket: a bucket is never folded).",
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
    sort: Annotated[
        SortBy | None,
        typer.Option(
            "--sort",
            help="Largest first by count, records or cost (cost implies --cost) [default: count].",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            metavar="previous|SPAN|START..END",
            help="Set the --since window against another: previous (the equal window just "
            "before; for whole calendar months, the months before), a span (7d: the same "
            "window a week earlier) or dates; change per group, groups new or gone named as "
            "such.",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    cost: CostOpt = False,
    prices: PricesOpt = None,
    all_: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Accepted as list spells it: a summary always reads every matching record.",
            rich_help_panel=PAGING_PANEL,
        ),
    ] = False,
    demo: DemoOpt = False,
    db: DbOpt = None,
    source: SourceOpt = None,
    wide: WideOpt = False,
) -> None:
    """Who used what: records and total count per group, largest first, with a grand total."""
    from dataclasses import replace

    run = invocation(ctx)
    now = run.runtime.now()
    query = query_of(ctx.params, now=now)
    from usage_cli.summary import parse_by

    dimensions = parse_by(by)
    if top is not None and top < 1:
        raise InputError(f"--top must be at least 1, not {top}")
    if output_format is not None:
        fmt = Format(output_format)
    else:
        fmt = Format.table if run.runtime.stdout_tty else Format.json
    ranking = sort or "count"
    cost = cost or ranking == "cost"
    comparison = None
    if compare is not None:
        from usage_cli.compare import Window, baseline, check_dimensions

        check_dimensions(dimensions)
        if query.since_ms is None:
            raise InputError("--compare needs a --since window to compare", hint="e.g. --since 7d")
        end = query.until_ms if query.until_ms is not None else int(now.timestamp() * 1000)
        window = Window(query.since_ms, end)
        against = baseline(window, compare)
        since_at, until_at = against.moments()
        earlier = replace(query, since=since_at, until=until_at)
        query = replace(query, until=window.moments()[1])
    settings = run.settings(prices=prices)
    table = run.prices(settings) if cost else None
    zone = run.display(settings).zone
    with run.reading(settings, demo=demo, db=db, source=source) as reading:
        summary = summarise(reading, query, dimensions, zone, table, archive=db is not None)
        if compare is not None:
            from usage_cli.compare import Comparison

            before = summarise(reading, earlier, dimensions, zone, table, archive=db is not None)
            comparison = Comparison(summary, before, window, against)
    if comparison is not None:
        from usage_cli import compare as compared

        if fmt is Format.table:
            from usage_cli.reports.tables import render_comparison

            display = run.display(settings, wide=wide)
            render_comparison(comparison, run.runtime.stdout, top, display, ranking)
            return
        with data_stream(run.runtime, fmt) as out:
            writer = compared.write_json if fmt is Format.json else compared.write_csv
            writer(comparison, out, top, ranking)
        return
    from usage_cli.summary import write_csv, write_json

    if fmt is Format.table:
        from usage_cli.reports.tables import render_summary

        display = run.display(settings, wide=wide)
        render_summary(summary, run.runtime.stdout, top, display, ranking, order.value)
        return
    with data_stream(run.runtime, fmt) as out:
        (write_json if fmt is Format.json else write_csv)(summary, out, top, ranking, order.value)


def summarise(
    reading: "Reading",
    query: "Query",
    dimensions: tuple[str, ...],
    zone: "tzinfo",
    prices: "PriceTable | None",
    *,
    archive: bool,
) -> "Summary":
    """The groups of `query`'s records: by SQL from an archive when it can, else streamed."""
    from usage_cli.reading import iter_records
    from usage_cli.summary import Summary

    if archive:
        from usage_cli.archive import ArchiveReader

        assert isinstance(reading.pages, ArchiveReader)
        # Grouped by SQL, over the indexes, when the groups allow it.
        found = reading.pages.summary(query, dimensions, zone, prices)
        if found is not None:
            return found
    summary = Summary(dimensions, zone=zone, prices=prices)
    return summary.add_all(iter_records(reading.pages, query))


def summarise_all(
    reading: "Reading",
    query: "Query",
    groupings: Sequence[tuple[str, ...]],
    zone: "tzinfo",
    prices: "PriceTable | None",
    *,
    archive: bool,
) -> "list[Summary]":
    """The summaries of `query` by each grouping, from one read of the records.

    The API's records stream past once, into every summary, rather than once a
    grouping (a read of the API is the slow part of a report, and it pays by the
    page). An archive is asked once, by every dimension at once, and that summary
    folded onto each grouping: one SQL pass over the window, not one a grouping
    (a million records: 5.4 s for the one against 18 s for three, on a loaded
    machine).
    """
    from usage_cli.reading import iter_records
    from usage_cli.summary import Summary

    if archive:
        from usage_cli.reports.page import regroup

        widest = tuple(dict.fromkeys(d for by in groupings for d in by))
        whole = summarise(reading, query, widest, zone, prices, archive=True)
        return [regroup(whole, by) for by in groupings]
    found = [Summary(by, zone=zone, prices=prices) for by in groupings]
    for record in iter_records(reading.pages, query):
        for summary in found:
            summary.add(record)
    return found
