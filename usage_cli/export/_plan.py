"""One export from start to finish: every check before the first request, then the run.

A file export holds its target's lock from `plan_export` until the plan is
closed (`with plan_export(...) as plan:`), so that no other run can slip in
between the checks and the writing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from usage_cli._files import reason
from usage_cli._lock import TargetLock
from usage_cli.errors import InputError, Interrupted, StorageError, UsageCliError
from usage_cli.export._checkpoint import Checkpoint
from usage_cli.export._costs import CostTally, refuse_cost_unless_csv
from usage_cli.export._json import ApiJson, ChainJson
from usage_cli.export._manifest import Manifest, window_of
from usage_cli.export._run import OnProgress, Sign, Tally, to_file, to_stream
from usage_cli.export._stats import Stats
from usage_cli.export._target import Stdout, Target, resolve_target
from usage_cli.formats import Format
from usage_cli.query import Query
from usage_cli.reading import Batch, PageSource, RecordStream

if TYPE_CHECKING:
    from usage_cli.prices import PriceTable


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
    # Held by a file export until `close`; None for stdout.
    lock: TargetLock | None = None
    # `--exact`: the API's text as sent, no U+FFFD for a lone surrogate, no CSV guard.
    exact: bool = False

    @property
    def path(self) -> Path | None:
        return self.target.path

    @property
    def fmt(self) -> str:
        return self.target.fmt

    def check_cost(self) -> None:
        refuse_cost_unless_csv(self.target.fmt)

    def check_resume(self, query: Query, prices: PriceTable | None) -> None:
        checkpoint = self.checkpoint
        if checkpoint is not None:
            self._refuse_another_command_line(checkpoint, query, checkpoint.api, prices)

    @property
    def manifest_path(self) -> Path | None:
        """Where the manifest goes; None for stdout, which has none."""
        return self.target.manifest if isinstance(self.target, Target) else None

    def close(self) -> None:
        """Let go of the target (idempotent): another run may use it from now on."""
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> ExportPlan:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def run(
        self,
        client: PageSource,
        query: Query,
        *,
        api_root: str,
        run_as: str | None = None,
        stdout: BinaryIO | None = None,
        now: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        on_progress: OnProgress | None = None,
        chain: ChainJson | None = None,
        prices: PriceTable | None = None,
        sign: Sign | None = None,
    ) -> Manifest | None:
        """Export; the manifest written beside a file target, None for stdout.

        `stdout` takes the records of an export to `-`. `api_root` and
        `run_as` name the API in the checkpoint and manifest;
        `chain` links the manifest to the one before it in a series; `prices`
        (`--cost`, CSV only) adds a cost column, and the table and the
        column's sum to the manifest; `sign` signs the manifest before it and
        the file are published (`--sign`). A failure of a file export says how
        to continue it (`--resume`).
        """
        if isinstance(self.target, Target) and (self.lock is None or not self.lock.held):
            raise RuntimeError("a file export runs only while its plan holds the target's lock")
        if prices is not None:
            self.check_cost()
        api: ApiJson = {"url": api_root, "runAs": run_as}
        checkpoint = self.checkpoint
        if checkpoint is not None:
            self._refuse_another_command_line(checkpoint, query, api, prices)
        tally = (
            Tally(Stats())
            if checkpoint is None
            else Tally(Stats.from_json(checkpoint.stats), checkpoint.pages)
        )
        if prices is not None:
            saved = None if checkpoint is None else checkpoint.prices
            tally.costs = CostTally(prices) if saved is None else CostTally.from_json(prices, saved)
        # Closed however the run ends: its prefetch thread stops before the client closes.
        with contextlib.closing(self._batches(client, query)) as batches:
            return self._write(
                batches, query, api, tally, stdout, now, monotonic, on_progress, chain, sign
            )

    def _write(
        self,
        batches: Iterator[Batch],
        query: Query,
        api: ApiJson,
        tally: Tally,
        stdout: BinaryIO | None,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
        on_progress: OnProgress | None,
        chain: ChainJson | None,
        sign: Sign | None,
    ) -> Manifest | None:
        checkpoint = self.checkpoint
        target = self.target
        if isinstance(target, Stdout):
            if stdout is None:
                raise ValueError("an export to standard output needs `stdout`")
            try:
                to_stream(batches, target.fmt, stdout, tally, on_progress, exact=self.exact)
            except BrokenPipeError:
                raise  # a reader that has had enough (`| head`): the CLI ends quietly
            except OSError as exc:
                raise StorageError(f"cannot write to standard output: {reason(exc)}") from None
            return None

        origin = Checkpoint(
            query=query.to_dict(),
            fmt=target.fmt,
            gzip=target.gzip,
            api=api,
            target=str(target.path),
            started_at=self.started,
            exact=self.exact,
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
                window=window_of(query, self.started),
                chain=chain,
                sign=sign,
            )
        except KeyboardInterrupt:
            raise self.interrupted(tally.stats.records) from None
        except UsageCliError as exc:
            self.add_resume_hint(exc)
            raise
        except OSError as exc:
            # Disk full, a file-size limit, an I/O error: the user's to fix, then resume.
            error = StorageError(f"cannot write the export of {self.text}: {reason(exc)}")
            self.add_resume_hint(error)
            raise error from None

    def _refuse_another_command_line(
        self, checkpoint: Checkpoint, query: Query, api: ApiJson, prices: PriceTable | None
    ) -> None:
        sha256 = None if prices is None else prices.sha256
        differs = checkpoint.differences(
            query, self.target.fmt, self.target.gzip, api, sha256, exact=self.exact
        )
        if differs:
            raise InputError(
                "the interrupted export was made with a different " + ", ".join(differs),
                hint="rerun with the original options, or drop --resume and use --force",
            )

    def _batches(self, client: PageSource, query: Query) -> Generator[Batch, None, None]:
        """The pages still to fetch: after the checkpoint's cursor, or none at its end."""
        if self.checkpoint is not None:
            if self.checkpoint.end:
                return
            query = replace(query, cursor=self.checkpoint.cursor)
        yield from RecordStream(client, query, exact=self.exact).batches()

    def interrupted(self, records: int) -> Interrupted:
        resumable = isinstance(self.target, Target) and self.target.waiting
        return Interrupted(
            f"interrupted after {records:,} records; nothing was written to {self.text}",
            hint="rerun the same command with --resume to continue from the last page"
            if resumable
            else "rerun the same command to start again",
        )

    def add_resume_hint(self, error: UsageCliError) -> None:
        """Tell how to continue, when the failed export left a checkpoint to continue from."""
        if isinstance(self.target, Target) and self.target.waiting:
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
    exact: bool = False,
) -> ExportPlan:
    """Every check of an export that needs no server: target, lock, checkpoint, a waiting one.

    A file export's plan holds the target's lock: close it (or use it as a
    context manager) when the run is over.
    """
    try:
        target = resolve_target(path_text, fmt, force=force, resume=resume)
        lock = None
        checkpoint = None
        if isinstance(target, Target):
            # Before the partial and checkpoint are looked at: another run may
            # be writing them.
            _check_name_length(target)
            lock = TargetLock.acquire(target.lock, path_text)
            try:
                checkpoint = _waiting_checkpoint(target, path_text, force=force, resume=resume)
            except BaseException:
                lock.release()
                raise
    except OSError as exc:
        # Found before any request (a name too long, a directory that refuses):
        # the user's input or environment, told in the system's words.
        said = exc.strerror if exc.filename == path_text else reason(exc)
        raise InputError(f"cannot export to {path_text!r}: {said}") from None
    note = None
    if resume and checkpoint is None:
        note = f"no interrupted export of {path_text} to resume; starting a new one"
    elif checkpoint is not None:
        # Said before the first request: a resume that restarted would look the same.
        done = checkpoint.stats["records"]
        note = f"resuming {path_text} after {done:,} records ({checkpoint.pages:,} pages)"
    if checkpoint is not None:
        started = checkpoint.started_at
    else:
        # To the millisecond, as a checkpoint keeps it: a resume then computes
        # `--since 7d` from exactly the moment this run does.
        moment = now()
        started = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return ExportPlan(path_text, target, started, checkpoint, note, lock, exact)


def _check_name_length(target: Target) -> None:
    """OSError now, before any request, for a name that would fail only when first written."""
    longest = target.longest_hidden_name
    limit = os.pathconf(target.path.parent, "PC_NAME_MAX")
    if limit > 0 and len(os.fsencode(longest)) > limit:
        raise OSError(
            errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(target.path.with_name(longest))
        )


def _waiting_checkpoint(
    target: Target, text: str, *, force: bool, resume: bool
) -> Checkpoint | None:
    if resume:
        return Checkpoint.load(target)
    if not force and target.waiting:
        raise InputError(
            f"an interrupted export of {text!r} is waiting ({target.partial.name})",
            hint="continue it with --resume, or start over with --force",
        )
    return None
