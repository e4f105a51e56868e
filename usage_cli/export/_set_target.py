"""Where a partitioned export goes, checked before any request: the folder, the part
format, and what a killed run left beside it.

`SetTarget` names the folder, its manifest beside it and the hidden ones beside
it; the checks refuse a place no set can go (stdout, a file's name, a missing
folder), and finish, put back or remove, under the lock, what a killed run
left, never through a link.

A set is published in steps, since a folder and the file beside it cannot
change in one rename: the built set (`.DIR.partial/`) and its next manifest
(`.DIR.manifest.json.pending`, with its signature) are made durable first;
writing that pending manifest is the commit point. Then the published
manifest goes, the folder (or, for `--update`, each partition read) is
swapped in, and the pending manifest is renamed onto `DIR.manifest.json`,
last. A reader or `usage verify` thus finds the old set with its manifest,
the new one with its own, or, for an instant or after a crash, a folder with
no manifest beside it, which `verify` calls incomplete: never a manifest
beside a folder it does not describe. A run killed after the commit point is
finished by the next run (`recover`), before anything else; one killed
before it is undone.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from usage_cli._files import (
    PID_MAX,
    check_folder_for,
    fsync_directory,
    publish_mode,
    remove_tree,
    temporary_for,
)
from usage_cli.errors import InputError, VerifyError
from usage_cli.export._manifest import SetManifest
from usage_cli.export._target import EXTENSIONS, is_a_standard_stream, signature_path
from usage_cli.partitions import (
    OLD_MANIFEST_NAME,
    PartFormat,
    Partition,
    pending_manifest,
    set_manifest,
)

EXAMPLE = "usage export usage/ --partition day"


@dataclass(frozen=True)
class SetTarget:
    """The folder a partitioned export goes to, and the hidden names beside it."""

    path: Path
    partition: Partition
    fmt: PartFormat

    def _beside(self, suffix: str) -> Path:
        return self.path.with_name(f".{self.path.name}.{suffix}")

    @property
    def building(self) -> Path:
        return self._beside("partial")

    @property
    def lock(self) -> Path:
        return self._beside("lock")

    @property
    def replaced(self) -> Path:
        """Where an existing set waits, for an instant, while the new one takes its name."""
        return self._beside("old")

    @property
    def manifest(self) -> Path:
        """`DIR.manifest.json`, beside the folder: the folder itself holds only parts."""
        return set_manifest(self.path)

    @property
    def pending(self) -> Path:
        return pending_manifest(self.path)

    @property
    def old_manifest(self) -> Path:
        """Where a set written before the manifest moved beside it keeps its manifest."""
        return self.path / OLD_MANIFEST_NAME

    def published(self) -> Path | None:
        """The manifest of the set at DIR, beside it or (an older set) inside it; None."""
        for manifest in (self.manifest, self.old_manifest):
            if manifest.is_file():
                return manifest
        return None


def part_format(fmt: str | None) -> PartFormat:
    if fmt is None:
        return PartFormat.jsonl
    if fmt not in PartFormat.__members__:
        raise InputError(
            f"--partition writes jsonl, csv or parquet parts, not {fmt}",
            hint="-o jsonl (the default) holds the same records as json, one a line, "
            "which engines read part by part",
        )
    return PartFormat(fmt)


def folder_of(text: str) -> Path:
    """The folder `text` names; InputError for stdout, a file's name or no new name at all."""
    if text == "-" or is_a_standard_stream(text):
        raise InputError(
            "--partition writes a folder of parts, not to "
            + ("standard output (-)" if text == "-" else repr(text)),
            hint=f"name a folder, e.g. {EXAMPLE}",
        )
    path = Path(text)
    if path.name in ("", ".", "..") or os.path.normpath(os.path.abspath(text)) == os.sep:
        raise InputError(
            f"--partition needs a new folder to create, not {text!r}",
            hint=f"name one inside it, e.g. {os.path.join(text, 'usage')}",
        )
    if not text.endswith(("/", os.sep)) and not path.is_dir():
        name = path.name.lower()
        base = name[: -len(".gz")] if name.endswith(".gz") else name
        suffix = Path(base).suffix
        if suffix in EXTENSIONS or suffix == ".parquet":
            # Parquet is only ever a folder of parts: no one-file export to point to.
            one_file = "" if suffix == ".parquet" else "; or drop --partition for one file"
            raise InputError(
                f"--partition writes a folder, but {text!r} names a {suffix[1:]} file",
                hint=f"name a folder, e.g. {EXAMPLE}{one_file}",
            )
    check_folder_for(path)
    if path.exists() and not path.is_dir():
        raise InputError(
            f"{text!r} is a file, not a folder; --partition writes a folder of parts there",
            hint="name another path (--force replaces only a folder)",
        )
    return path


