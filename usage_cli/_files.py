"""Files that are either wholly there or not at all: one way to write them.

A reader (a resumed export, `usage verify`, the next `usage config`) may come
along after a crash at any instant; it must find the old file or the new one,
never half of either. So each write goes to a temporary file beside the target
and is renamed over it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


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
    temporary = temporary_for(path)
    fd = create_new(temporary, 0o666 if mode is None else mode)
    try:
        with naming(temporary), os.fdopen(fd, "wb") as handle:
            if mode is not None:
                # os.open's mode passes through the umask, and an old file keeps its own.
                os.fchmod(handle.fileno(), mode)
            handle.write(payload)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        # A full disk must not leave a half-written stray behind as well.
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# Never through a link: a file `usage` makes in a folder others can write (a
# shared folder without the sticky bit) could otherwise be a link another user
# planted, naming a file of ours that the write would land in.
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def check_folder_for(path: Path) -> None:
    """InputError, before any request, unless `path`'s folder exists and takes a new
    file: what `usage` writes goes beside the target first, then is renamed onto it."""
    from usage_cli.errors import InputError

    directory = path.parent
    if directory.exists() and not directory.is_dir():
        raise InputError(
            f"{str(directory)!r} is a file, not a directory: {str(path)!r} cannot go in it"
        )
    if not directory.is_dir():
        raise InputError(
            f"directory {str(directory)!r} does not exist",
            hint=f"create it first: mkdir -p {directory}",
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"directory {str(directory)!r} is not writable")


def create_new(path: Path, mode: int = 0o666) -> int:
    """A new file at `path`, opened for writing: never through a link, never an existing
    file. Whatever is there already (a stale one of ours, a planted link) is removed
    first: unlinking a link removes the link, never what it names."""
    try:
        return os.open(path, _NEW, mode)
    except FileExistsError:
        os.unlink(path)
        return os.open(path, _NEW, mode)


def umask() -> int:
    """The process's umask, read without changing it where the system tells it
    (`os.umask` alone sets it to read it, which a thread creating a file meanwhile
    would see)."""
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii") as status,
    ):
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish_mode(path: Path, *, folder: bool = False) -> None:
    """Give `path`, private while it was being built, the mode a new file (or folder)
    of the user's gets: what was state becomes an export like any other file.

    Through a descriptor opened without following a link, so a link planted in the
    partial's place never passes the mode on to what it names.
    """
    # Non-blocking: a FIFO planted in the partial's place must not hang the export.
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    if folder:
        flags |= getattr(os, "O_DIRECTORY", 0)
    fd = os.open(path, flags)
    try:
        found = os.fstat(fd).st_mode
        if not (stat.S_ISDIR(found) if folder else stat.S_ISREG(found)):
            raise OSError(errno.EINVAL, "not what usage wrote there", str(path))
        os.fchmod(fd, (0o777 if folder else 0o666) & ~umask())
    finally:
        os.close(fd)


def open_own(path: Path, flags: int, mode: int = 0o600) -> int:
    """`path` opened with `flags` (`O_CREAT` among them makes it, with `mode`), when it is
    the current user's own file and no one else may write it; OSError otherwise: a link
    (never followed), or another user's file, which says so as its `strerror`.
    """
    fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), mode)
    found = os.fstat(fd)
    if found.st_uid != os.geteuid() or found.st_mode & 0o022:
        os.close(fd)
        whose = "another user's" if found.st_uid != os.geteuid() else "writable by others"
        raise PermissionError(errno.EACCES, f"it is {whose}", str(path))
    return fd


def remove_tree(path: Path) -> None:
    """Remove the folder `path` made (and all in it), or a link planted in its place (the
    link alone, never what it names); nothing when there is nothing."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        with contextlib.suppress(OSError):
            path.unlink()
        return
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def temporary_for(path: Path, pid: int | None = None) -> Path:
    """The temporary file a write to `path` goes through: one per process, so two
    processes writing the same file (two `usage config set`) never share one."""
    return path.with_name(f"{path.name}.{os.getpid() if pid is None else pid}.tmp")


# The largest process id Linux hands out (pid_max's ceiling): for name-length checks.
PID_MAX = 4_194_304


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
    with open(path, "rb") as handle:
        return sha256_of_start(handle, None).hexdigest()


def sha256_of_start(handle: BinaryIO, size: int | None) -> hashlib._Hash:
    """The running hash of `handle`'s first `size` bytes (all of it for None), read from here.

    Short of `size` bytes is EOFError: the caller asked about bytes that are not there.
    """
    digest = hashlib.sha256()
    left = size
    while left is None or left > 0:
        block = handle.read(1 << 20 if left is None else min(left, 1 << 20))
        if not block:
            if left is not None:
                raise EOFError(f"{left} bytes short")
            break
        digest.update(block)
        if left is not None:
            left -= len(block)
    return digest


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """Errors of writes through a handle name no file by themselves: name `path` for them."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


def reason(error: OSError) -> str:
    """What the system said, and about which file: for a person, without a traceback."""
    said = error.strerror or str(error)
    return f"{said} ({error.filename})" if error.filename else said
