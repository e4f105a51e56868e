"""`usage list`."""

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from usage_cli.cli._app import app
from usage_cli.cli._follow import DEFAULT_INTERVAL
from usage_cli.cli._invocation import invocation
from usage_cli.cli._options import (
    DEFAULT_LIMIT,
    GLOBAL_NOTE,
    OUTPUT_PANEL,
    PAGING_PANEL,
    AbilityOpt,
    BlueprintOpt,
    BotOpt,
    ContactOpt,
    ConversationOpt,
    CursorOpt,
    DatasetOpt,
    DbOpt,
    DemoOpt,
    ExactOpt,
    MessageOpt,
    MetaOpt,
    OrderOpt,
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
from usage_cli.cli._output import data_bytes, mended_note
from usage_cli.cli._typer_internals import Command
from usage_cli.errors import InputError
from usage_cli.formats import Format
from usage_cli.paging import DEFAULT_TAKE, Order

if TYPE_CHECKING:
    from decimal import Decimal

LIST_EPILOG = """\
Examples:

\b
  usage list --demo
  usage list --bot-id bot_1 --meta reason=retry --since 7d
  usage list --all --type OPENAI_GPT_4O_TOKEN | jq .count
  usage list -o csv --columns id,type,count,meta.reason --limit 100
  usage list --db --since 365d     (offline, from `usage sync`)
"""


# `list -o`: the formats, and kubectl's `wide` (the table at its natural width).
ListFormat = Literal["table", "wide", "json", "jsonl", "csv"]


@app.command(
    "list",
    cls=Command,
    short_help="Usage records: a table, or JSON lines in a pipe",
    epilog=LIST_EPILOG + GLOBAL_NOTE,
)
def list_command(
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
        ListFormat | None,
        typer.Option(
            "--format",
            "-o",
            help="Output format; wide: the table with every column, as --wide "
            "[default: table on a terminal, jsonl otherwise].",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    no_headers: Annotated[
        bool,
        typer.Option(
            "--no-headers",
            help="Leave out the header of a table or CSV (for scripts, as kubectl's).",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = False,
    columns: Annotated[
        str | None,
        typer.Option(
            help="Columns for csv and table, e.g. id,type,count,meta.reason,cost (in a pipe, "
            "implies csv; cost: from the price table, empty or 'unpriced' without a price).",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep printing new records as they appear, oldest first, until Ctrl-C "
            "(--since or --limit N: start with older ones).",
            rich_help_panel=PAGING_PANEL,
        ),
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help=f"With --follow: seconds between polls [default: {DEFAULT_INTERVAL:g}].",
            rich_help_panel=PAGING_PANEL,
            show_default=False,
        ),
    ] = None,
    prices: PricesOpt = None,
    demo: DemoOpt = False,
    db: DbOpt = None,
    source: SourceOpt = None,
    wide: WideOpt = False,
    exact: ExactOpt = False,
) -> None:
    """List usage records, newest first: a table on a terminal, JSON lines in a pipe."""
    from usage_cli.columns import parse_columns
    from usage_cli.formats import make_writer
    from usage_cli.reading import iter_records

    run = invocation(ctx)
    query = query_of(ctx.params, now=run.runtime.now())
    if all_ and limit is not None:
        raise InputError("--limit and --all cannot be used together")
    if limit is not None and limit < 1:
        raise InputError(
            f"--limit must be at least 1, not {limit}", hint="use --all for every record"
        )
    if output_format == "wide":
        # kubectl's `-o wide`: the table, every column at its natural width.
        fmt, wide = Format.table, True
    elif output_format:
        fmt = Format(output_format)
    elif run.runtime.stdout_tty:
        fmt = Format.table
    else:
        # Picking columns asks for rows: in a pipe that means CSV, not JSON lines.
        fmt = Format.csv if columns is not None else Format.jsonl
    if columns is not None and fmt not in (Format.csv, Format.table):
        raise InputError(f"--columns applies to csv and table output, not {fmt}")
    if no_headers and (fmt not in (Format.csv, Format.table) or follow):
        raise InputError(
            f"--no-headers applies to csv and table output, not {'--follow' if follow else fmt}"
        )
    chosen = parse_columns(columns, computed=("cost",)) if columns is not None else None
    costed = chosen is not None and "cost" in chosen
    if follow:
        _check_follow(ctx.params, fmt)
        if db is not None:
            raise InputError("--follow reads the live API; it cannot be used with --db")
        if costed:
            raise InputError("--follow does not show a cost column; use usage list without it")
    elif interval is not None:
        raise InputError("--interval goes with --follow")
    if prices is not None and not costed:
        raise InputError("--prices goes with a cost column: --columns ...,cost")
    settings = run.settings(prices=prices)
    derived = None
    table = run.prices(settings) if costed else None
    if table is not None:
        if fmt is Format.csv:
            derived = {"cost": table.cost_cell}
        else:
            currency = table.currency
            derived = {"cost": lambda raw: _shown_or_unpriced(table.cost_of(raw), currency)}
    if follow:
        from usage_cli.cli._follow import follow as follow_records

        follow_records(
            run,
            settings,
            query,
            fmt=fmt,
            columns=chosen,
            last=limit,
            interval=DEFAULT_INTERVAL if interval is None else interval,
            display=run.display(settings, wide=wide),
            demo=demo,
            exact=exact,
        )
        return

    with run.reading(settings, demo=demo, db=db, source=source) as reading:
        most = None if all_ else (limit or DEFAULT_LIMIT)
        stream = iter_records(reading.pages, query, limit=most, exact=exact)
        if fmt.machine:
            out = data_bytes(run.runtime, fmt)
        else:  # the table escapes its cells itself, and draws with escapes of its own
            run.runtime.stdout.flush()
            out = run.runtime.stdout.buffer
        display = run.display(settings, wide=wide)
        writer = make_writer(
            fmt, out, chosen, display=display, derived=derived, exact=exact, headers=not no_headers
        )
        for batch in stream.batches():
            writer.write(batch.records)
        writer.close()
        if stream.records == 0:
            kind = query.type
            if kind is not None and kind != kind.upper():
                # Usage types are upper case; the API matches them exactly.
                run.note(f"no records match; usage types are upper case: --type {kind.upper()}?")
            else:
                run.note("no records match")
        if stream.mended and fmt.machine:
            run.note(mended_note(stream.mended))
        if table is not None:
            run.note(table.note(short=run.runtime.stderr_tty))
        if not all_ and stream.records and not settings.quiet and stream.more_exist():
            first = (
                "the first record" if stream.records == 1 else f"the first {stream.records} records"
            )
            shown = f"showing {first}; more exist"
            if stream.next_cursor:
                from usage_cli.cli._argv import continuation
                from usage_cli.columns import iso_ms
                from usage_cli.query import to_ms

                # The command on a line of its own, never wrapped, each word quoted
                # for the shell: pasted as printed, it goes on where this one stopped.
                pinned = {
                    flag: iso_ms(to_ms(moment))
                    for flag, moment in (("--since", query.since), ("--until", query.until))
                    if moment is not None
                }
                line, dropped_token = continuation(run.words, stream.next_cursor, pinned)
                run.say(f"{shown} (--all for all).")
                if dropped_token:
                    # Before the command, which stays the last line (scripts take it).
                    run.say("the token option is left out of the line below: give it again")
                run.runtime.say(f"next: {line}", wrap=False)
            else:
                run.say(f"{shown}. Use --all")


def _shown_or_unpriced(amount: "Decimal | None", currency: str) -> str:
    from usage_cli.prices import shown

    return "unpriced" if amount is None else shown(amount, currency)


def _check_follow(params: dict[str, Any], fmt: Format) -> None:
    """What cannot go with --follow, refused before any request."""
    for name, flag in (("all_", "--all"), ("until", "--until")):
        if params.get(name):
            raise InputError(f"--follow cannot be used with {flag}: a follow has no end")
    if params.get("cursor"):
        raise InputError(
            "--follow cannot be used with --cursor: it starts from now, --since or --limit"
        )
    if params.get("since") and params.get("limit") is not None:
        raise InputError(
            "--follow starts either from --since or with the last --limit records, not both"
        )
    if params.get("order") == Order.asc:
        raise InputError("--follow prints oldest first already; --order does not apply")
    if fmt is Format.json:
        raise InputError("--follow cannot write -o json (one array that never ends): use jsonl")
    interval = params["interval"]
    if interval is not None and not (math.isfinite(interval) and 1 <= interval <= 3600):
        raise InputError(f"--interval must be between 1 and 3600 seconds, not {interval:g}")
