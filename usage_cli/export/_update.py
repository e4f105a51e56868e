"""`usage export DIR --partition day --update`: a dataset a daily job adds to.

Each run reads a window of whole partitions (`--window day`, or `--since` and
`--until` on UTC day or month boundaries) and writes those partitions, and
only those, into the existing set: each partition read replaces its folder
(an empty one loses it), every other folder stays byte for byte. Its
manifest lists every part, and every partition read, with the window it
was read in and its figures: the set's figures are the sum of its
partitions', so a run never reads the parts it keeps. How the partitions
are swapped in is `_set_target.put_in_place`'s.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from usage_cli._files import reason, sha256_of_start
from usage_cli.columns import iso_ms
from usage_cli.errors import InputError, VerifyError
from usage_cli.export._json import PartitionJson, PartJson, StatsJson, WindowJson
from usage_cli.export._manifest import SetManifest
from usage_cli.export._set_target import SetTarget
from usage_cli.export._stats import Stats, merged
from usage_cli.partitions import Folders, Partition, folder_start, next_period, period_start


def previous_of(target: SetTarget, text: str, *, exact: bool = False) -> SetManifest | None:
    """Under the lock, once a killed run is recovered: the dataset at DIR, or None for a
    new one (DIR missing or empty). InputError when DIR is no dataset of this kind
    (`exact`: this run's `--exact`, which a dataset keeps)."""
    path = target.path
    if path.is_symlink():
        # Its partitions are swapped in one by one where the folder is; through a link
        # the new set would replace the link, and the earlier days stay behind it.
        raise InputError(
            f"--update {text}: {path} is a link; a dataset is updated where it is",
            hint=f"name the folder itself: usage export {path.resolve()} ... --update",
        )
    if not path.exists():
        return None
    manifest_file = target.published()
    if manifest_file is None:
        if path.is_dir() and not any(path.iterdir()):
            return None
        raise InputError(
            f"--update {text}: a folder but no dataset (no {target.manifest.name} beside it)",
            hint="name a new folder, or an existing dataset written with --update",
        )
    try:
        previous = SetManifest.load(manifest_file)
    except VerifyError as damaged:
        raise InputError(
            f"--update {text}: {damaged.message}", hint="export it again with --force"
        ) from None
    if previous.partitions is None:
        raise InputError(
            f"--update adds to a dataset written with --update; {text!r} was exported "
            "whole, so which partitions hold whole periods is not known",
            hint="start the dataset in a new folder with --update, or replace this one "
            "with --force (without --update)",
        )
    differs = []
    if previous.partition != target.partition:
        differs.append(f"--partition {target.partition} (was {previous.partition})")
    if previous.fmt != target.fmt:
        differs.append(f"-o {target.fmt} (was {previous.fmt})")
    then = previous.strings is None or previous.strings["exact"]
    if then != exact:
        # Some partitions mended or guarded and others not: no reader could tell which.
        differs.append(
            "--exact (" + ("used then, not now" if then else "not used then, used now") + ")"
        )
    if differs:
        raise InputError(
            f"--update {text}: a dataset is one query, and this run differs: " + "; ".join(differs),
            hint="run it as the dataset was written, or start a new dataset in another folder",
        )
    return previous


def whole_periods(partition: Partition, window: WindowJson, *, began_ms: int) -> list[str]:
    """The folders of the partitions `window` covers, each wholly; InputError (exit 2)
    naming a partition it covers only in part."""
    since, until = window["sinceMs"], window["untilMs"]
    example = f"--window {partition.value}, or --since and --until on whole UTC {partition}s"
    if since is None:
        raise InputError(
            "--update needs a window of whole partitions: it replaces each partition it reads",
            hint=f"use {example}",
        )
    folders = Folders(partition)
    end = until + 1
    if period_start(partition, since) != since:
        raise InputError(
            f"--update replaces whole partitions, but the window starts at {iso_ms(since)}, "
            f"inside {folders.of(since)}: that partition would be read only in part",
            hint=f"use {example} (--since {_day(since, partition)})",
        )
    if period_start(partition, end) != end:
        late = " (when this export began: a period still under way is not whole)"
        raise InputError(
            f"--update replaces whole partitions, but the window ends at {iso_ms(until)}"
            + (late if until == began_ms else "")
            + f", inside {folders.of(until)}: that partition would be read only in part",
            hint=_until_hint(partition, since, until, began_ms),
        )
    found = []
    moment = since
    while moment < end:
        found.append(folders.of(moment))
        moment = next_period(partition, moment)
    return found


def _until_hint(partition: Partition, since: int, until: int, began_ms: int) -> str:
    """The `--until` that makes the window end on a whole partition: the end of the one
    `until` falls in when that is over, else of the one before it. UTC, as partitions
    and bare dates are whatever `--tz` says, so the value works as it is typed."""
    cut = period_start(partition, until)
    after = next_period(partition, cut)
    last = after - 1 if after - 1 <= began_ms else cut - 1
    if last < since:
        return (
            f"{Folders(partition).of(until)} is whole from {iso_ms(after)}: run it then, "
            f"or use --window {partition.value} for the last whole {partition}"
        )
    reason = "before this export began" if last == cut - 1 else "the window reaches"
    return (
        f"use --until {iso_ms(last)[:10]} (the last whole UTC {partition} {reason}), "
        f"or --window {partition.value}"
    )


def check_kept(target: SetTarget, previous: SetManifest | None, read: list[str], text: str) -> None:
    """InputError (exit 2), before any request, when a part the run keeps (outside its
    window) is missing, or not the size and sha256 the previous manifest gives it.

    The new manifest lists the kept parts again, by the previous one's figures,
    without reading their records: published over a changed part, it would vouch
    for bytes no export wrote. Size and sha256 are what `usage verify` checks first,
    and all that the previous manifest can vouch for without the records.
    """
    if previous is None:
        return
    replaced = set(read)
    differs: list[tuple[str, str]] = []
    for part in previous.parts:
        folder = part["path"].split("/")[0]
        if folder not in replaced:
            found = _part_differs(target.path / part["path"], part)
            if found is not None:
                differs.append((folder, f"{part['path']} {found}"))
    if not differs:
        return
    more = f" (and {len(differs) - 1} more)" if len(differs) > 1 else ""
    folders = sorted({folder for folder, _ in differs})
    start = folder_start(target.partition, folders[0])
    again = ""
    if start is not None:
        # Reading a partition again replaces its parts: the way to mend one.
        last = iso_ms(next_period(target.partition, start) - 1)[:10]
        words = f"--update --since {iso_ms(start)[:10]} --until {last}"
        again = f"re-read it ({words})" if len(folders) == 1 else f"re-read each ({words}, ...)"
        again += ", or "
    raise InputError(
        f"--update {text}: a part it keeps does not match the manifest it would publish "
        f"again: {differs[0][1]}{more}",
        hint=f"usage verify {text} names each difference; {again}"
        "start the dataset over with --force",
    )


def _part_differs(path: Path, part: PartJson) -> str | None:
    """How the file at `path` differs from `part` (its manifest entry), or None."""
    try:
        # A link in place of a part is no part this export wrote.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"cannot be read ({reason(exc)})"
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size != part["bytes"]:
            return f"is {size:,} bytes, the manifest says {part['bytes']:,}"
        if sha256_of_start(handle, None).hexdigest() != part["sha256"]:
            return "has another sha256 than the manifest's"
    return None


def _day(ms: int, partition: Partition) -> str:
    """The start of the partition that holds `ms`, as `--since` takes it."""
    return iso_ms(period_start(partition, ms))[:10]


def updated(
    previous: SetManifest | None,
    window: WindowJson,
    read: list[str],
    built: list[PartJson],
    figures_of: Mapping[str, Stats],
) -> tuple[list[PartJson], list[PartitionJson], StatsJson]:
    """The dataset after this run: its parts, its partitions and its figures.

    The partitions `read` are this run's (`built`, and the figures of each);
    every other partition, and its parts, is the previous manifest's.
    """
    replaced = set(read)
    kept_parts = [] if previous is None else previous.parts
    kept = [] if previous is None or previous.partitions is None else previous.partitions
    fresh = [
        {
            "folder": folder,
            "window": window,
            **figures_of.get(folder, Stats()).to_json(mended=True),
        }
        for folder in read
    ]
    partitions: list[PartitionJson] = sorted(
        [entry for entry in kept if entry["folder"] not in replaced]
        + [PartitionJson(**entry) for entry in fresh],  # type: ignore[typeddict-item]
        key=lambda entry: entry["folder"],
    )
    parts = sorted(
        [part for part in kept_parts if part["path"].split("/")[0] not in replaced] + built,
        key=lambda part: part["path"],
    )
    return parts, partitions, merged(partitions)
