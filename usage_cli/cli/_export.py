"""`usage export` and `usage verify`."""

from __future__ import annotations

from typing import Annotated

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
    DemoOpt,
    MessageOpt,
    MetaOpt,
    OrderOpt,
    SinceOpt,
    SkillsetOpt,
    TakeOpt,
    TaskOpt,
    TypeOpt,
    UntilOpt,
)
from usage_cli.cli._partitioned import PARTITION_EXAMPLES, PartitionOpt, export_partitioned
from usage_cli.cli._typer_internals import Command
from usage_cli.errors import VerifyError
from usage_cli.formats import ExportFormat, Format
from usage_cli.query import DEFAULT_TAKE, Order

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
    demo: DemoOpt = False,
) -> None:
    """Export every matching record to a file, atomically, with a manifest to verify it by."""
    if partition is not None or output_format is ExportFormat.parquet:
        export_partitioned(
            ctx, path, partition, output_format, force=force, resume=resume, demo=demo
        )
        return
    from usage_cli.cli._progress import Window, export_progress
    from usage_cli.export import plan_export
    from usage_cli.query import to_ms

    run = invocation(ctx)
    runtime = run.runtime
    fmt = None if output_format is None else Format(output_format)
    # The plan holds the target's lock until this run ends, however it ends.
    with plan_export(path, fmt, force=force, resume=resume, now=runtime.now) as plan:
        query = run.query(ctx.params, now=plan.started)
        settings = run.settings()
        if plan.note:
            run.note(plan.note)
        window = None
        if query.since is not None:
            # No --until: the window ends when the export started.
            end = query.until_ms if query.until_ms is not None else to_ms(plan.started)
            window = Window(query.since_ms or 0, end, ascending=query.order is Order.asc)
        with (
            export_progress(
                runtime, settings.quiet, plan.target.path, window=window, color=run.color()
            ) as progress,
            run.client(settings, demo=demo, say=progress.say) as client,
        ):
            manifest = plan.run(
                client,
                query,
                # The demo sandbox listens on a new port each run; name it instead.
                api_root="demo" if demo else settings.api_url,
                stdout=run.data_bytes(plan.target.fmt),
                now=runtime.now,
                monotonic=runtime.monotonic,
                on_progress=progress.update,
            )
            if manifest is not None:
                progress.done(manifest)


VERIFY_EPILOG = """\
Examples:

\b
  usage verify audit.csv
  usage export audit.csv && usage verify audit.csv && upload audit.csv
  usage verify usage/          (a folder written with --partition)
"""


@app.command("verify", cls=Command, epilog=VERIFY_EPILOG + GLOBAL_NOTE)
def verify_command(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            metavar="PATH",
            help="A file written by `usage export`, or a folder written with --partition.",
        ),
    ],
) -> None:
    """Check an export against its manifest: hash, record count, duplicate ids. Offline."""
    from pathlib import Path

    from usage_cli.verify import verify

    report = verify(Path(path))
    if not report.ok:
        raise VerifyError(f"{path} does not match its manifest: " + "; ".join(report.problems))
    invocation(ctx).runtime.stdout.write(f"ok: {path} matches its manifest ({report.proof})\n")
