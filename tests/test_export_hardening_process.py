"""Issue 11 with the installed `usage`: overlapping runs, file-size limits, failing streams."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from usage_cli.sandbox import Sandbox
from usage_cli.sandbox.server import Faults

from .conftest import ANCHOR, TOKEN, subprocess_env, usage_command

USAGE = usage_command()


@pytest.fixture(scope="module")
def slow() -> Iterator[Sandbox]:
    """Pages slow enough to be read ahead on a thread; tests hold it to catch a run mid-way."""
    with Sandbox(
        records=400, seed=5, token=TOKEN, anchor=ANCHOR, faults=Faults(latency=0.01)
    ) as server:
        yield server


@pytest.fixture(scope="module")
def steady() -> Iterator[Sandbox]:
    """Slow enough that a run is still going after its first checkpoint (a second in)."""
    with Sandbox(
        records=400, seed=5, token=TOKEN, anchor=ANCHOR, faults=Faults(latency=0.05)
    ) as server:
        yield server


@pytest.fixture(scope="module")
def fast() -> Iterator[Sandbox]:
    with Sandbox(records=400, seed=5, token=TOKEN, anchor=ANCHOR) as server:
        yield server


def env_for(server: Sandbox) -> dict[str, str]:
    return subprocess_env(CHATBOTKIT_API_URL=server.url, CHATBOTKIT_API_TOKEN=TOKEN)


def usage(
    server: Sandbox, *args: str, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*USAGE, *args],
        env=env_for(server),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=preexec_fn,
    )


def start(server: Sandbox, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*USAGE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(server),
    )


def reference(server: Sandbox, tmp_path: Path, name: str) -> bytes:
    copy = tmp_path / "reference" / name
    copy.parent.mkdir()
    done = usage(server, "export", str(copy), "--take", "10", "-q")
    assert done.returncode == 0, done.stderr
    return copy.read_bytes()


def hidden(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob(".*"))


# 1. Overlapping runs


def test_two_forced_exports_started_together_one_wins_and_verifies(
    slow: Sandbox, fast: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "a.jsonl"
    args = ("export", str(target), "--take", "10", "--force", "-q")
    # The one that takes the lock is held at its second page until the other has
    # ended: they surely overlap, however the machine schedules them.
    with slow.hold(after=1) as held:
        first, second = start(slow, *args), start(slow, *args)
        held.wait()
        deadline = time.monotonic() + 60
        while first.poll() is None and second.poll() is None:
            assert time.monotonic() < deadline, "neither export ended"
            time.sleep(0.01)
        held.release()
        ended = {
            first.pid: first.communicate(timeout=120),
            second.pid: second.communicate(timeout=120),
        }
    codes = {first.pid: first.returncode, second.pid: second.returncode}
    assert sorted(codes.values()) == [0, 2], ended
    winner = next(pid for pid, code in codes.items() if code == 0)
    loser = next(pid for pid, code in codes.items() if code == 2)
    refusal = ended[loser][1]
    assert refusal.startswith(f"error: another export to {str(target)!r} is running")
    assert f"process {winner}" in refusal
    assert "Traceback" not in refusal
    assert usage(slow, "verify", str(target)).returncode == 0
    assert target.read_bytes() == reference(fast, tmp_path, "a.jsonl")
    assert hidden(tmp_path) == []


def test_resume_or_force_while_a_run_holds_the_target_is_refused_before_any_request(
    slow: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "a.csv"
    slow.requests.clear()
    # Held at its fourth page: still running after three refused runs, however busy
    # the machine.
    with slow.hold(after=3) as held:
        running = start(slow, "export", str(target), "--take", "5")
        held.wait()
        for extra in (["--resume"], ["--force"], []):
            # A dead API root: a request would end in exit 5, so exit 2 means none was made.
            refused = usage(slow, "--api-url", "http://127.0.0.1:9", "export", str(target), *extra)
            assert refused.returncode == 2, refused.stderr
            assert f"process {running.pid}" in refused.stderr
        running.send_signal(signal.SIGINT)
        _, err = running.communicate(timeout=30)
    assert running.returncode == 130, err
    assert ".a.csv.lock" not in hidden(tmp_path)
    resumed = usage(slow, "export", str(target), "--take", "5", "--resume", "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert usage(slow, "verify", str(target)).returncode == 0


def test_a_killed_holder_does_not_block_the_next_run(slow: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "a.jsonl"
    with slow.hold(after=1) as held:
        killed = start(slow, "export", str(target), "--take", "10")
        held.wait()
        killed.kill()
        killed.communicate(timeout=30)
    assert (tmp_path / ".a.jsonl.lock").read_text() == f"{killed.pid}\n"  # left, not held
    again = usage(slow, "export", str(target), "--take", "50", "--force", "-q")
    assert again.returncode == 0, again.stderr
    assert hidden(tmp_path) == []


# 7. Stopped before the first page


def test_interrupted_before_the_first_page_leaves_nothing_waiting(
    fast: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "a.csv"
    with fast.hold() as held:  # its first page never comes
        process = start(fast, "export", str(target))
        held.wait()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "--resume" not in err
    assert hidden(tmp_path) == []
    again = usage(fast, "export", str(target), "-q")
    assert again.returncode == 0, again.stderr


# 8. The disk says no


def file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        # Without SIGXFSZ ignored the kernel kills the process; with it, write() gets EFBIG.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_file_size_limit_before_any_checkpoint_is_exit_5_and_leaves_nothing(
    fast: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "a.jsonl"
    failed = usage(fast, "export", str(target), "--take", "10", preexec_fn=file_size_limit(1000))
    assert failed.returncode == 5, failed.stderr
    assert f"File too large ({tmp_path / '.a.jsonl.partial'})" in failed.stderr
    assert "internal error" not in failed.stderr
    assert "--resume" not in failed.stderr
    assert hidden(tmp_path) == []


def test_a_file_size_limit_after_a_checkpoint_says_how_to_resume(
    steady: Sandbox, fast: Sandbox, tmp_path: Path
) -> None:
    slow = steady
    target = tmp_path / "a.jsonl.gz"
    # About two thirds of the file: reached after the first checkpoint (a second in).
    limit = len(reference(fast, tmp_path, "a.jsonl.gz")) * 2 // 3
    failed = usage(slow, "export", str(target), "--take", "10", preexec_fn=file_size_limit(limit))
    assert failed.returncode == 5, failed.stderr
    assert f"error: cannot write the export of {target}: File too large" in failed.stderr
    assert "rerun with --resume" in failed.stderr
    assert not target.exists()
    checkpoint = json.loads((tmp_path / ".a.jsonl.gz.checkpoint.json").read_text())
    assert 0 < checkpoint["stats"]["records"] < 400
    resumed = usage(slow, "export", str(target), "--take", "10", "--resume", "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert usage(slow, "verify", str(target)).returncode == 0
    assert target.read_bytes() == (tmp_path / "reference" / "a.jsonl.gz").read_bytes()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_stdout_on_a_full_device_is_exit_5(fast: Sandbox) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [*USAGE, "export", "-", "-o", "jsonl"],
            env=env_for(fast),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert done.returncode == 5, done.stderr
    assert done.stderr == "error: cannot write to standard output: No space left on device\n"
