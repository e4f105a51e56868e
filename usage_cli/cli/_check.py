"""`usage check`."""

from typing import TYPE_CHECKING, Annotated, Any, Literal

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
from usage_cli.cli._typer_internals import Command
from usage_cli.errors import InputError, ThresholdBreached
from usage_cli.paging import DEFAULT_TAKE

if TYPE_CHECKING:
    from usage_cli.check import Result

CHECK_EPILOG = """\
Examples:

\b
  usage check --since 1d --max-cost 50
  usage check --since 1d --by bot --max-count type=OPENAI_GPT_4O_TOKEN:2M --warn-at 80%
  usage check --since 1d --by bot --spike 3x          (against the median of the 7 days before)
  usage check --since 1d --max-cost 50 -o markdown >> "$GITHUB_STEP_SUMMARY"

Exit status: 0 when every threshold holds (also with warnings), 7 when one is breached.
"""
RULES_PANEL = "Thresholds"
CheckFormat = Literal["table", "json", "markdown"]
DEFAULT_WINDOW = "1d"


def _rule_option(metric: str, example: str) -> Any:
    return typer.Option(
        f"--max-{metric}",
        metavar="[GROUP=VALUE:]AMOUNT",
        help=f"Most {metric} allowed in the window, overall or in each --by group; "
        f"GROUP=VALUE: only the records of that group (e.g. {example}). Repeatable.",
        rich_help_panel=RULES_PANEL,
        show_default=False,
    )


