"""The parts of a partitioned export as records arrive: each record to its folder's part.

A part is closed, fsynced and hashed when the records move on to another
folder or when it is full; records out of `createdAt` order that come back to
a folder go to its next part, never into a finished one. Where the parts are
built, and how the set is published, is `usage_cli.export._partitioned`'s.
"""

from __future__ import annotations

import contextlib
import gzip
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from usage_cli._files import naming, sha256_of
from usage_cli.errors import UnrepresentableError
from usage_cli.export._json import PartJson
from usage_cli.export._run import GZIP_LEVEL, cost_column
from usage_cli.formats import Format, Writer, make_writer
from usage_cli.partitions import Folders, PartFormat, Partition, part_path
from usage_cli.records import UsageRecord

if TYPE_CHECKING:
    from usage_cli.prices import PriceTable


class Part:
    """One part file as it is written: gzipped lines, or parquet."""

    def __init__(
        self,
        root: Path,
        folder: str,
        number: int,
        fmt: PartFormat,
        prices: PriceTable | None = None,
        *,
        exact: bool = False,
    ) -> None:
        self.folder = folder
        self.name = part_path(folder, number, fmt)
        self.file = root / self.name
        self.records = 0
        self.file.parent.mkdir(exist_ok=True)
        self._handle = open(self.file, "wb")  # noqa: SIM115 (owned by the object)
        self._gzip: gzip.GzipFile | None = None
        self._writer: Writer
        try:
            if fmt is PartFormat.parquet:
                from usage_cli.formats.parquet import ParquetWriter

                self._writer = ParquetWriter(self._handle)
            else:
                # One gzip member per part; no name or time in its header, so
                # the same records give the same bytes.
                self._gzip = gzip.GzipFile(
                    filename="",
                    mode="wb",
                    fileobj=self._handle,
                    compresslevel=GZIP_LEVEL,
                    mtime=0,
                )
                self._writer = make_writer(
                    Format(fmt.value),
                    cast(BinaryIO, self._gzip),
                    exact=exact,
                    **cost_column(prices),
                )
        except BaseException:
            self._handle.close()
            raise

    @property
    def size(self) -> int:
        return self._handle.tell()

    def write(self, records: Sequence[UsageRecord]) -> None:
        with naming(self.file):
            self._writer.write(records)
        self.records += len(records)

    def finish(self) -> PartJson:
        """Close the part for good, durable, and describe it for the manifest."""
        with naming(self.file):
            self._writer.close()
            if self._gzip is not None:
                self._gzip.close()
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        return {
            "path": self.name,
            "records": self.records,
            "bytes": self.file.stat().st_size,
            # Read back from the disk: the manifest vouches for what is there.
            "sha256": sha256_of(self.file),
        }

    def abandon(self) -> None:
        # The file is about to go: its writer is closed only so that it lets go
        # of the handle (pyarrow's would otherwise complain when collected). A
        # write that failed fails again on closing; the first error tells it.
        with contextlib.suppress(Exception):
            self._writer.close()
        with contextlib.suppress(OSError, ValueError):
            self._handle.close()


def runs_by_folder(
    records: Sequence[UsageRecord], folders: Folders
) -> Iterator[tuple[str, Sequence[UsageRecord]]]:
    """Consecutive records of one folder, with the folder: a page usually spans one or two."""
    start = 0
    current: str | None = None
    for index, record in enumerate(records):
        try:
            folder = folders.of(record.created_at)
        except ValueError as exc:
            raise UnrepresentableError(
                f"record {record.id!r}: {exc}, so it cannot be partitioned",
                hint="export it as -o jsonl without --partition, which keeps every value",
            ) from None
        if folder != current:
            if current is not None:
                yield current, records[start:index]
            current, start = folder, index
    if current is not None:
        yield current, records[start:]


class PartsBuilder:
    """The parts of one set as records arrive, in the hidden folder it is built in."""

    def __init__(
        self,
        root: Path,
        partition: Partition,
        fmt: PartFormat,
        part_records: int,
        prices: PriceTable | None = None,
        *,
        exact: bool = False,
    ):
        self.root = root
        self.fmt = fmt
        self.prices = prices
        self.exact = exact
        self.part_records = part_records
        self.folders = Folders(partition)
        self.parts: list[PartJson] = []
        self.current: Part | None = None
        self._numbers: dict[str, int] = {}
        self._finished_bytes = 0

    @property
    def size(self) -> int:
        return self._finished_bytes + (self.current.size if self.current is not None else 0)

    def add(self, records: Sequence[UsageRecord]) -> None:
        for folder, run in runs_by_folder(records, self.folders):
            start = 0
            while start < len(run):
                part = self._part_for(folder)
                chunk = run[start : start + self.part_records - part.records]
                part.write(chunk)
                start += len(chunk)

    def _part_for(self, folder: str) -> Part:
        part = self.current
        if part is not None and part.folder == folder and part.records < self.part_records:
            return part
        self.close_current()
        # Records out of createdAt order may come back to a folder already
        # closed: they go to its next part, never into a finished one.
        number = self._numbers.get(folder, 0)
        self._numbers[folder] = number + 1
        self.current = Part(self.root, folder, number, self.fmt, self.prices, exact=self.exact)
        return self.current

    def close_current(self) -> None:
        if self.current is not None:
            part = self.current.finish()
            self.current = None
            self.parts.append(part)
            self._finished_bytes += part["bytes"]

    def abandon(self) -> None:
        if self.current is not None:
            self.current.abandon()
            self.current = None
