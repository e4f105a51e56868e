"""`usage export DIR --partition day|month`: a folder of parts, complete or nothing at DIR.

The set is built in a hidden sibling, `.DIR.partial/`: each record goes to
the part of its folder (`date=2026-11-24/part-00000.jsonl.gz`, see
`usage_cli.partitions`), a part is closed, fsynced and hashed when the
records move on to another folder or when it is full, and the manifest
lists every part last. Only then is the sibling put in place and the
manifest beside it, `DIR.manifest.json` (in the order `_set_target`
describes: a reader finds the old set or the new one, each with its
manifest, never half of either). Any failure, Ctrl-C included, removes the
sibling; one left by a killed run is removed (or, past the commit point,
put in place) by the next run, which holds the lock (`.DIR.lock`) and so
knows it is stale. With `--update` (`_update`), the partitions read replace
their folders in the existing set, and the others stay as they are.

There is no `--resume`: parts are rebuilt whole, as their order and hashes
depend on every record before them.

    with plan_partitioned(path, Partition.day, "parquet", force=..., ...) as plan:
        manifest = plan.run(client, query, api_root=..., now=...)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from usage_cli._files import fsync_directory, reason, remove_tree, write_atomically
from usage_cli._lock import TargetLock
from usage_cli.errors import (
    InputError,
    Interrupted,
    StorageError,
    UsageCliError,
)
from usage_cli.export._costs import CostTally, refuse_cost_unless_csv
from usage_cli.export._json import ApiJson, ChainJson
from usage_cli.export._manifest import SetManifest, strings_of, window_of
from usage_cli.export._parts import PartsBuilder, runs_by_folder
from usage_cli.export._run import OnProgress, Progress, Sign
from usage_cli.export._set_target import (
    EXAMPLE,
    SetTarget,
    check_existing,
    check_name_length,
    folder_of,
    part_format,
    put_in_place,
)
from usage_cli.export._stats import Stats
from usage_cli.export._target import signature_path
from usage_cli.export._update import check_kept, previous_of, updated, whole_periods
from usage_cli.partitions import (
    PART_RECORDS,
    PartFormat,
    Partition,
)
from usage_cli.query import Query, to_ms
from usage_cli.reading import Batch, PageSource, RecordStream

if TYPE_CHECKING:
    from usage_cli.prices import PriceTable


def _batches(client: PageSource, query: Query, exact: bool) -> Generator[Batch, None, None]:
    yield from RecordStream(client, query, exact=exact).batches()


@dataclass(frozen=True)
class PartitionedPlan:
    """A partitioned export that has passed every check that needs no server.

    It holds the lock beside DIR until `close`.
    """

    text: str  # DIR as the user wrote it, for messages
    target: SetTarget
    started: datetime
    force: bool
    lock: TargetLock
    note: str | None = None  # a set has nothing to say before its run (see `ExportPlan`)
    exact: bool = False  # `--exact` (see `ExportPlan`)
    # `--update`: add the window's partitions to the dataset at DIR (None: a new one).
    update: bool = False
    previous: SetManifest | None = None

    @property
    def path(self) -> Path:
        return self.target.path

    @property
    def fmt(self) -> str:
        return self.target.fmt

    @property
    def manifest_path(self) -> Path:
        return self.target.manifest

    def partitions_read(self, query: Query) -> list[str]:
        """`--update`: the folders of the partitions `query`'s window covers, each wholly;
        InputError (exit 2), before any request, naming one it would cut."""
        window = window_of(query, self.started)
        return whole_periods(self.target.partition, window, began_ms=to_ms(self.started))

    def check_cost(self) -> None:
        refuse_cost_unless_csv(self.target.fmt, partitioned=True)

    def check_resume(self, query: Query, prices: PriceTable | None) -> None:
        """A folder is never resumed (a stopped one is built again whole): nothing to check."""

    def close(self) -> None:
        self.lock.release()

    def __enter__(self) -> PartitionedPlan:
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
        monotonic: Callable[[], float] | None = None,
        on_progress: OnProgress | None = None,
        chain: ChainJson | None = None,
        prices: PriceTable | None = None,
        sign: Sign | None = None,
        part_records: int = PART_RECORDS,
    ) -> SetManifest:
        """Export every record of `query` into the set; its manifest once it is at DIR.

        `part_records` is how many records a part holds before the next begins.
        `sign` signs the manifest inside the set before the set is renamed onto
        DIR: the folder, its manifest and the signature arrive together.
        `prices` (`--cost`, csv parts only) adds a cost column to every part,
        and the table and the column's sum to the manifest. `stdout` and
        `monotonic` are the `Plan` protocol's: a set never goes to standard
        output, and keeps no checkpoint to time.
        """
        if not self.lock.held:
            raise RuntimeError("a partitioned export runs only while its plan holds the lock")
        if part_records < 1:
            raise ValueError("a part holds at least one record")
        if prices is not None:
            self.check_cost()
        api: ApiJson = {"url": api_root, "runAs": run_as}
        window = window_of(query, self.started)
        read = self.partitions_read(query) if self.update else None
        if read is not None:
            check_kept(self.target, self.previous, read, self.text)
        stats = Stats()
        by_folder: dict[str, Stats] | None = None if read is None else {}
        costs = None if prices is None else CostTally(prices)
        target = self.target
        builder = PartsBuilder(
            target.building, target.partition, target.fmt, part_records, prices, exact=self.exact
        )
        committed = False
        try:
            # Private while it is built, like every state file; see `put_in_place`.
            target.building.mkdir(mode=0o700)
            # Closed however the run ends: its prefetch thread stops before the client closes.
            with contextlib.closing(_batches(client, query, self.exact)) as batches:
                pages = self._fill(builder, batches, stats, costs, on_progress, by_folder)
            builder.close_current()
            parts, partitions, figures = builder.parts, None, stats.to_json()
            if read is not None and by_folder is not None:
                parts, partitions, figures = updated(
                    self.previous, window, read, builder.parts, by_folder
                )
            manifest = SetManifest(
                api=api,
                query=query.to_dict(),
                partition=self.target.partition,
                fmt=self.target.fmt,
                figures=figures,
                pages=pages,
                parts=parts,
                partitions=partitions,
                started_at=self.started,
                finished_at=now(),
                # A dataset's windows are its partitions': it is no link of a series.
                window=None if read is not None else window,
                chain=chain,
                prices=None if costs is None else costs.to_json(),
                strings=strings_of(
                    exact=self.exact,
                    fmt=self.target.fmt,
                    # A dataset's: every partition's, kept or read now.
                    mended=stats.mended
                    if partitions is None
                    else sum(entry.get("stringsMended", 0) for entry in partitions),
                ),
            )
            self._commit(manifest, sign)
            committed = True
            put_in_place(target, manifest)
        except BaseException as exc:
            builder.abandon()
            if committed:
                raise self._unfinished(exc) from None
            remove_tree(self.target.building)
            raise self._told(exc, stats.records) from None
        return manifest

    def _fill(
        self,
        builder: PartsBuilder,
        batches: Iterable[Batch],
        stats: Stats,
        costs: CostTally | None,
        on_progress: OnProgress | None,
        by_folder: dict[str, Stats] | None = None,
    ) -> int:
        pages = 0
        for batch in batches:
            builder.add(batch.records)
            stats.add_all(batch.records)
            stats.mended += batch.mended
            if by_folder is not None:
                start = 0
                for folder, run in runs_by_folder(batch.records, builder.folders):
                    figures = by_folder.setdefault(folder, Stats())
                    figures.add_all(run)
                    figures.mended += sum(batch.mended_each[start : start + len(run)])
                    start += len(run)
            if costs is not None:
                costs.add_all(batch.records)
            pages += 1
            if on_progress is not None:
                total = stats.summary.total
                on_progress(
                    Progress(
                        stats.records, pages, builder.size, total.first, total.last, stats.mended
                    )
                )
        return pages

    def _commit(self, manifest: SetManifest, sign: Sign | None) -> None:
        """Everything built made durable, then the pending manifest (and its signature)
        beside DIR: the commit point, after which the set is put in place whatever
        happens (this run, or the next one's recovery, does it)."""
        building, target = self.target.building, self.target.path
        text = manifest.to_text().encode("utf-8")
        for folder in {part["path"].split("/")[0] for part in manifest.parts}:
            if (building / folder).is_dir():
                fsync_directory(building / folder)
        fsync_directory(building)
        if not self.force and not self.update:
            there = target.is_symlink() or (
                target.exists() and not (target.is_dir() and not any(target.iterdir()))
            )
            if there or self.target.manifest.exists() or self.target.manifest.is_symlink():
                # An empty folder made meanwhile is replaced; anything else refuses it.
                raise StorageError(
                    f"{self.text!r} appeared while the export ran; it was left as it is",
                    hint="use --force to replace it",
                )
        pending = self.target.pending
        if sign is not None:
            write_atomically(signature_path(pending), sign(text))
        else:
            remove_tree(signature_path(pending))
        write_atomically(pending, text)
        fsync_directory(target.parent)

    def _unfinished(self, exc: BaseException) -> BaseException:
        """A failure while the committed set was being put in place: the next run ends it."""
        said = reason(exc) if isinstance(exc, OSError) else (str(exc) or type(exc).__name__)
        return StorageError(
            f"the export of {self.text} is complete but stopped while being put in place "
            f"({said}); {self.text} has no manifest until then",
            hint=f"run `usage export {self.text} --partition {self.target.partition}` "
            "(with --update for a dataset) again: it first finishes putting this one in place",
        )

    def _told(self, exc: BaseException, records: int) -> BaseException:
        """The error to report, saying that nothing was written."""
        nothing = (
            f"{self.text} was left as it was"
            if self.update
            else f"nothing was written to {self.text}"
        )
        if isinstance(exc, KeyboardInterrupt):
            return Interrupted(
                f"interrupted after {records:,} records; {nothing}",
                hint="rerun the same command to start again",
            )
        if isinstance(exc, UsageCliError):
            exc.hint = (exc.hint + "; " if exc.hint else "") + nothing
            return exc
        if isinstance(exc, OSError):
            # Disk full, a file-size limit, an I/O error: the user's to fix, then rerun.
            return StorageError(f"cannot write the export of {self.text}: {reason(exc)}; {nothing}")
        return exc


def plan_partitioned(
    path_text: str,
    partition: Partition | None,
    fmt: str | None,
    *,
    force: bool,
    resume: bool,
    now: Callable[[], datetime],
    exact: bool = False,
    update: bool = False,
) -> PartitionedPlan:
    """Every check of a partitioned export that needs no server; the plan holds DIR's lock.

    `fmt` is the `-o` word: jsonl (the default), csv or parquet. Parquet
    needs the `parquet` extra: without pyarrow it is refused here, before
    any request.
    """
    if partition is None:
        # Only -o parquet brings a caller here without --partition.
        raise InputError(
            "-o parquet writes a partitioned folder: add --partition day or month",
            hint=f"e.g. {EXAMPLE} -o parquet",
        )
    kind = part_format(fmt)
    if resume:
        raise InputError(
            "--resume does not apply to --partition: an interrupted partitioned export leaves "
            "nothing to continue",
            hint="rerun without --resume; the set is built again from the start",
        )
    if update and force:
        raise InputError(
            f"--update adds to the set at {path_text} and --force replaces it: give one or "
            "the other",
            hint="--update to add the window's partitions; --force (without --update) to "
            "export the whole set anew",
        )
    path = folder_of(path_text)
    if kind is PartFormat.parquet:
        from usage_cli.formats.parquet import require_pyarrow

        require_pyarrow()
    target = SetTarget(path, partition, kind)
    try:
        check_name_length(target)
        lock = TargetLock.acquire(target.lock, path_text)
        try:
            check_existing(target, path_text, force=force, update=update)
            previous = previous_of(target, path_text, exact=exact) if update else None
        except BaseException:
            lock.release()
            raise
    except OSError as exc:
        said = exc.strerror if exc.filename == path_text else reason(exc)
        raise InputError(f"cannot export to {path_text!r}: {said}") from None
    # To the millisecond, as a single-file export keeps it.
    moment = now()
    started = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return PartitionedPlan(
        path_text, target, started, force, lock, exact=exact, update=update, previous=previous
    )
