"""The page pump: records from the API, a page at a time, into a sink.

The pump knows nothing of files: it writes each page whole and hands it back,
so that the caller can count it and, for a file, checkpoint it.
"""

from __future__ import annotations

import contextlib
import gzip
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from usage_cli.export._checkpoint import Checkpoint
from usage_cli.export._costs import COST_COLUMN, CostTally
from usage_cli.export._json import ChainJson, PricesJson, WindowJson
from usage_cli.export._manifest import Manifest, strings_of
from usage_cli.export._partial import PartialFile
from usage_cli.export._stats import Stats
from usage_cli.export._target import Target
from usage_cli.formats import Format, make_writer
from usage_cli.reading import Batch

if TYPE_CHECKING:
    from usage_cli.prices import PriceTable

CHECKPOINT_EVERY = 1.0  # seconds between checkpoints while an export runs
GZIP_LEVEL = 6


@dataclass(frozen=True)
class Progress:
    records: int
    pages: int
    bytes: int
    # The createdAt span (epoch ms) written so far: how far across a window it is.
    oldest: int | None = None
    newest: int | None = None
    # Strings whose half emoji became U+FFFD so far (an export to `-` has no manifest
    # to say it).
    mended: int = 0


OnProgress = Callable[[Progress], None]
# A manifest's bytes to the signature beside it (`--sign`): made before either is
# published, so that a manifest never sits at its target unsigned.
Sign = Callable[[bytes], str]


@dataclass
class Tally:
    """What has been written so far; kept by the caller, so it outlives a failure."""

    stats: Stats
    pages: int = 0
    # With `--cost`: the cost column so far.
    costs: CostTally | None = None

    def add(self, batch: Batch) -> None:
        self.stats.add_all(batch.records)
        self.stats.mended += batch.mended
        if self.costs is not None:
            self.costs.add_all(batch.records)
        self.pages += 1

    def priced(self) -> PricesJson | None:
        """The cost column so far, for a checkpoint or the manifest; None without `--cost`."""
        return None if self.costs is None else self.costs.to_json()


def _progress(tally: Tally, size: int) -> Progress:
    total = tally.stats.summary.total
    return Progress(
        tally.stats.records, tally.pages, size, total.first, total.last, tally.stats.mended
    )


def write_pages(
    batches: Iterable[Batch],
    fmt: Format,
    sink: Callable[[bytes], object],
    *,
    compress: bool,
    resumed_after: int | None,
    prices: PriceTable | None = None,
    exact: bool = False,
) -> Iterator[Batch]:
    """Write each batch whole to `sink`, then yield it; finish the format at the end.

    `resumed_after` continues an output that already holds that many records.
    `prices` (CSV only) adds a `cost` column after the contract's columns.
    `exact` writes CSV cells unguarded (`make_writer`).
    """
    buffer = io.BytesIO()
    writer = make_writer(
        fmt, buffer, resumed_after=resumed_after, exact=exact, **cost_column(prices)
    )

    def chunk() -> bytes:
        data = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if compress and data:
            # One gzip member per page: the partial stays a valid gzip file at
            # every checkpoint, and mtime 0 keeps repeated exports identical.
            return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
        return data

    for batch in batches:
        writer.write(batch.records)
        sink(chunk())
        yield batch
    writer.close()
    sink(chunk())


def cost_column(prices: PriceTable | None) -> dict[str, Any]:
    """`make_writer`'s columns and derived cells for a CSV with a `cost` column, or nothing."""
    if prices is None:
        return {}
    from usage_cli.columns import CSV_COLUMNS

    return {
        "columns": (*CSV_COLUMNS, COST_COLUMN),
        "derived": {COST_COLUMN: prices.cost_cell},
    }


def to_stream(
    batches: Iterable[Batch],
    fmt: Format,
    stream: BinaryIO,
    tally: Tally,
    on_progress: OnProgress | None,
    *,
    exact: bool = False,
) -> None:
    """Every page to a stream as it comes (stdout: nothing to resume)."""
    prices = None if tally.costs is None else tally.costs.table
    pages = write_pages(
        batches, fmt, stream.write, compress=False, resumed_after=None, prices=prices, exact=exact
    )
    for batch in pages:
        tally.add(batch)
        stream.flush()
        if on_progress is not None:
            on_progress(_progress(tally, 0))
    stream.flush()


def to_file(
    batches: Iterable[Batch],
    target: Target,
    origin: Checkpoint,
    tally: Tally,
    *,
    resume_from: Checkpoint | None,
    on_progress: OnProgress | None,
    now: Callable[[], datetime],
    monotonic: Callable[[], float],
    window: WindowJson | None = None,
    chain: ChainJson | None = None,
    sign: Sign | None = None,
) -> Manifest:
    """Every page to the target's partial file, checkpointed; then publish it (signed by
    `sign` first, when given: see `PartialFile.finish`)."""
    resumed_after = None if resume_from is None else tally.stats.records
    with PartialFile.open(target, origin, resume_from=resume_from) as partial:
        last_saved = monotonic()
        try:
            pages = write_pages(
                batches,
                target.fmt,
                partial.write,
                compress=target.gzip,
                resumed_after=resumed_after,
                prices=None if tally.costs is None else tally.costs.table,
                exact=origin.exact,
            )
            for batch in pages:
                tally.add(batch)
                partial.commit(
                    batch.cursor, tally.pages, tally.stats.to_json(mended=True), tally.priced()
                )
                # Checkpointing costs an fsync and a rename: do it about once a
                # second, and always when the export stops early (below).
                if monotonic() - last_saved >= CHECKPOINT_EVERY:
                    partial.save()
                    last_saved = monotonic()
                if on_progress is not None:
                    on_progress(_progress(tally, partial.size))
            # Every page is in: if publishing fails now (a full disk), a resume
            # has only the publishing left to do.
            partial.save()
            file = partial.seal()
            manifest = Manifest(
                api=origin.api,
                query=origin.query,
                fmt=target.fmt,
                gzip=target.gzip,
                figures=tally.stats.to_json(),
                pages=tally.pages,
                file=file,
                started_at=origin.started_at,
                finished_at=now(),
                window=window,
                chain=chain,
                prices=tally.priced(),
                strings=strings_of(exact=origin.exact, fmt=target.fmt, mended=tally.stats.mended),
            )
            partial.finish(manifest, sign=sign)
        except BaseException:
            # A write that failed (the disk is full) fails again here; the
            # checkpoint saved before it still tells the truth, and the first
            # error is the one to report.
            with contextlib.suppress(OSError):
                partial.save()
            partial.discard_unless_saved()
            raise
    return manifest
