"""`usage export`: to a file, to standard output, or to a folder of parts (`--partition`)."""

import contextlib
import gc
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from usage_cli.cli._app import app
from usage_cli.cli._evidence import ChainOpt, Evidence, SignOpt, WindowOpt, evidence
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
    ExactOpt,
    ExportCostOpt,
    ExportStreamsOpt,
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
    query_of,
)
from usage_cli.cli._output import data_bytes, mended_note
from usage_cli.cli._typer_internals import Command
from usage_cli.errors import InputError
from usage_cli.formats import ExportFormat, Format
from usage_cli.paging import DEFAULT_TAKE, Order
from usage_cli.partitions import Partition

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from usage_cli.cli._invocation import Invocation, Reading
    from usage_cli.cli._progress import RunProgress
    from usage_cli.export import Plan, Progress
    from usage_cli.export._json import ApiJson, PricesJson
    from usage_cli.prices import PriceTable
    from usage_cli.query import Query
    from usage_cli.settings import Settings

PARTITION_EXAMPLES = """\
  usage export usage/ --partition day --since 90d   (usage/date=YYYY-MM-DD/part-00000.jsonl.gz)
  usage export usage/ --partition month -o parquet  (needs chatbotkit-usage[parquet])
  usage export usage/ --partition day --window day --update   (a daily job: adds yesterday)
"""

UpdateOpt = Annotated[
    bool,
    typer.Option(
        "--update",
        help="With --partition: write the window's partitions (whole days or months: "
        "--window, or --since/--until on UTC boundaries) into the existing set at PATH, "
        "replacing those partitions and keeping every other.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]

PartitionOpt = Annotated[
    Partition | None,
    typer.Option(
        "--partition",
        help="Write PATH as a folder of Hive-style parts, one folder per UTC day "
        "(date=YYYY-MM-DD/) or month (month=YYYY-MM/) of createdAt, with one "
        "manifest for the set beside it (PATH.manifest.json).",
        rich_help_panel=OUTPUT_PANEL,
        show_default=False,
    ),
]


EXPORT_EPILOG = (
    """\
Examples:

\b
  usage export audit.csv --bot-id bot_1 --since 30d
  usage export usage-2026-01.jsonl.gz --since 2026-01-01 --until 2026-01-31
  usage export audit.csv --resume        (after an interruption, same options)
  usage export - -o jsonl --type CHATBOTKIT_TASK_RUN | gzip > runs.jsonl.gz
  usage export costed.csv --cost --since 30d   (a cost column; the price table in the manifest)
"""
    + PARTITION_EXAMPLES
)


@app.command(
    "export",
    cls=Command,
    short_help="Every matching record to a file, with a manifest",
    epilog=EXPORT_EPILOG + GLOBAL_NOTE,
)
def export_command(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            metavar="PATH",
            help="Target file: .csv, .jsonl/.ndjson or .json, optionally .gz; - for stdout; "
            "a folder with --partition.",
            show_default=False,
        ),
    ],
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
    output_format: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            "-o",
            help="json, jsonl or csv; needed for - and otherwise taken from PATH. "
            "With --partition: jsonl (default), csv or parquet.",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace PATH if it exists.", rich_help_panel=OUTPUT_PANEL),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted export of PATH from its last checkpoint.",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = False,
    partition: PartitionOpt = None,
    update: UpdateOpt = False,
    chain: ChainOpt = None,
    window: WindowOpt = None,
    sign: SignOpt = None,
    cost: ExportCostOpt = False,
    prices: PricesOpt = None,
    demo: DemoOpt = False,
    db: DbOpt = None,
    source: SourceOpt = None,
    streams: ExportStreamsOpt = None,
    exact: ExactOpt = False,
) -> None:
    """Export every matching record to a file, atomically, with a manifest to verify it by."""
    if prices is not None and not cost:
        raise InputError("--prices goes with --cost")
    if streams is not None and streams != 1:
        raise InputError(
            "export reads the list as one chain; --streams is no longer an export option",
            hint="for a fast full history, a first `usage sync --db FILE` (which reads from "
            "both ends once the API answers slowly), then `usage export PATH --db FILE`",
        )
    if streams == 1:
        invocation(ctx).note(
            "note: --streams is no longer an export option (export reads one chain); "
            "--streams 1, which says just that, is accepted for old scripts: drop it"
        )
    if update and (chain or cost):
        raise InputError(
            f"--update goes without {'--chain' if chain else '--cost'}: a dataset's "
            + (
                "partitions are read by windows of their own"
                if chain
                else "parts have no cost column"
            )
        )
    if cost and partition is not None:
        from usage_cli.export._costs import refuse_cost_unless_csv

        # Before the folder is looked at: csv parts, or no cost column.
        refuse_cost_unless_csv(output_format or "jsonl", partitioned=True)
    from usage_cli.export import open_plan

    run = invocation(ctx)
    runtime = run.runtime
    # The plan holds the target's lock until this run ends, however it ends.
    with open_plan(
        path,
        output_format,
        partition,
        force=force,
        resume=resume,
        now=runtime.now,
        exact=exact,
        update=update,
    ) as plan:
        query, proof, settings = prepare(
            run, ctx.params, started=plan.started, to_stdout=plan.path is None, prices=prices
        )
        check_window(plan, query)
        table = None
        if cost:
            plan.check_cost()
            table = costed(run, settings)
        plan.check_resume(query, table)
        if plan.note:
            run.note(plan.note)
        with progress_and_reading(
            run, settings, query, plan.path, plan.started, demo=demo, db=db, source=source
        ) as (progress, reading):
            api: ApiJson = {"url": reading.root, "runAs": reading.run_as}
            proof.check_alike(query, api, plan.fmt)
            check_update(plan, query, api)
            told = _Told(progress.update)
            # What exists now (modules, the command, the client) lives as long as
            # the run: frozen, the collector no longer walks it, and the full
            # collection a long export makes takes 0.4 ms rather than 10 (the run
            # about 3% less CPU at 50,000 records). Once a process: a test
            # runner's later exports freeze nothing more.
            if not gc.get_freeze_count():
                gc.freeze()
            manifest = plan.run(
                reading.pages,
                query,
                # The demo sandbox listens on a new port each run; it is named instead.
                api_root=reading.root,
                run_as=reading.run_as,
                stdout=None if plan.path else data_bytes(runtime, Format(plan.fmt)),
                now=runtime.now,
                monotonic=runtime.monotonic,
                on_progress=told.update,
                chain=proof.chain,
                prices=table,
                sign=proof.signer(),
            )
            from usage_cli.export import SetManifest

            if isinstance(manifest, SetManifest):
                progress.done_set(manifest, check_window(plan, query))
            elif manifest is not None:
                progress.done(manifest)
        # This run's (a dataset's manifest counts every partition's; `-` has none).
        if told.mended:
            run.note(mended_note(told.mended))
        if table is not None:
            tell_cost(run, table, None if manifest is None else manifest.prices)
        if plan.manifest_path is not None and manifest is not None:
            proof.seal(run, plan.manifest_path)


