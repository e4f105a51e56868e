"""`usage sync` as a process: killed, terminated, and against a sandbox that keeps growing."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from usage_cli.sandbox import Sandbox
from usage_cli.sandbox.emulator import Faults

from .conftest import ANCHOR, subprocess_env, usage_command

TOKEN = "tok_process"


@pytest.fixture
def slow() -> Iterator[Sandbox]:
    """3,000 records at 20 ms a page: a sync takes about a second, long enough to stop."""
    with Sandbox(
        records=3000, seed=21, token=TOKEN, anchor=ANCHOR, faults=Faults(latency=0.02)
    ) as server:
        yield server


def start_sync(server: Sandbox, db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*usage_command(), "--api-url", server.url, "sync", "--db", str(db)],
        env=subprocess_env(CHATBOTKIT_API_TOKEN=TOKEN),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stored(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
            return [row[0] for row in connection.execute("SELECT id FROM records")]
    except sqlite3.OperationalError:
        return []  # not created yet


def wait_for_rows(db: Path, at_least: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while len(stored(db)) < at_least:
        assert process.poll() is None, "the sync ended before it could be stopped"
        assert time.monotonic() < deadline, "the sync wrote nothing"
        time.sleep(0.02)


def outcomes(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT outcome FROM runs ORDER BY id")]


def finish(server: Sandbox, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*usage_command(), "--api-url", server.url, "sync", "--db", str(db)],
        env=subprocess_env(CHATBOTKIT_API_TOKEN=TOKEN),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_sync_killed_mid_run_loses_nothing_and_the_next_finishes_it(
    slow: Sandbox, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    # Held at its seventh page: it is surely mid-run when killed, however busy the machine.
    with slow.hold(after=6) as held:
        process = start_sync(slow, db)
        held.wait()
        wait_for_rows(db, 500, process)
        process.kill()
        process.wait(timeout=10)
    kept = stored(db)
    assert 500 <= len(kept) < 3000
    assert len(kept) % 100 == 0

    done = finish(slow, db)
    assert done.returncode == 0, done.stderr
    assert "closing 1 gap an interrupted sync left" in done.stderr
    ids = stored(db)
    assert len(ids) == len(set(ids))
    assert set(ids) == {record["id"] for record in slow.records}
    assert outcomes(db) == ["interrupted", "complete"]
    check = subprocess.run(
        [*usage_command(), "verify", str(db)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stderr


def test_sigterm_ends_a_sync_cleanly_with_exit_130(slow: Sandbox, tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    with slow.hold(after=4) as held:
        process = start_sync(slow, db)
        held.wait()
        wait_for_rows(db, 300, process)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 130
    assert "error: interrupted; every page synced so far is kept (" in err
    assert " new records)" in err
    assert "hint: run the same `usage sync` again" in err
    assert outcomes(db) == ["interrupted"]
    assert finish(slow, db).returncode == 0
    assert set(stored(db)) == {record["id"] for record in slow.records}


def test_a_growing_sandbox_is_followed_by_each_sync(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    with Sandbox(records=400, seed=4, token=TOKEN, grow=7, grow_every=0.2) as server:
        first = finish(server, db)
        assert first.returncode == 0, first.stderr
        time.sleep(0.5)
        existing = {record["id"] for record in server.records}
        second = finish(server, db)
        assert second.returncode == 0, second.stderr
    ids = stored(db)
    assert len(ids) == len(set(ids))
    assert existing <= set(ids)
    assert len(existing) >= 400 + 14


def test_a_full_disk_is_exit_5_and_keeps_what_was_committed(tmp_path: Path) -> None:
    import resource

    def small_files() -> None:
        # write() then fails with EFBIG, as on a full disk, instead of a kill.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, 600_000))

    db = tmp_path / "usage.db"
    with Sandbox(records=3000, seed=8, token=TOKEN, anchor=ANCHOR) as server:
        failed = subprocess.run(
            [*usage_command(), "--api-url", server.url, "sync", "--db", str(db)],
            env=subprocess_env(CHATBOTKIT_API_TOKEN=TOKEN),
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=small_files,
        )
        assert failed.returncode == 5, failed.stderr
        assert f"\nerror: cannot write the archive {db}: disk I/O error\n" in failed.stderr
        assert "hint: see to the disk (space, permissions), then run `usage sync` again" in (
            failed.stderr
        )
        assert "internal error" not in failed.stderr
        kept = stored(db)
        assert 0 < len(kept) < 3000
        done = finish(server, db)
        assert done.returncode == 0, done.stderr
        assert set(stored(db)) == {record["id"] for record in server.records}