@app.command("check", cls=Command, epilog=CHECK_EPILOG + GLOBAL_NOTE)
def check_command(
    ctx: typer.Context,
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
    take: TakeOpt = DEFAULT_TAKE,
    since: SinceOpt = None,
    until: UntilOpt = None,
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            metavar="DIMENSION",
            help="Measure each group of this dimension (type, bot, a relation, meta.KEY) "
            "instead of the whole window; repeatable.",
            rich_help_panel=RULES_PANEL,
            show_default=False,
        ),
    ] = None,
    max_records: Annotated[list[str] | None, _rule_option("records", "bot=bot_1:500")] = None,
    max_count: Annotated[
        list[str] | None, _rule_option("count", "type=OPENAI_GPT_4O_TOKEN:2M")
    ] = None,
    max_cost: Annotated[list[str] | None, _rule_option("cost", "bot=bot_1:10")] = None,
    spike: Annotated[
        str | None,
        typer.Option(
            "--spike",
            metavar="[METRIC:]FACTORx",
            help="Breached when the window is above FACTOR times the median of the --baseline "
            "windows of the same length before it (METRIC: records, count (default) or cost).",
            rich_help_panel=RULES_PANEL,
            show_default=False,
        ),
    ] = None,
    baseline: Annotated[
        int,
        typer.Option(
            "--baseline",
            metavar="N",
            help="With --spike: how many earlier windows the median is taken over.",
            rich_help_panel=RULES_PANEL,
        ),
    ] = 7,
    spike_floor: Annotated[
        str | None,
        typer.Option(
            "--spike-floor",
            metavar="AMOUNT",
            help="With --spike: a window below this is never a spike, so quiet groups page "
            "nobody [default: 10 records, a count of 1k, or $1].",
            rich_help_panel=RULES_PANEL,
            show_default=False,
        ),
    ] = None,
    warn_at: Annotated[
        str | None,
        typer.Option(
            "--warn-at",
            metavar="SHARE",
            help="Warn (exit 0) at this share of a limit, e.g. 80%.",
            rich_help_panel=RULES_PANEL,
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        CheckFormat | None,
        typer.Option(
            "--format",
            "-o",
            help="table, json or markdown [default: table on a terminal, json otherwise].",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    prices: PricesOpt = None,
    demo: DemoOpt = False,
    db: DbOpt = None,
    source: SourceOpt = None,
    wide: WideOpt = False,
) -> None:
    """Check a window's usage against thresholds: exit 7 when one is breached (for CI)."""
    from dataclasses import replace

    from usage_cli import check
    from usage_cli.cli._summary import summarise
    from usage_cli.compare import Window
    from usage_cli.reports import check as words
    from usage_cli.summary import parse_by

    run = invocation(ctx)
    now = run.runtime.now()
    params = {**ctx.params, "order": "desc", "since": since or DEFAULT_WINDOW}
    query = query_of(params, now=now)
    # Check's own words first: its groups are summary's less the time buckets.
    for dimension in by or ():
        check.check_dimension(dimension.strip(), "--by")
    dimensions = parse_by(by) if by else ()
    rules = [
        check.parse_rule(flag, text)
        for flag, texts in (
            ("--max-records", max_records),
            ("--max-count", max_count),
            ("--max-cost", max_cost),
        )
        for text in texts or ()
    ]
    spiked = (
        None if spike is None else check.parse_spike(spike, floor=spike_floor, windows=baseline)
    )
    if spiked is None and spike_floor is not None:
        raise InputError("--spike-floor goes with --spike")
    if not rules and spiked is None:
        raise InputError(
            "nothing to check: give a threshold",
            hint="--max-records, --max-count, --max-cost or --spike, e.g. --max-cost 50",
        )
    share = check.parse_warn_at(warn_at)
    fmt = output_format or ("table" if run.runtime.stdout_tty else "json")
    assert query.since_ms is not None
    end = query.until_ms if query.until_ms is not None else int(now.timestamp() * 1000)
    window = Window(query.since_ms, end)
    query = replace(query, until=window.moments()[1])
    selected = [r.selector[0] for r in rules if r.selector is not None]
    grouping = tuple(dict.fromkeys([*dimensions, *selected]))
    costed = any(r.metric == "cost" for r in rules) or (
        spiked is not None and spiked.metric == "cost"
    )
    settings = run.settings(prices=prices)
    table = run.prices(settings) if costed else None
    zone = run.display(settings).zone
    archive = db is not None
    results: list[Result] = []
    with run.reading(settings, demo=demo, db=db, source=source) as reading:
        if rules:
            current = summarise(reading, query, grouping, zone, table, archive=archive)
            results += check.evaluate(rules, current, dimensions, share)
        if spiked is not None:
            length = window.until - window.since + 1
            mine = summarise(reading, query, dimensions, zone, table, archive=archive)
            earlier = []
            for step in range(1, spiked.windows + 1):
                before = Window(window.since - step * length, window.until - step * length)
                since_at, until_at = before.moments()
                earlier_query = replace(query, since=since_at, until=until_at)
                earlier.append(
                    summarise(reading, earlier_query, dimensions, zone, table, archive=archive)
                )
            results += check.evaluate_spike(spiked, mine, earlier, dimensions, share)
    currency = table.currency if table is not None else "USD"
    span = f"{window.to_dict()['since']} .. {window.to_dict()['until']}"
    out = run.runtime.stdout
    if fmt == "json":
        import json

        document = check.to_dict(
            results, window=window.to_dict(), by=dimensions, warn_at=share, prices=table
        )
        out.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "markdown":
        words.write_markdown(results, out, window=span, prices=table, currency=currency)
    else:
        from usage_cli.reports.tables import render_check

        render_check(
            words.rows(results, currency), out, run.display(settings, wide=wide), window, table
        )
    out.flush()
    note = words.unpriced_note(results)
    if note and fmt != "markdown":
        run.note(f"note: {note}")
    for result in check.ordered(results):
        if result.status == check.WARN:
            run.note(f"warning: near a limit: {words.describe(result, currency)}")
    breaches = [r for r in results if r.status == check.BREACH]
    if breaches:
        more = f" (and {len(breaches) - 1} more)" if len(breaches) > 1 else ""
        raise ThresholdBreached(
            f"{len(breaches)} of {len(results)} checks breached: "
            f"{words.describe(check.ordered(breaches)[0], currency)}{more}"
        )
