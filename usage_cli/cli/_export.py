"""`usage export` and `usage verify`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from usage_cli._progress import say as _say
from usage_cli.cli._app import (
    GLOBAL_NOTE,
    OUTPUT_PANEL,
    DemoOpt,
    Format,
    _client,
    _command,
    _query,
    _settings,
    _with_record_filters,
)
from usage_cli.errors import InputError, Interrupted, UsageCliError, VerifyError

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
    from usage_cli._progress import export_progress
    from usage_cli.export import Exporter, load_checkpoint, resolve_target, started_at

    fmt = output_format.value if output_format else None
    target = resolve_target(path, fmt, force=force, resume=resume)
    checkpoint = load_checkpoint(target) if resume else None
    if target.path is not None and not resume and not force and target.partial.exists():
        raise InputError(
            f"an interrupted export of {path!r} is waiting ({target.partial.name})",
            hint="continue it with --resume, or start over with --force",
        )
    query = _query(filters, now=started_at(checkpoint) if checkpoint else None)
    settings = _settings(ctx)
    if resume and checkpoint is None and not settings.quiet:
        _say(f"no interrupted export of {path} to resume; starting a new one")

    with _client(settings, demo=demo) as client, export_progress(settings, target.path) as progress:
        exporter = Exporter(
            client,
            query,
            target,
            started=started_at(checkpoint) if checkpoint else datetime.now(UTC),
            checkpoint=checkpoint,
            on_progress=progress.update,
            # The demo sandbox listens on a new port each run; name it instead.
            api_root="demo" if demo else settings.api_url,
        )
        try:
            manifest = exporter.run()
        except KeyboardInterrupt:
            if target.path is None:
                raise
            raise Interrupted(
                f"interrupted after {exporter.stats.records} records; "
                f"nothing was written to {path}",
                hint="rerun the same command with --resume to continue from the last page",
            ) from None
        except UsageCliError as exc:
            if target.path is not None and target.partial.exists():
                exc.hint = (exc.hint + "; " if exc.hint else "") + (
                    f"nothing was written to {path}; rerun with --resume to continue"
                )
            raise
        progress.done(manifest)


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
    sha = report.manifest["file"]["sha256"]
    sys.stdout.write(
        f"ok: {path} matches its manifest ({report.records:,} records, sha256 {sha})\n"
    )
