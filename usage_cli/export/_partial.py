"""The hidden file an export grows in, and the checkpoint that vouches for it.

Nothing appears at the target until the export is whole: records go to
`.NAME.partial`; `commit` notes each whole page; `save` makes the noted state
durable (the data first, then the checkpoint that points into it); `finish`
puts the manifest in place and renames the partial onto the target.
"""

from __future__ import annotations

import os
from dataclasses import replace
from types import TracebackType
from typing import BinaryIO

from usage_cli._files import fsync_directory, sha256_of, write_atomically
from usage_cli.export._checkpoint import Checkpoint
from usage_cli.export._json import FileJson, StatsJson
from usage_cli.export._manifest import Manifest
from usage_cli.export._target import Target


class PartialFile:
    def __init__(self, target: Target, origin: Checkpoint, handle: BinaryIO) -> None:
        self.target = target
        self._origin = origin
        self._handle = handle
        self._committed: Checkpoint | None = None

    @classmethod
    def open(
        cls, target: Target, origin: Checkpoint, *, resume_from: Checkpoint | None = None
    ) -> PartialFile:
        """A new partial file for `origin`'s export, or the one `resume_from` vouches for.

        Resuming cuts off whatever was written after the last checkpoint: a
        page that was cut short, or whole pages the checkpoint never heard of.
        """
        handle: BinaryIO
        if resume_from is not None:
            handle = open(target.partial, "r+b")  # noqa: SIM115 (owned by the object)
            handle.truncate(resume_from.bytes)
            handle.seek(resume_from.bytes)
        else:
            # A stale checkpoint must not vouch for the new file.
            target.checkpoint.unlink(missing_ok=True)
            handle = open(target.partial, "wb")  # noqa: SIM115 (owned by the object)
        return cls(target, origin, handle)

    @property
    def size(self) -> int:
        return self._handle.tell()

    def write(self, data: bytes) -> None:
        self._handle.write(data)

    def commit(self, cursor: str | None, pages: int, stats: StatsJson) -> Checkpoint:
        """Note that the file so far is whole pages, and `cursor` follows them."""
        self._committed = replace(
            self._origin, cursor=cursor, bytes=self.size, pages=pages, stats=stats
        )
        return self._committed

    def save(self) -> None:
        """Make the last commit durable; before any commit there is nothing new to say."""
        if self._committed is None:
            return
        self._handle.flush()
        os.fsync(self._handle.fileno())
        # The data it points into is fsynced first; a checkpoint lost in a crash
        # only means resuming from the one before, which is still true.
        write_atomically(self.target.checkpoint, self._committed.to_text(), durable=False)

    def seal(self) -> FileJson:
        """Close the complete file for good and describe it for the manifest."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        partial = self.target.partial
        return {
            "name": self.target.path.name,
            "bytes": partial.stat().st_size,
            "sha256": sha256_of(partial),
        }

    def finish(self, manifest: Manifest) -> None:
        """Publish the sealed file at the target, with its manifest."""
        target = self.target
        # The manifest lands first: whenever the data file exists, so does its proof.
        write_atomically(target.manifest, manifest.to_text())
        os.replace(target.partial, target.path)
        fsync_directory(target.path.parent)
        target.checkpoint.unlink(missing_ok=True)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> PartialFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
