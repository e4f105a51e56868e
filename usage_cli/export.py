"""`usage export`: every matching record, exactly once, or nothing at the target.

Records go to a hidden partial file beside the target, a page at a time. About
once a second, and always when the export stops early, the partial is fsynced
and a checkpoint records how many bytes of it are whole pages and the cursor
that follows them; `--resume` truncates the partial to that point and
continues from that cursor. Only a complete file is renamed onto the target,
after its manifest is in place.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from usage_cli._version import __version__
from usage_cli.client import Client
from usage_cli.columns import iso_ms
from usage_cli.errors import InputError
from usage_cli.formats import make_writer
from usage_cli.pages import RecordStream
from usage_cli.query import Query
from usage_cli.summary import Group, Summary

EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
CHECKPOINT_VERSION = 1
CHECKPOINT_EVERY = 1.0  # seconds between checkpoints while an export runs
GZIP_LEVEL = 6


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Target:
    """Where an export goes and in what form; `path` None is stdout."""

    path: Path | None
    fmt: str
    gzip: bool = False

    @property
    def partial(self) -> Path:
        assert self.path is not None
        return self.path.with_name(f".{self.path.name}.partial")

    @property
    def checkpoint(self) -> Path:
        assert self.path is not None
        return self.path.with_name(f".{self.path.name}.checkpoint.json")

    @property
    def manifest(self) -> Path:
        assert self.path is not None
        return manifest_path(self.path)


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def format_of(path: Path) -> tuple[str, bool]:
    """The format and compression an export path's extension asks for."""
    name = path.name.lower()
    compressed = name.endswith(".gz")
    base = name[: -len(".gz")] if compressed else name
    fmt = EXTENSIONS.get(Path(base).suffix)
    if fmt is None:
        raise InputError(
            f"cannot tell the format of {str(path)!r} from its extension",
            hint="use .csv, .jsonl, .ndjson or .json, optionally followed by .gz",
        )
    return fmt, compressed


