"""A private ssh-agent for one run: a key's passphrase is asked once, before any request.

`ssh-keygen` asks for a passphrase each time it signs; a run that checks the
key before its first request and signs after its last would ask twice, with
the export complete in between. So a passphrase key, at a terminal, is added
to an agent of this run's own (`ssh-add`: the one prompt) and every signature
is then made through it (`ssh-keygen -Y sign` uses an agent that holds the
key). The agent listens on a socket in a private folder and ends with the run;
on Linux it is also ended if the run is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path


class Agent:
    """An ssh-agent this process started; `environment` points ssh-keygen at it."""

    def __init__(self, folder: Path, process: subprocess.Popen[bytes]) -> None:
        self._folder = folder
        self._process = process
        self.socket = folder / "agent.sock"

    @property
    def environment(self) -> dict[str, str]:
        return {"SSH_AUTH_SOCK": str(self.socket)}

    @classmethod
    def start(cls) -> Agent | None:
        """A new agent, listening; None where ssh-agent is missing or will not start."""
        tool = shutil.which("ssh-agent")
        if tool is None:
            return None
        folder = Path(tempfile.mkdtemp(prefix="usage-agent-"))  # 0700: ours alone
        process = subprocess.Popen(
            [tool, "-D", "-a", str(folder / "agent.sock")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            preexec_fn=_end_with_parent,
        )
        agent = cls(folder, process)
        # It says where it listens once it does: the first line it writes.
        assert process.stdout is not None
        said = process.stdout.readline()
        if b"SSH_AUTH_SOCK" not in said or not agent.socket.exists():
            agent.stop()
            return None
        # Left open: the agent's last words wait in the pipe, never a broken one.
        atexit.register(agent.stop)
        return agent

    def add(self, key: Path) -> subprocess.CompletedProcess[bytes]:
        """`ssh-add KEY`: it asks for the passphrase on the terminal, once."""
        tool = shutil.which("ssh-add") or "ssh-add"
        return subprocess.run(
            [tool, str(key)],
            capture_output=True,
            timeout=300,
            env={**os.environ, **self.environment},
            check=False,
        )

    def stop(self) -> None:
        """End the agent and remove its folder (idempotent)."""
        if self._process.poll() is None:
            self._process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()
        shutil.rmtree(self._folder, ignore_errors=True)


def _end_with_parent() -> None:
    """In the agent's process: end it when the run ends, even a killed run (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, int(signal.SIGTERM))
