"""Where a partitioned export goes, checked before any request: the folder, the part
format, and what a killed run left beside it.

`SetTarget` names the folder and the hidden ones beside it; the checks refuse a
place no set can go (stdout, a file's name, a missing folder), and put back or
remove, under the lock, what a killed run left, never through a link.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from usage_cli._files import remove_tree
from usage_cli.errors import InputError
from usage_cli.export._target import EXTENSIONS, is_a_standard_stream
from usage_cli.partitions import MANIFEST_NAME, PartFormat, Partition

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
        return self.path / MANIFEST_NAME


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
    directory = path.parent
    if not directory.is_dir():
        raise InputError(f"directory {str(directory)!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"directory {str(directory)!r} is not writable")
    if path.exists() and not path.is_dir():
        raise InputError(
            f"{text!r} is a file, not a folder; --partition writes a folder of parts there",
            hint="name another path (--force replaces only a folder)",
        )
    return path


def check_name_length(target: SetTarget) -> None:
    longest = target.building.name
    limit = os.pathconf(target.path.parent, "PC_NAME_MAX")
    if limit > 0 and len(os.fsencode(longest)) > limit:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(target.building))


def check_existing(target: SetTarget, text: str, *, force: bool) -> None:
    """Under the lock: what a killed run left, and whether DIR may be replaced."""
    path = target.path
    old = target.replaced
    if (
        old.is_dir()
        and not old.is_symlink()
        and old.stat().st_uid == os.geteuid()
        and not (path.exists() or path.is_symlink())
    ):
        # Killed between moving the old set aside and putting the new one in
        # place: the old set is still the last complete one. Put it back (only
        # a real folder of the user's own: never a link someone planted).
        os.rename(old, path)
    remove_tree(old)
    remove_tree(target.building)
    if not path.exists():
        return
    if not force:
        raise InputError(f"{text!r} already exists", hint="use --force to replace it")
    if path.is_dir() and not target.manifest.exists() and any(path.iterdir()):
        raise InputError(
            f"{text!r} is a folder but not a partitioned export (no {MANIFEST_NAME} in it); "
            "--force replaces only an export or an empty folder",
            hint="name a new folder, or empty this one yourself",
        )
