"""`usage export` and `usage verify`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from usage_cli.cli._app import app
from usage_cli.cli._evidence import ChainOpt, SignOpt, WindowOpt, evidence
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
)
from usage_cli.cli._partitioned import PARTITION_EXAMPLES, PartitionOpt, export_partitioned
from usage_cli.cli._typer_internals import Command
from usage_cli.formats import ExportFormat, Format
from usage_cli.query import DEFAULT_TAKE, Order

if TYPE_CHECKING:
    pass

EXPORT_EPILOG = (
    """\
Examples:

\b
  usage export audit.csv --bot-id bot_1 --since 30d
  usage export usage-2026-01.jsonl.gz --since 2026-01-01 --until 2026-01-31
  usage export audit.csv --resume        (after an interruption, same options)
  usage export - -o jsonl --type CHATBOTKIT_TASK_RUN | gzip > runs.jsonl.gz
"""
    + PARTITION_EXAMPLES
)


@app.command("export", cls=Command, epilog=EXPORT_EPILOG + GLOBAL_NOTE)
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
    chain: ChainOpt = None,
    window: WindowOpt = None,
    sign: SignOpt = None,
    demo: DemoOpt = False,
    db: DbOpt = None,
    source: SourceOpt = None,
) -> None:
    """Export every matching record to a file, atomically, with a manifest to verify it by."""
    if partition is not None or output_format is ExportFormat.parquet:
        export_partitioned(
            ctx,
            path,
            partition,
            output_format,
            force=force,
            resume=resume,
            demo=demo,
            db=db,
            source=source,
        )  # --chain, --window and --sign are read from ctx.params there
        return
    from usage_cli.cli._progress import Window, export_progress
    from usage_cli.export import Target, plan_export

    run = invocation(ctx)
    runtime = run.runtime
    fmt = None if output_format is None else Format(output_format)
    # The plan holds the target's lock until this run ends, however it ends.
    with plan_export(path, fmt, force=force, resume=resume, now=runtime.now) as plan:
        params, proof = evidence(run, ctx.params, to_stdout=path == "-", started=plan.started)
        query = run.query(params, now=plan.started)
        proof.check(query)
        settings = run.settings()
        if plan.note:
            run.note(plan.note)
        span = Window.of(query, plan.started)
        with (
            export_progress(
                runtime, settings.quiet, plan.target.path, window=span, color=run.color()
            ) as progress,
            run.reading(settings, demo=demo, db=db, source=source, say=progress.say) as reading,
        ):
            manifest = plan.run(
                reading.pages,
                query,
                # The demo sandbox listens on a new port each run; it is named instead.
                api_root=reading.root,
                run_as=reading.run_as,
                stdout=run.data_bytes(plan.target.fmt),
                now=runtime.now,
                monotonic=runtime.monotonic,
                on_progress=progress.update,
                chain=proof.chain,
            )
            if manifest is not None:
                progress.done(manifest)
        if manifest is not None and isinstance(plan.target, Target):
            proof.seal(run, plan.target.manifest)
