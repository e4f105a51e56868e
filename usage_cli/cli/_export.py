"""`usage export` and `usage verify`."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from usage_cli.cli._app import (
    GLOBAL_NOTE,
    OUTPUT_PANEL,
    DemoOpt,
    _client,
    _command,
    _query,
    _settings,
    _with_record_filters,
)
from usage_cli.errors import VerifyError
from usage_cli.formats import Format

EXPORT_EPILOG = """\
Examples:

\b
  usage export audit.csv --bot-id bot_1 --since 30d
  usage export usage-2026-01.jsonl.gz --since 2026-01-01 --until 2026-01-31
  usage export audit.csv --resume        (after an interruption, same options)
  usage export - -o jsonl --type CHATBOTKIT_TASK_RUN | gzip > runs.jsonl.gz
"""


@_command("export", epilog=EXPORT_EPILOG + GLOBAL_NOTE)
@_with_record_filters
def export_command(
    ctx: typer.Context,
    filters: dict[str, Any],
    path: Annotated[
        str,
        typer.Argument(
            metavar="PATH",
            help="Target file: .csv, .jsonl/.ndjson or .json, optionally .gz; - for stdout.",
            show_default=False,
        ),
    ],
    output_format: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-o",
            help="json, jsonl or csv; needed for - and otherwise taken from PATH.",
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
    demo: DemoOpt = False,
) -> None:
    """Export every matching record to a file, atomically, with a manifest to verify it by."""
    from usage_cli._progress import export_progress, say
    from usage_cli.export import plan_export
    from usage_cli.runtime import utc_now

    # The outside world the export touches, taken in one place.
    stdout, now, monotonic = sys.stdout.buffer, utc_now, time.monotonic
    plan = plan_export(path, output_format, force=force, resume=resume, now=now)
    query = _query(filters, now=plan.started)
    settings = _settings(ctx)
    if plan.note and not settings.quiet:
        say(plan.note)
    with _client(settings, demo=demo) as client, export_progress(settings, plan.target.path) as ui:
        manifest = plan.run(
            client,
            query,
            # The demo sandbox listens on a new port each run; name it instead.
            api_root="demo" if demo else settings.api_url,
            stdout=stdout,
            now=now,
            monotonic=monotonic,
            on_progress=ui.update,
        )
        if manifest is not None:
            ui.done(dict(manifest.to_json()))


VERIFY_EPILOG = """\
Examples:

\b
  usage verify audit.csv
  usage export audit.csv && usage verify audit.csv && upload audit.csv
"""


@_command("verify", epilog=VERIFY_EPILOG + GLOBAL_NOTE)
def verify_command(
    path: Annotated[str, typer.Argument(metavar="PATH", help="A file written by `usage export`.")],
) -> None:
    """Check an export against its manifest: hash, record count, duplicate ids. Offline."""
    from pathlib import Path

    from usage_cli.verify import verify

    report = verify(Path(path))
    if not report.ok:
        raise VerifyError(f"{path} does not match its manifest: " + "; ".join(report.problems))
    sha = report.manifest.file["sha256"]
    sys.stdout.write(
        f"ok: {path} matches its manifest ({report.records:,} records, sha256 {sha})\n"
    )
