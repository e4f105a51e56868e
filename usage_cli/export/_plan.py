"""One export from start to finish: every check before the first request, then the run."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import BinaryIO

from usage_cli.client import Client
from usage_cli.errors import InputError, Interrupted, UsageCliError
from usage_cli.export._checkpoint import Checkpoint
from usage_cli.export._json import ApiJson
from usage_cli.export._manifest import Manifest
from usage_cli.export._run import OnProgress, Tally, to_file, to_stream
from usage_cli.export._stats import Stats
from usage_cli.export._target import Stdout, Target, resolve_target
from usage_cli.formats import Format
from usage_cli.pages import Batch, RecordStream
from usage_cli.query import Query


@dataclass(frozen=True)
class ExportPlan:
    """An export that has passed every check that needs no server."""

    text: str  # PATH as the user wrote it, for messages
    target: Target | Stdout
    # The start of this export, or of the one it resumes: the query's "now",
    # so that `--since 7d` means the same window after a resume.
    started: datetime
    checkpoint: Checkpoint | None = None
    # A line for the user before the run (the core prints nothing itself).
    note: str | None = None

    def run(
        self,
        client: Client,
        query: Query,
        *,
        api_root: str,
        stdout: BinaryIO,
        now: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        on_progress: OnProgress | None = None,
    ) -> Manifest | None:
        """Export; the manifest written beside a file target, None for stdout.

        `api_root` names the API in the checkpoint and manifest. A failure of
        a file export says how to continue it (`--resume`).
        """
        api: ApiJson = {"url": api_root, "runAs": client.run_as}
        checkpoint = self.checkpoint
        if checkpoint is not None:
            self._refuse_another_command_line(checkpoint, query, api)
        tally = (
            Tally(Stats())
            if checkpoint is None
            else Tally(Stats.from_json(checkpoint.stats), checkpoint.pages)
        )
        batches = self._batches(client, query)
        target = self.target
        if isinstance(target, Stdout):
            to_stream(batches, target.fmt, stdout, tally, on_progress)
            return None
        origin = Checkpoint(
            query=query.to_dict(),
            fmt=target.fmt,
            gzip=target.gzip,
            api=api,
            target=str(target.path),
            started_at=self.started,
        )
        try:
            return to_file(
                batches,
                target,
                origin,
                tally,
                resume_from=checkpoint,
                on_progress=on_progress,
                now=now,
                monotonic=monotonic,
            )
        except KeyboardInterrupt:
            raise self.interrupted(tally.stats.records) from None
        except UsageCliError as exc:
            self.add_resume_hint(exc)
            raise

    def _refuse_another_command_line(
        self, checkpoint: Checkpoint, query: Query, api: ApiJson
    ) -> None:
        differs = checkpoint.differences(query, self.target.fmt, self.target.gzip, api)
        if differs:
            raise InputError(
                "the interrupted export was made with a different " + ", ".join(differs),
                hint="rerun with the original options, or drop --resume and use --force",
            )

    def _batches(self, client: Client, query: Query) -> Iterable[Batch]:
        """The pages still to fetch: after the checkpoint's cursor, or none at its end."""
        if self.checkpoint is None:
            return RecordStream(client, query).batches()
        if self.checkpoint.end:
            return ()
        return RecordStream(client, replace(query, cursor=self.checkpoint.cursor)).batches()

    def interrupted(self, records: int) -> Interrupted:
        return Interrupted(
            f"interrupted after {records} records; nothing was written to {self.text}",
            hint="rerun the same command with --resume to continue from the last page",
        )

    def add_resume_hint(self, error: UsageCliError) -> None:
        """Tell how to continue, when the failed export left a partial file to continue."""
        if isinstance(self.target, Target) and self.target.partial.exists():
            error.hint = (error.hint + "; " if error.hint else "") + (
                f"nothing was written to {self.text}; rerun with --resume to continue"
            )


def plan_export(
    path_text: str,
    fmt: Format | None,
    *,
    force: bool,
    resume: bool,
    now: Callable[[], datetime],
) -> ExportPlan:
    """Every check of an export that needs no server: target, checkpoint, a waiting partial."""
    target = resolve_target(path_text, fmt, force=force, resume=resume)
    checkpoint = None
    if isinstance(target, Target):
        checkpoint = Checkpoint.load(target) if resume else None
        if not resume and not force and target.partial.exists():
            raise InputError(
                f"an interrupted export of {path_text!r} is waiting ({target.partial.name})",
                hint="continue it with --resume, or start over with --force",
            )
    note = None
    if resume and checkpoint is None:
        note = f"no interrupted export of {path_text} to resume; starting a new one"
    if checkpoint is not None:
        started = checkpoint.started_at
    else:
        # To the millisecond, as a checkpoint keeps it: a resume then computes
        # `--since 7d` from exactly the moment this run does.
        moment = now()
        started = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return ExportPlan(path_text, target, started, checkpoint, note)
