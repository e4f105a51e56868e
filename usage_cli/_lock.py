"""One writer per target: a lock file beside it, held for the whole run.

Export targets and archives alike. Two exports to one target would share its
partial file and checkpoint, and each would publish a file the other had
written into; a sync takes any run of its archive still marked running for one
that was killed. So a run takes an exclusive `flock` on `.NAME.lock` before it
looks at anything, and a second run is refused (naming the holder's PID, which
the file holds) instead of waiting: a cron job that overruns should say so, not
queue up.

The kernel drops a `flock` when its holder exits in any way, SIGKILL included,
so a lock file left by a dead run is stale by construction and simply taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from usage_cli._files import naming, open_own
from usage_cli.errors import InputError


class TargetLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def acquire(cls, path: Path, target_text: str, *, doing: str = "export to") -> TargetLock:
        """The lock at `path`; InputError naming the other process when one holds it.

        OSError (the name is too long, the directory refuses) is the caller's to report.
        """
        while True:
            # Never through a link, never another user's file: a planted one would get
            # our PID written into it. 0600: nobody else's.
            fd = open_own(path, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                who = f"process {holder}" if holder else "another process"
                raise InputError(
                    f"another {doing} {target_text!r} is running ({who}, lock {path.name})",
                    hint="wait for it to finish, or stop it; two runs on one target would "
                    "corrupt it",
                ) from None
            except BaseException:
                os.close(fd)
                raise
            # The run before us unlinks its lock file while still holding it;
            # if that happened between our open and our flock, we hold a file
            # no longer at the path, which excludes nobody: open the new one.
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            if current is not None and os.path.samestat(current, os.fstat(fd)):
                break
            os.close(fd)
        lock = cls(path, fd)
        try:
            with naming(path):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
        except BaseException:
            lock.release()
            raise
        return lock

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        """Remove the lock file, then let go; idempotent."""
        if self._fd < 0:
            return
        try:
            # Only while holding the lock: whoever opens the file after this
            # sees it gone from the path (above) and makes a new one.
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> TargetLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _holder(fd: int) -> int | None:
    """The PID of the run holding the lock, if it says within a moment."""
    # It writes its PID right after taking the lock: two runs started together
    # may look in that instant, and the PID is what makes the refusal useful.
    deadline = time.monotonic() + 0.2
    holder = _pid_in(fd)
    while holder is None and time.monotonic() < deadline:
        os.sched_yield()
        holder = _pid_in(fd)
    return holder


def _pid_in(fd: int) -> int | None:
    """The PID the holder wrote; None in the instant between its flock and its write."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def held(path: Path) -> bool:
    """Whether a run holds the lock at `path` now (a sync writing an archive, say)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False  # no lock file: nobody holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing lets go of a lock taken just to look
    return False