def resolve_target(text: str, fmt: str | None, *, force: bool, resume: bool) -> Target:
    """Check the target before any request: format, directory, overwrite."""
    if text == "-":
        if fmt is None or fmt == "table":
            raise InputError("exporting to stdout (-) needs --format json, jsonl or csv")
        if resume:
            raise InputError("--resume needs a file target, not stdout (-)")
        return Target(None, fmt)
    path = Path(text)
    found, compressed = format_of(path)
    if fmt is not None and fmt != found:
        raise InputError(f"--format {fmt} does not match the extension of {text!r} ({found})")
    directory = path.parent
    if not directory.is_dir():
        raise InputError(f"directory {str(directory)!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"directory {str(directory)!r} is not writable")
    if path.is_dir():
        raise InputError(f"{text!r} is a directory")
    if path.exists() and not force:
        raise InputError(f"{text!r} already exists", hint="use --force to replace it")
    return Target(path, found, compressed)


class Stats:
    """The manifest's figures: a summary by type, kept while the records stream past."""

    def __init__(self, summary: Summary | None = None) -> None:
        self.summary = summary or Summary(("type",))
        self.add = self.summary.add

    @property
    def records(self) -> int:
        return self.summary.total.records

    def to_dict(self) -> dict[str, Any]:
        total = self.summary.total
        by_type = sorted(self.summary.groups(), key=lambda group: str(group.key[0]))
        return {
            "records": total.records,
            "countTotal": total.count,
            "countByType": {str(group.key[0]): group.count for group in by_type},
            "recordsByType": {str(group.key[0]): group.records for group in by_type},
            "firstCreatedAt": None if total.first is None else iso_ms(total.first),
            "lastCreatedAt": None if total.last is None else iso_ms(total.last),
            "firstCreatedAtMs": total.first,
            "lastCreatedAtMs": total.last,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        summary = Summary(("type",))
        total = summary.total
        total.records, total.count = data["records"], data["countTotal"]
        total.first, total.last = data["firstCreatedAtMs"], data["lastCreatedAtMs"]
        for kind, count in data["countByType"].items():
            summary.restore(Group((kind,), records=data["recordsByType"][kind], count=count))
        return cls(summary)


@dataclass(frozen=True)
class Progress:
    records: int
    pages: int
    bytes: int


def _write_json_atomically(path: Path, data: dict[str, Any], *, durable: bool = True) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temporary, path)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_checkpoint(target: Target) -> dict[str, Any] | None:
    """The checkpoint of an interrupted export to `target`, if there is a usable one."""
    if target.path is None or not target.checkpoint.exists() or not target.partial.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(target.checkpoint.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(
            f"the checkpoint {str(target.checkpoint)!r} cannot be read",
            hint="remove it and the partial file beside it to start over",
        ) from None
    if data.get("version") != CHECKPOINT_VERSION:
        raise InputError(f"the checkpoint {str(target.checkpoint)!r} is from another version")
    if target.partial.stat().st_size < data.get("bytes", 0):
        raise InputError(
            f"the partial file {str(target.partial)!r} is shorter than its checkpoint says",
            hint="start over with --force",
        )
    return data


def started_at(checkpoint: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(checkpoint["startedAt"].replace("Z", "+00:00"))


class Exporter:
    """Runs one export; `run()` returns the manifest it wrote."""

    def __init__(
        self,
        client: Client,
        query: Query,
        target: Target,
        *,
        started: datetime,
        checkpoint: dict[str, Any] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        api_root: str | None = None,
    ) -> None:
        self.client = client
        self.api_root = api_root or client.api_url
        self.query = query
        self.target = target
        self.started = started
        self.checkpoint = checkpoint
        self.on_progress = on_progress
        self.stats = Stats()
        self.pages = 0
        if checkpoint is not None:
            self._check_matches(checkpoint)

    def _identity(self) -> dict[str, Any]:
        """What a checkpoint must agree on to be continued by this command line."""
        return {
            "query": self.query.to_dict(),
            "format": self.target.fmt,
            "gzip": self.target.gzip,
            "api": {"url": self.api_root, "runAs": self.client.run_as},
        }

    def _check_matches(self, checkpoint: dict[str, Any]) -> None:
        mine = self._identity()
        differs = [key for key in mine if checkpoint.get(key) != mine[key]]
        if differs:
            detail = []
            if "query" in differs:
                theirs = checkpoint.get("query", {})
                detail = [
                    f"{name}: {theirs.get(name)!r} then, {value!r} now"
                    for name, value in mine["query"].items()
                    if theirs.get(name) != value
                ]
            raise InputError(
                "the interrupted export was made with a different "
                + ", ".join(differs)
                + (f" ({'; '.join(detail)})" if detail else ""),
                hint="rerun with the original options, or drop --resume and use --force",
            )

    def run(self) -> dict[str, Any]:
        if self.target.path is None:
            return self._run_to_stdout()
        return self._run_to_file()

    def _chunk(self, buffer: io.BytesIO) -> bytes:
        data = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if self.target.gzip and data:
            # One gzip member per page: the partial stays a valid gzip file at
            # every checkpoint, and mtime 0 keeps repeated exports identical.
            return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
        return data

    def _pump(self, sink: BinaryIO, after_page: Callable[[str | None], None]) -> None:
        buffer = io.BytesIO()
        resumed_after = None if self.checkpoint is None else self.stats.records
        writer = make_writer(self.target.fmt, buffer, resumed_after=resumed_after)
        query = self.query
        if self.checkpoint is not None:
            query = replace(query, cursor=self.checkpoint["cursor"])
        done = self.checkpoint is not None and self.checkpoint.get("end", False)
        if not done:
            for batch in RecordStream(self.client, query).batches():
                writer.write(batch.records)
                sink.write(self._chunk(buffer))
                for record in batch.records:
                    self.stats.add(record)
                self.pages += 1
                after_page(batch.cursor)
        writer.close()
        sink.write(self._chunk(buffer))

    def _run_to_stdout(self) -> dict[str, Any]:
        import sys

        sink: BinaryIO = sys.stdout.buffer

        def flush(_: str | None) -> None:
            sink.flush()
            self._report(0)

        self._pump(sink, flush)
        sink.flush()
        return {"records": self.stats.records}

    def _report(self, size: int) -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(self.stats.records, self.pages, size))

    def _run_to_file(self) -> dict[str, Any]:
        target = self.target
        assert target.path is not None
        handle: BinaryIO
        if self.checkpoint is not None:
            self.stats = Stats.from_dict(self.checkpoint["stats"])
            self.pages = self.checkpoint["pages"]
            handle = open(target.partial, "r+b")  # noqa: SIM115 (closed below)
            handle.truncate(self.checkpoint["bytes"])
            handle.seek(self.checkpoint["bytes"])
        else:
            target.checkpoint.unlink(missing_ok=True)
            handle = open(target.partial, "wb")  # noqa: SIM115 (closed below)
        identity = self._identity()
        # (bytes, cursor, pages, stats) after the last page written whole.
        committed: tuple[int, str | None, int, dict[str, Any]] | None = None
        last_saved = time.monotonic()

        def save() -> None:
            """fsync the data, then checkpoint the last whole page in it."""
            if committed is None:
                return
            size, cursor, pages, stats = committed
            handle.flush()
            os.fsync(handle.fileno())
            # The data it points into is fsynced first; a checkpoint lost in a
            # crash only means resuming from the one before, which is still true.
            _write_json_atomically(
                target.checkpoint,
                {
                    "version": CHECKPOINT_VERSION,
                    "tool": {"name": "usage", "version": __version__},
                    **identity,
                    "target": str(target.path),
                    "startedAt": iso(self.started),
                    "cursor": cursor,
                    "end": cursor is None,
                    "bytes": size,
                    "pages": pages,
                    "stats": stats,
                },
                durable=False,
            )

        def after_page(cursor: str | None) -> None:
            nonlocal committed, last_saved
            committed = (handle.tell(), cursor, self.pages, self.stats.to_dict())
            # Checkpointing costs an fsync and a rename: do it about once a
            # second, and always when the export stops early (below).
            if time.monotonic() - last_saved >= CHECKPOINT_EVERY:
                save()
                last_saved = time.monotonic()
            self._report(committed[0])

        with handle:
            try:
                self._pump(handle, after_page)
            except BaseException:
                save()
                raise
            handle.flush()
            os.fsync(handle.fileno())
        manifest = {
            "tool": {"name": "usage", "version": __version__},
            "api": identity["api"],
            "query": identity["query"],
            "format": target.fmt,
            "gzip": target.gzip,
            **self.stats.to_dict(),
            "pages": self.pages,
            "file": {
                "name": target.path.name,
                "bytes": target.partial.stat().st_size,
                "sha256": sha256_of(target.partial),
            },
            "startedAt": iso(self.started),
            "finishedAt": iso(utc_now()),
        }
        # The manifest lands first: whenever the data file exists, so does its proof.
        _write_json_atomically(target.manifest, manifest)
        os.replace(target.partial, target.path)
        _fsync_directory(target.path.parent)
        target.checkpoint.unlink(missing_ok=True)
        return manifest
