"""The layout of a partitioned export: Hive-style folders of parts, and their names.

`usage export DIR --partition day|month` puts each record in the folder of
the UTC day (`date=2026-11-24/`) or month (`month=2026-11/`) of its
`createdAt`, in parts named `part-00000.jsonl.gz`, `part-00001...`; the
manifest for the whole set is `DIR.manifest.json`, beside the folder. The
writer and `usage verify` both name things through this module, so they
cannot disagree.

`key=value` folders are what DuckDB, Spark, BigQuery and ClickHouse read as a
partition column. The folder holds nothing but parts: a manifest inside it,
even one named `_manifest.json` (which Spark and Hadoop skip, as they skip
`_SUCCESS`), breaks readers that take every file under a folder: polars'
`scan_parquet(DIR)` refuses a folder of mixed extensions, and DuckDB's
`read_parquet('DIR/**/*')` tries to read it as parquet. Sets written before
kept it inside as `_manifest.json` (`OLD_MANIFEST_NAME`); `usage verify`
still reads them.

Light on purpose: `usage export --help` names the choices from here.
"""

from __future__ import annotations

import calendar
import re
import time
from enum import StrEnum
from pathlib import Path

MANIFEST_SUFFIX = ".manifest.json"
# Inside the folder: where sets written before the manifest moved beside it keep it.
OLD_MANIFEST_NAME = "_manifest.json"
# Records per part before the next part of the same folder begins: small
# enough that one part is a sensible unit of work for an engine, large
# enough that a folder of a busy day holds few files.
PART_RECORDS = 1_000_000
_DAY_MS = 86_400_000


class Partition(StrEnum):
    day = "day"
    month = "month"

    @property
    def key(self) -> str:
        """The Hive column the folders name: `date` (a DATE to engines) or `month`."""
        return "date" if self is Partition.day else "month"


class PartFormat(StrEnum):
    """What a part holds: the two line formats, gzipped, or parquet."""

    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"

    @property
    def suffix(self) -> str:
        return ".parquet" if self is PartFormat.parquet else f".{self.value}.gz"


def _beside(folder: Path, name: str) -> Path:
    """`name` in the folder that holds `folder` (`.` and `..` resolved to have a name)."""
    if folder.name in ("", ".", ".."):
        folder = folder.resolve()
        if not folder.name:
            # The root has no folder beside it: a path that is not there.
            return folder / name.replace("{}", "")
    return folder.with_name(name.replace("{}", folder.name))


def set_manifest(folder: Path) -> Path:
    """`DIR.manifest.json`: the manifest of the set at `folder`, beside it (as a file's is)."""
    return _beside(folder, "{}" + MANIFEST_SUFFIX)


def pending_manifest(folder: Path) -> Path:
    """`.DIR.manifest.json.pending`: a set's next manifest while the set is put in place.

    Hidden, beside the folder: its presence says a publication was begun and
    not finished (see `usage_cli.export._set_target`).
    """
    return _beside(folder, ".{}" + MANIFEST_SUFFIX + ".pending")


def set_of_manifest(manifest: Path) -> Path | None:
    """The folder a set's manifest proves, or None when `manifest` is not a set's."""
    if manifest.name == OLD_MANIFEST_NAME:
        return manifest.parent
    if manifest.name.endswith(MANIFEST_SUFFIX):
        folder = manifest.with_name(manifest.name[: -len(MANIFEST_SUFFIX)])
        if folder.is_dir():
            return folder
    return None


def part_name(number: int, fmt: PartFormat) -> str:
    return f"part-{number:05d}{fmt.suffix}"


def part_path(folder: str, number: int, fmt: PartFormat) -> str:
    """A part's path inside the set, `/`-separated as the manifest keeps it."""
    return f"{folder}/{part_name(number, fmt)}"


def is_part_path(path: str, partition: Partition, fmt: PartFormat) -> bool:
    """Whether `path` is one this layout writes (never absolute, never `..`)."""
    value = r"\d{4}-\d{2}-\d{2}" if partition is Partition.day else r"\d{4}-\d{2}"
    pattern = rf"{partition.key}={value}/part-\d{{5}}{re.escape(fmt.suffix)}"
    return re.fullmatch(pattern, path) is not None


class Folders:
    """The folder of a `createdAt`, cached per UTC day (most records share a few days)."""

    def __init__(self, partition: Partition) -> None:
        self.partition = partition
        self._by_day: dict[int, str] = {}

    def of(self, created_ms: int) -> str:
        """`date=2026-11-24` or `month=2026-11`; ValueError for a time no calendar shows."""
        day = created_ms // _DAY_MS
        folder = self._by_day.get(day)
        if folder is None:
            try:
                moment = time.gmtime(day * 86_400)
            except (OverflowError, OSError, ValueError):
                moment = None
            if moment is None or not 1 <= moment.tm_year <= 9999:
                raise ValueError(f"createdAt {created_ms} is not a date a folder can name")
            value = f"{moment.tm_year:04d}-{moment.tm_mon:02d}"
            if self.partition is Partition.day:
                value += f"-{moment.tm_mday:02d}"
            folder = f"{self.partition.key}={value}"
            self._by_day[day] = folder
        return folder


def period_start(partition: Partition, ms: int) -> int:
    """The first millisecond of the UTC day or month that holds `ms`."""
    day = ms - ms % _DAY_MS
    if partition is Partition.day:
        return day
    moment = time.gmtime(day // 1000)
    return calendar.timegm((moment.tm_year, moment.tm_mon, 1, 0, 0, 0)) * 1000


def next_period(partition: Partition, start_ms: int) -> int:
    """The first millisecond of the day or month after the one that begins at `start_ms`."""
    if partition is Partition.day:
        return start_ms + _DAY_MS
    moment = time.gmtime(start_ms // 1000)
    year, month = divmod(moment.tm_year * 12 + moment.tm_mon, 12)
    return calendar.timegm((year, month + 1, 1, 0, 0, 0)) * 1000


def folder_start(partition: Partition, folder: str) -> int | None:
    """The first millisecond of the period a folder (`date=2026-11-24`) names; None for a
    name this layout does not write."""
    value = folder.removeprefix(f"{partition.key}=")
    shape = r"(\d{4})-(\d{2})-(\d{2})" if partition is Partition.day else r"(\d{4})-(\d{2})()"
    found = re.fullmatch(shape, value)
    if found is None or not folder.startswith(f"{partition.key}="):
        return None
    year, month, day = int(found.group(1)), int(found.group(2)), int(found.group(3) or 1)
    try:
        start = calendar.timegm((year, month, day, 0, 0, 0)) * 1000
    except (OverflowError, ValueError):
        return None
    # timegm carries a day 31 of a 30-day month on: only a name that comes back is one.
    return start if Folders(partition).of(start) == folder else None
