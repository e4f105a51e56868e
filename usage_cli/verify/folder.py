"""`usage verify DIR`: prove a partitioned export is what its manifest says. Offline.

The manifest is `DIR.manifest.json`, beside the folder; a set written before
it moved there keeps it inside, as `DIR/_manifest.json`, and verifies as
ever. A folder with no manifest beside it but a pending one (a publication
begun and not finished, see `usage_cli.export._set_target`) is incomplete.

Every part listed is there with its size, sha256 and record count; nothing
else is in the folder (a stray file or folder is named); no record id
appears twice across the parts; each record is in the folder of its
`createdAt`; and the figures of the whole set add up to the manifest's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from usage_cli._files import reason, sha256_of
from usage_cli.errors import InputError, VerifyError
from usage_cli.export import SetManifest
from usage_cli.export._costs import CostColumn, cost_of
from usage_cli.export._json import PartJson
from usage_cli.partitions import (
    OLD_MANIFEST_NAME,
    Folders,
    PartFormat,
    folder_start,
    is_part_path,
    next_period,
    pending_manifest,
    set_manifest,
)
from usage_cli.verify._kind import Kind
from usage_cli.verify._lines import first_of
from usage_cli.verify._manifest import HeldToManifest
from usage_cli.verify._rows import UNREADABLE, opened, rows, unreadable

# Problems named one by one before the rest are only counted: the line stays readable.
SHOWN = 20
# Records of one part named as misfiled before the rest are only counted.
_MISFILED_SHOWN = 3

# id, type, count, createdAt (epoch ms), cost cell (None: no cost column)
Row = tuple[str, str, int, int, str | None]


@dataclass
class FolderReport(HeldToManifest[SetManifest]):
    kind: ClassVar[Kind] = "folder"
    found: list[str] = field(default_factory=list)
    # Beside the folder, or inside it for a set written before the manifest moved.
    manifest_at: Path | None = None

    @property
    def problems(self) -> list[str]:
        if len(self.found) <= SHOWN:
            return self.found
        return [*self.found[:SHOWN], f"and {len(self.found) - SHOWN} more problems"]

    @property
    def manifest_file(self) -> Path:
        return self.manifest_at or set_manifest(self.path)

    @property
    def proof(self) -> str:
        parts = len(self.manifest.parts)
        read = ""
        if self.manifest.partitions is not None:
            count = len(self.manifest.partitions)
            empty = sum(1 for entry in self.manifest.partitions if entry["records"] == 0)
            read = f", {count:,} partition{'s' * (count != 1)} read whole ({empty:,} empty)"
        return (
            f"{self.records:,} records in {parts:,} part{'s' * (parts != 1)}{read}, every sha256"
            + cost_of(self.manifest.prices)
        )


def _ms(text: str) -> int:
    """A CSV time back to epoch ms (a time no calendar shows was written as its number)."""
    if text.lstrip("-").isdigit():
        return int(text)
    moment = datetime.fromisoformat(text)
    # Whole seconds, then the milliseconds: exact, where a float of the whole might not be.
    return int(moment.replace(microsecond=0).timestamp()) * 1000 + moment.microsecond // 1000


def _rows(path: Path, fmt: PartFormat, *, guarded: bool) -> Iterator[Row]:
    if fmt is PartFormat.parquet:
        yield from _parquet_rows(path)
        return
    with opened(path, compressed=True) as handle:
        for record_id, kind, count, cell, record in rows(handle, fmt, guarded=guarded):
            text = record["createdAt"]
            created = _ms(text) if fmt is PartFormat.csv else int(text)
            yield record_id, kind, count, created, cell


def _parquet_rows(path: Path) -> Iterator[Row]:
    from usage_cli.formats.parquet import require_pyarrow

    parquet = require_pyarrow()
    import pyarrow as pa

    columns = ["id", "type", "count", "createdAt"]
    for batch in parquet.ParquetFile(path).iter_batches(columns=columns):
        created = batch.column("createdAt").cast(pa.int64()).to_pylist()
        yield from zip(
            batch.column("id").to_pylist(),
            batch.column("type").to_pylist(),
            batch.column("count").to_pylist(),
            created,
            [None] * batch.num_rows,
            strict=True,
        )


class _Checker:
    def __init__(self, report: FolderReport) -> None:
        self.report = report
        self.manifest = report.manifest
        self.folders = Folders(self.manifest.partition)
        self.first_part_of: dict[str, str] = {}
        self.twice: dict[str, list[str]] = {}
        self.count_by_type: dict[str, int] = {}
        # Records and the sum of `count` found in each folder's parts.
        self.by_folder: dict[str, list[int]] = {}
        self.costs = CostColumn()

    def problem(self, text: str) -> None:
        self.report.found.append(text)

    def part(self, part: PartJson) -> None:
        name = part["path"]
        file = self.report.path / name
        if not file.is_file():
            self.problem(f"{name}: missing")
            return
        try:
            size = file.stat().st_size
            digest = sha256_of(file)
        except OSError as exc:
            self.problem(f"{name}: cannot read it: {reason(exc)}")
            return
        if size != part["bytes"]:
            self.problem(f"{name}: size is {size} bytes, the manifest says {part['bytes']}")
        if digest != part["sha256"]:
            self.problem(f"{name}: sha256 is {digest}, the manifest says {part['sha256']}")
        folder = name.split("/")[0]
        records = 0
        misfiled: list[str] = []
        tally = self.by_folder.setdefault(folder, [0, 0])
        try:
            rows_of = _rows(file, self.manifest.fmt, guarded=self.manifest.formulas_guarded)
            for record_id, kind, count, created, cell in rows_of:
                records += 1
                tally[0] += 1
                tally[1] += count
                self._record(name, record_id, kind, count)
                self.costs.add(record_id, kind, count, cell)
                try:
                    belongs = self.folders.of(created)
                except ValueError:
                    belongs = "no folder"
                if belongs != folder:
                    misfiled.append(f"{record_id} belongs in {belongs}")
        except InputError:
            raise  # parquet without pyarrow: the tool cannot check, the set is not at fault
        except UNREADABLE as exc:
            self.problem(f"{name}: cannot read the records: {unreadable(exc)}")
            return
        finally:
            self.report.records += records
        if records != part["records"]:
            self.problem(f"{name}: holds {records} records, the manifest says {part['records']}")
        if misfiled:
            shown = first_of(misfiled, _MISFILED_SHOWN)
            self.problem(f"{name}: {len(misfiled)} records in the wrong folder ({shown})")

    def _record(self, part: str, record_id: str, kind: str, count: int) -> None:
        first = self.first_part_of.get(record_id)
        if first is None:
            self.first_part_of[record_id] = part
        else:
            self.twice.setdefault(record_id, [first]).append(part)
        self.count_by_type[kind] = self.count_by_type.get(kind, 0) + count


def verify_folder(directory: Path) -> FolderReport:
    """A folder written by `usage export DIR --partition ...`, against its manifest."""
    manifest_file = manifest_of_set(directory)
    manifest = SetManifest.load(manifest_file)
    report = FolderReport(directory, manifest, manifest_at=manifest_file)
    checker = _Checker(report)
    listed: list[str] = []
    for part in manifest.parts:
        name = part["path"]
        if not is_part_path(name, manifest.partition, manifest.fmt):
            # Never read outside the set (`../x`) or what this layout does not write.
            checker.problem(f"{name!r}: not a part this export writes ({manifest.fmt} parts)")
        elif name in listed:
            checker.problem(f"{name}: listed twice in the manifest")
        else:
            listed.append(name)
            checker.part(part)
    inside = manifest_file.parent == directory
    _strays(directory, set(listed), checker, manifest_file.name if inside else None)
    _duplicates(checker)
    _partitions(checker)
    _totals(checker)
    report.ids = set(checker.first_part_of)
    return report


def manifest_of_set(directory: Path) -> Path:
    """The manifest of the set at `directory`: beside it, or inside it for an older set.

    InputError (exit 2) for a folder that is no export; VerifyError (exit 6) for
    one whose publication was begun and not finished: it cannot be proven yet.
    """
    for manifest in (set_manifest(directory), directory / OLD_MANIFEST_NAME):
        if manifest.is_file():
            return manifest
    beside = set_manifest(directory).name
    if pending_manifest(directory).is_file():
        raise VerifyError(
            f"{str(directory)!r} is incomplete: an export of it stopped while putting it "
            f"in place, before {beside} was written beside it",
            hint="run the same `usage export` again: it first finishes putting the set in place",
        )
    raise InputError(
        f"{str(directory)!r} is a directory, not an export: no {beside} beside it",
        hint="verify checks a file written by `usage export` (usage verify audit.csv), "
        "or a folder written by `usage export DIR --partition day|month`",
    )


def _strays(
    directory: Path, listed: set[str], checker: _Checker, manifest: str | None = None
) -> None:
    """Files and folders the manifest does not list: a set is exactly its parts (and, in
    a set written before the manifest moved beside it, `manifest` and its signature)."""
    holding = {name.split("/")[0] for name in listed}
    for root, folders, files in os.walk(directory):
        here = Path(root).relative_to(directory).as_posix()
        folders.sort()
        for name in sorted(files):
            path = name if here == "." else f"{here}/{name}"
            allowed = () if manifest is None else (manifest, f"{manifest}.sig")
            if path not in allowed and path not in listed:
                checker.problem(f"{path}: not in the manifest (an extra file)")
        if here == ".":
            for name in folders:
                if name not in holding and not any(Path(directory, name).iterdir()):
                    checker.problem(f"{name}/: an empty folder the manifest does not list")
        elif "/" not in here:
            for name in folders:
                checker.problem(f"{here}/{name}/: a folder inside a partition folder")


def _partitions(checker: _Checker) -> None:
    """A dataset `--update` keeps: every part in a partition read, each partition read
    whole within its window, holding what its entry says (none, for an empty period)."""
    manifest = checker.manifest
    if manifest.partitions is None:
        return
    entries: dict[str, int] = {}
    for entry in manifest.partitions:
        folder, window = entry["folder"], entry["window"]
        if folder in entries:
            checker.problem(f"{folder}: listed twice among the partitions")
            continue
        entries[folder] = entry["records"]
        start = folder_start(manifest.partition, folder)
        if start is None:
            checker.problem(f"{folder!r}: not a partition this export writes")
            continue
        end = next_period(manifest.partition, start) - 1
        since = window["sinceMs"]
        if since is None or since > start or window["untilMs"] < end:
            checker.problem(f"{folder}: not wholly inside the window it was read in")
        records, count = checker.by_folder.get(folder, [0, 0])
        if records != entry["records"] or count != entry["countTotal"]:
            checker.problem(
                f"{folder}: its parts hold {records} records (count {count}), the manifest's "
                f"partition says {entry['records']} (count {entry['countTotal']})"
            )
    for folder in sorted(set(checker.by_folder) - set(entries)):
        checker.problem(f"{folder}: parts of a partition the manifest does not say was read")
    listed = sum(entries.values())
    if listed != manifest.records:
        checker.problem(
            f"the partitions listed hold {listed} records, the manifest's total is "
            f"{manifest.records}"
        )


def _duplicates(checker: _Checker) -> None:
    twice = checker.twice
    if not twice:
        return
    shown = first_of(
        [f"{record_id} (in {' and '.join(parts)})" for record_id, parts in twice.items()], 5
    )
    checker.problem(f"{len(twice)} ids appear more than once: {shown}")


def _totals(checker: _Checker) -> None:
    report, manifest = checker.report, checker.manifest
    if report.records != manifest.records:
        checker.problem(
            f"the parts hold {report.records} records, the manifest says {manifest.records}"
        )
    total = sum(checker.count_by_type.values())
    if total != manifest.count_total:
        checker.problem(f"count sums to {total}, the manifest says {manifest.count_total}")
    elif checker.count_by_type != manifest.count_by_type:
        checker.problem("count per type differs from the manifest")
    for problem in checker.costs.problems(manifest.prices, records=report.records):
        checker.problem(problem)
    listed = sum(part["records"] for part in manifest.parts)
    if listed != manifest.records:
        checker.problem(
            f"the parts listed hold {listed} records, the manifest's total is {manifest.records}"
        )