def check_window(plan: "Plan", query: "Query") -> list[str] | None:
    """`--update`: the partitions the window reads; one it would read only in part is
    refused before the records' source is even opened. None for any other export."""
    from usage_cli.export._partitioned import PartitionedPlan

    if isinstance(plan, PartitionedPlan) and plan.update:
        return plan.partitions_read(query)
    return None


def check_update(plan: "Plan", query: "Query", api: "ApiJson") -> None:
    """`--update`: the dataset is one query; refuse a run that asks for other records, from
    another API or user (known once the reading is open, before any request)."""
    from usage_cli.export._partitioned import PartitionedPlan

    previous = plan.previous if isinstance(plan, PartitionedPlan) else None
    if previous is None:
        return
    from usage_cli.evidence import kind, unlike

    differs = unlike(
        kind(previous.query, previous.api, previous.fmt), kind(query.to_dict(), api, plan.fmt)
    )
    if differs:
        raise InputError(
            f"--update {plan.text}: a dataset is one query, and this run differs: "
            + "; ".join(differs),
            hint="run it as the dataset was written, or start a new dataset in another folder",
        )


class _Told:
    """Passes an export's progress on, and keeps how many strings it mended so far."""

    def __init__(self, then: "Callable[[Progress], None]") -> None:
        self._then = then
        self.mended = 0

    def update(self, progress: "Progress") -> None:
        self.mended = progress.mended
        self._then(progress)


def prepare(
    run: "Invocation",
    params: dict[str, Any],
    *,
    started: "datetime",
    to_stdout: bool,
    prices: str | None,
) -> "tuple[Query, Evidence, Settings]":
    """An export's query, evidence and settings: every check before a request."""
    params, proof = evidence(run, params, to_stdout=to_stdout, started=started)
    query = query_of(params, now=started)
    proof.check(query)
    if not to_stdout and not params.get("update"):
        # An --update's window must end on a whole partition: one that runs past the
        # start is refused, in its own words, and this note would only come first.
        _say_when_until_is_later(run, query, started)
    return query, proof, run.settings(prices=prices)


def _say_when_until_is_later(run: "Invocation", query: "Query", started: "datetime") -> None:
    """A manifest's window never claims the future (`window_of`): say so when asked to."""
    from usage_cli.columns import iso_ms
    from usage_cli.query import to_ms

    began = to_ms(started)
    if query.until_ms is not None and query.until_ms > began:
        run.note(
            f"note: --until {iso_ms(query.until_ms)} is later than this export began "
            f"({iso_ms(began)}); its manifest's window ends then: records created later "
            "are for the next export"
        )


@contextlib.contextmanager
def progress_and_reading(
    run: "Invocation",
    settings: "Settings",
    query: "Query",
    target: "Path | None",
    started: "datetime",
    *,
    demo: bool,
    db: str | None,
    source: str | None,
) -> "Iterator[tuple[RunProgress, Reading]]":
    """The progress display, and the records' source (whose notes go above it)."""
    from usage_cli.cli._progress import Window, run_progress

    runtime = run.runtime
    window = Window.of(query, started)
    with (
        run_progress(runtime, settings.quiet, target, window=window, color=run.color()) as progress,
        run.reading(settings, demo=demo, db=db, source=source, say=progress.say) as reading,
    ):
        yield progress, reading


def costed(run: "Invocation", settings: "Settings") -> "PriceTable":
    """The price table of `--cost`: a bad price file is exit 2 here, before any request."""
    return run.prices(settings)


def tell_cost(run: "Invocation", table: "PriceTable", money: "PricesJson | None") -> None:
    """The cost of what was exported (a file's manifest has it), and the table, on stderr."""
    if money is not None:
        from decimal import Decimal

        from usage_cli.prices import shown

        line = f"cost {shown(Decimal(money['cost']), money['currency'])}"
        unpriced = money["unpriced"]
        if unpriced["types"]:
            share = money["coverage"]
            priced = "" if share is None else f"; {share:.1%} of the count priced"
            line += (
                f" ({unpriced['count']:,} of the count unpriced: "
                f"{', '.join(unpriced['types'])}{priced})"
            )
        run.note(line)
    run.note(table.note(short=run.runtime.stderr_tty))
