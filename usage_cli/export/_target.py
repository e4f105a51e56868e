"""Where an export goes: the format its name asks for, the files beside it, refusals."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from usage_cli._files import PID_MAX, check_folder_for, temporary_for
from usage_cli.errors import InputError
from usage_cli.formats import Format

EXTENSIONS = {
    ".csv": Format.csv,
    ".jsonl": Format.jsonl,
    ".ndjson": Format.jsonl,
    ".json": Format.json,
}


@dataclass(frozen=True)
class Target:
    """A file an export goes to, with the hidden files that make it exactly-once."""

    path: Path
    fmt: Format
    gzip: bool = False

    @property
    def partial(self) -> Path:
        return self.path.with_name(f".{self.path.name}.partial")

    @property
    def checkpoint(self) -> Path:
        return self.path.with_name(f".{self.path.name}.checkpoint.json")

    @property
    def manifest(self) -> Path:
        return manifest_path(self.path)

    @property
    def lock(self) -> Path:
        return self.path.with_name(f".{self.path.name}.lock")

    @property
    def longest_hidden_name(self) -> str:
        """The longest name the export will write beside the target (a checkpoint's temporary)."""
        return temporary_for(self.checkpoint, PID_MAX).name

    @property
    def waiting(self) -> bool:
        """Whether an interrupted export can be resumed: a checkpoint and its partial file.

        The one meaning of "waiting" for the refusal of a plain rerun, for
        `--resume` and for the resume hint, so that they never disagree.
        """
        return self.checkpoint.exists() and self.partial.exists()


@dataclass(frozen=True)
class Stdout:
    """Standard output: no partial, no checkpoint, no manifest, so nothing to resume."""

    fmt: Format
    gzip: bool = False
    path: None = None


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def signature_path(manifest: Path) -> Path:
    """Where a manifest's signature (`--sign`) lies: beside it, `.sig` added."""
    return manifest.with_name(manifest.name + ".sig")


def format_of(path: Path) -> tuple[Format, bool]:
    """The format and compression an export path's extension asks for."""
    name = path.name.lower()
    compressed = name.endswith(".gz")
    base = name[: -len(".gz")] if compressed else name
    fmt = EXTENSIONS.get(Path(base).suffix)
    if fmt is None and Path(base).suffix == ".parquet":
        raise InputError(
            f"{str(path)!r}: parquet is written as a folder of parts, not one file",
            hint="e.g. usage export usage/ --partition day -o parquet",
        )
    if fmt is None:
        raise InputError(
            f"cannot tell the format of {str(path)!r} from its extension",
            hint="use .csv, .jsonl, .ndjson or .json, optionally followed by .gz",
        )
    return fmt, compressed


_STREAM_NAMES = {"/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/tty"}
_FD_DIRECTORIES = re.compile(r"/dev/fd|/proc/(self|thread-self|\d+)/fd")


def is_a_standard_stream(text: str) -> bool:
    """A path naming a descriptor or a terminal, where no partial file can be renamed."""
    absolute = os.path.normpath(os.path.abspath(text))
    return absolute in _STREAM_NAMES or bool(_FD_DIRECTORIES.fullmatch(os.path.dirname(absolute)))


def resolve_target(text: str, fmt: Format | None, *, force: bool, resume: bool) -> Target | Stdout:
    """Check the target before any request: format, directory, overwrite."""
    if text == "-":
        if fmt is None or not fmt.machine:
            raise InputError("exporting to stdout (-) needs --format json, jsonl or csv")
        if resume:
            raise InputError("--resume needs a file target, not stdout (-)")
        return Stdout(fmt)
    if is_a_standard_stream(text):
        raise InputError(
            f"{text!r} is a standard stream, not a file an export can be renamed onto",
            hint="to write to standard output use - with --format, e.g. usage export - -o jsonl",
        )
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir():
        raise InputError(
            f"{text!r} is a directory, not a file to export to",
            hint="for a folder of parts, add --partition day or month",
        )
    if path.name.lower().endswith(".manifest.json"):
        # Written over, it would be another export's proof gone (even with --force).
        raise InputError(
            f"{text!r} is named as a manifest, which an export writes beside itself",
            hint=f"name the export itself: {str(path)[: -len('.manifest.json')]}",
        )
    found, compressed = format_of(path)
    if fmt is not None and fmt != found:
        raise InputError(f"--format {fmt} does not match the extension of {text!r} ({found})")
    check_folder_for(path)
    if path.exists() and not force and resume and not Target(path, found, compressed).waiting:
        raise InputError(
            f"nothing to resume: the export of {text!r} finished",
            hint="use --force to export it again from the start",
        )
    if path.exists() and not force:
        raise InputError(f"{text!r} already exists", hint="use --force to replace it")
    return Target(path, found, compressed)