def check_name_length(target: SetTarget) -> None:
    # The pending signature's temporary file is the longest name a set writes beside it.
    signature = temporary_for(signature_path(target.pending), PID_MAX)
    longest = max(target.building.name, signature.name, key=len)
    limit = os.pathconf(target.path.parent, "PC_NAME_MAX")
    if limit > 0 and len(os.fsencode(longest)) > limit:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(target.building))


def _ours(path: Path) -> bool:
    """A real file or folder of the current user's, never a link someone planted."""
    try:
        found = path.lstat()
    except OSError:
        return False
    return not path.is_symlink() and found.st_uid == os.geteuid()


def recover(target: SetTarget) -> None:
    """Under the lock: finish a publication a killed run had committed to, or undo one it
    had not (put an old set moved aside back, remove what was being built)."""
    path, old = target.path, target.replaced
    pending = target.pending
    if _ours(pending) and pending.is_file():
        try:
            manifest = SetManifest.load(pending)
        except VerifyError:
            manifest = None  # damaged: nothing to finish, and so nothing was committed
        if manifest is not None and (not target.building.exists() or _ours(target.building)):
            put_in_place(target, manifest)
            return
    if old.is_dir() and _ours(old) and not (path.exists() or path.is_symlink()):
        # Killed between moving the old set aside and putting the new one in
        # place, by a version that had no pending manifest: the old set is
        # still the last complete one. Put it back (only a real folder of the
        # user's own: never a link someone planted).
        os.rename(old, path)
    for stale in (old, target.building, pending, signature_path(pending)):
        remove_tree(stale)


def put_in_place(target: SetTarget, manifest: SetManifest) -> None:
    """From the commit point on: the pending manifest (written and durable) and the
    built set take the place of the published ones. Idempotent: a run killed anywhere
    in here is finished by the next one's `recover`, which calls it again."""
    path, building, old = target.path, target.building, target.replaced
    published, signature = target.manifest, signature_path(target.manifest)
    # The old manifest goes first: from now until the new one is in place, the
    # folder has no manifest to be held to, and `verify` calls it incomplete.
    for stale in (published, signature):
        remove_tree(stale)
    fsync_directory(path.parent)
    if manifest.partitions is not None and path.is_dir() and not path.is_symlink():
        _swap_partitions(target, manifest)
    elif building.is_dir():
        if path.exists() or path.is_symlink():
            remove_tree(old)
            os.rename(path, old)
        publish_mode(building, folder=True)
        os.rename(building, path)
    fsync_directory(path.parent)
    pending = target.pending
    if signature_path(pending).is_file():
        os.replace(signature_path(pending), signature)
    os.replace(pending, published)
    fsync_directory(path.parent)
    remove_tree(old)
    remove_tree(building)


def _swap_partitions(target: SetTarget, manifest: SetManifest) -> None:
    """`--update`: each partition built takes its folder's place; each partition read and
    found empty loses its folder. Every other folder stays as it is, untouched."""
    path, building, old = target.path, target.building, target.replaced
    if not (_ours(old) and old.is_dir()):
        remove_tree(old)  # a link planted there is removed, never moved into
        old.mkdir()
    gone = [
        entry["folder"]
        for entry in manifest.partitions or []
        if entry["records"] == 0 and (path / entry["folder"]).is_dir()
    ]
    built = sorted(entry.name for entry in building.iterdir()) if building.is_dir() else []
    for name in [*built, *gone]:
        here = path / name
        if here.exists() or here.is_symlink():
            remove_tree(old / name)
            os.rename(here, old / name)
        if name in built:
            os.rename(building / name, here)
    fsync_directory(path)


def check_existing(target: SetTarget, text: str, *, force: bool, update: bool = False) -> None:
    """Under the lock: what a killed run left, and whether DIR may be replaced."""
    recover(target)
    path = target.path
    if update:
        return
    manifest = target.manifest
    if not force:
        for there, name in ((path, text), (manifest, str(manifest))):
            if there.exists() or there.is_symlink():
                raise InputError(f"{name!r} already exists", hint="use --force to replace it")
        return
    if not path.exists():
        return
    if path.is_dir() and target.published() is None and any(path.iterdir()):
        raise InputError(
            f"{text!r} is a folder but not a partitioned export (no {manifest.name} beside "
            f"it, nor {OLD_MANIFEST_NAME} in it); --force replaces only an export or an "
            "empty folder",
            hint="name a new folder, or empty this one yourself",
        )
