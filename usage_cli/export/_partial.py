"""The hidden file an export grows in, and the checkpoint that vouches for it.

Nothing appears at the target until the export is whole: records go to
`.NAME.partial`; `commit` notes each whole page (with the running sha256 of
the file so far); `save` makes the noted state durable (the data first, then
the checkpoint that points into it); `finish` puts the manifest in place and
renames the partial onto the target. A partial no checkpoint vouches for is
worth nothing to the next run, so a run that fails before its first save
leaves none behind (`discard_unless_saved`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import BinaryIO

from usage_cli._files import (
    create_new,
    fsync_directory,
    naming,
    open_own,
    publish_mode,
    sha256_of,
    write_atomically,
)
from usage_cli.errors import StorageError
from usage_cli.export._checkpoint import Checkpoint
from usage_cli.export._json import FileJson, PricesJson, StatsJson
from usage_cli.export._manifest import Manifest
from usage_cli.export._target import Target, signature_path


class PartialFile:
    def __init__(
        self,
        target: Target,
        origin: Checkpoint,
        handle: BinaryIO,
        digest: hashlib._Hash,
        *,
        vouched: bool,
    ) -> None:
        self.target = target
        self._origin = origin
        self._handle = handle
        # Of every byte written to the file, kept as it grows: a checkpoint
        # records it, and `seal` compares it with what the file holds.
        self._digest = digest
        self._committed: Checkpoint | None = None
        self._saved: Checkpoint | None = None
        # Whether a checkpoint on disk points into this file (a resumed one: yes).
        self._vouched = vouched

    @classmethod
    def open(
        cls, target: Target, origin: Checkpoint, *, resume_from: Checkpoint | None = None
    ) -> PartialFile:
        """A new partial file for `origin`'s export, or the one `resume_from` vouches for.

        Resuming cuts off whatever was written after the last checkpoint: a
        page that was cut short, or whole pages the checkpoint never heard of.
        It hashes the bytes it keeps again, as it appends to these and no
        others: InputError if they are not the ones the checkpoint counted.
        """
        if resume_from is None:
            # A stale checkpoint must not vouch for the new file.
            target.checkpoint.unlink(missing_ok=True)
            # 0600 while it grows (the contract's state files are private); it
            # takes the user's usual mode when it is published (`finish`).
            fresh = os.fdopen(create_new(target.partial, 0o600), "wb")
            return cls(target, origin, fresh, hashlib.sha256(), vouched=False)
        # Only the current user's own partial is continued (Checkpoint.load checked it,
        # and a link put there since is not followed).
        handle = os.fdopen(open_own(target.partial, os.O_RDWR), "r+b")
        # A partial an older version left follows the umask; from here on it is private.
        os.fchmod(handle.fileno(), 0o600)
        try:
            digest = resume_from.hash_kept(handle, target)
            handle.truncate(resume_from.bytes)
            handle.seek(resume_from.bytes)
        except BaseException:
            handle.close()
            raise
        partial = cls(target, origin, handle, digest, vouched=True)
        partial._saved = resume_from
        return partial

    @property
    def size(self) -> int:
        return self._handle.tell()

    def write(self, data: bytes) -> None:
        with naming(self.target.partial):
            self._handle.write(data)
        self._digest.update(data)

    def commit(
        self, cursor: str | None, pages: int, stats: StatsJson, prices: PricesJson | None = None
    ) -> Checkpoint:
        """Note that the file so far is whole pages, and `cursor` follows them.

        `prices`: with `--cost`, the cost column of those pages.
        """
        self._committed = replace(
            self._origin,
            cursor=cursor,
            bytes=self.size,
            sha256=self._digest.copy().hexdigest(),
            pages=pages,
            stats=stats,
            prices=prices,
        )
        return self._committed

    def save(self) -> None:
        """Make the last commit durable; with nothing new since the last save, nothing to say."""
        committed = self._committed
        if committed is None or committed is self._saved:
            return
        with naming(self.target.partial):
            self._handle.flush()
            os.fsync(self._handle.fileno())
        # The data it points into is fsynced first; a checkpoint lost in a crash
        # only means resuming from the one before, which is still true.
        # 0600: a checkpoint is bookkeeping, no one else's to read.
        write_atomically(self.target.checkpoint, committed.to_text(), mode=0o600, durable=False)
        self._saved = committed
        self._vouched = True

    def discard_unless_saved(self) -> None:
        """Remove the file if no checkpoint vouches for it: a rerun could only start over."""
        if self._vouched:
            return
        self._close_quietly()
        self.target.partial.unlink(missing_ok=True)

    def seal(self) -> FileJson:
        """Close the complete file for good and describe it for the manifest.

        The hash is read back from the file, not taken from the running one,
        and the two must agree: what the manifest vouches for is what is on
        disk, and a file some other hand changed meanwhile is not blessed.
        """
        partial = self.target.partial
        with naming(partial):
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        on_disk = sha256_of(partial)
        if on_disk != self._digest.hexdigest():
            # Nothing in it can be trusted now, the checkpointed part included.
            self.target.checkpoint.unlink(missing_ok=True)
            self._vouched = False
            raise StorageError(
                f"the partial file {str(partial)!r} changed while the export was writing it",
                hint="start over with --force, and let no other program write beside the target",
            )
        return {
            "name": self.target.path.name,
            "bytes": partial.stat().st_size,
            "sha256": on_disk,
        }

    def finish(self, manifest: Manifest, *, sign: Callable[[bytes], str] | None = None) -> None:
        """Publish the sealed file at the target, with its manifest (and its signature).

        A signer that fails (a key refused, a passphrase mistyped) fails before
        anything is published: the export waits, and `--resume` publishes it.
        """
        target = self.target
        text = manifest.to_text().encode("utf-8")
        if sign is not None:
            signature = sign(text)
            write_atomically(signature_path(target.manifest), signature)
        # The manifest lands next: whenever the data file exists, so does its proof.
        write_atomically(target.manifest, text)
        publish_mode(target.partial)
        os.replace(target.partial, target.path)
        fsync_directory(target.path.parent)
        target.checkpoint.unlink(missing_ok=True)

    def close(self) -> None:
        self._handle.close()

    def _close_quietly(self) -> None:
        # Closing flushes; after a failed write the flush fails the same way,
        # and that error says nothing the first one did not.
        with contextlib.suppress(OSError):
            self._handle.close()

    def __enter__(self) -> PartialFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None:
            self.close()
        else:
            self._close_quietly()
