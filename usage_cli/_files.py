"""Files that are either wholly there or not at all: one way to write them.

A reader (a resumed export, `usage verify`, the next `usage config`) may come
along after a crash at any instant; it must find the old file or the new one,
never half of either. So each write goes to a temporary file beside the target
and is renamed over it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def write_atomically(
    path: Path, data: bytes | str, *, mode: int | None = None, durable: bool = True
) -> None:
    """Replace `path` with `data` (text as UTF-8) in one rename.

    `mode` sets the permissions before any byte is written, so a secret is
    never readable by others, not even briefly. `durable` fsyncs the data
    before the rename; without it a crash may leave the old file, never a torn
    one.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode)
    with os.fdopen(fd, "wb") as handle:
        if mode is not None:
            # os.open's mode passes through the umask, and an old file keeps its own.
            os.fchmod(handle.fileno(), mode)
        handle.write(payload)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temporary, path)


def fsync_directory(directory: Path) -> None:
    """Make the renames in `directory` survive a power cut, where the platform allows."""
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
