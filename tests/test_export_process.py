"""Interrupting the installed `usage export` for real, and resuming it."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from usage_cli.sandbox import Sandbox
from usage_cli.sandbox.server import Faults

from .conftest import ANCHOR, TOKEN, subprocess_env, usage_command

USAGE = usage_command()


@pytest.fixture(scope="module")
def slow() -> Iterator[Sandbox]:
    with Sandbox(
        records=600, seed=11, token=TOKEN, anchor=ANCHOR, faults=Faults(latency=0.01)
    ) as server:
        yield server


@pytest.fixture(scope="module")
def fast() -> Iterator[Sandbox]:
    """The same records as `slow`, served without latency: for reference copies."""
    with Sandbox(records=600, seed=11, token=TOKEN, anchor=ANCHOR) as server:
        yield server


def env_for(server: Sandbox) -> dict[str, str]:
    return subprocess_env(CHATBOTKIT_API_URL=server.url, CHATBOTKIT_API_TOKEN=TOKEN)


def start_export(server: Sandbox, target: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*USAGE, "export", str(target), "--take", "10", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(server),
    )


def fresh_copy(server: Sandbox, target: Path) -> bytes:
    reference = target.parent / "reference" / target.name
    reference.parent.mkdir()
    done = subprocess.run(
        [*USAGE, "export", str(reference), "--take", "10", "-q"],
        env=env_for(server),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return reference.read_bytes()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_then_resume_gives_exactly_the_records(
    slow: Sandbox, fast: Sandbox, tmp_path: Path, signum: int
) -> None:
    target = tmp_path / "audit.csv"
    slow.requests.clear()
    # Held at its ninth page: the signal surely comes mid-run, however busy the machine.
    with slow.hold(after=8) as held:
        process = start_export(slow, target)
        held.wait()
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "--resume" in err
    assert "Traceback" not in err
    assert not target.exists()
    checkpoint = json.loads((tmp_path / ".audit.csv.checkpoint.json").read_text())
    assert 0 < checkpoint["stats"]["records"] < 600

    slow.requests.clear()
    resumed = subprocess.run(
        [*USAGE, "export", str(target), "--take", "10", "--resume"],
        env=env_for(slow),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    # It continues from the checkpoint's cursor.
    assert slow.requests[0].param("cursor") == checkpoint["cursor"]
    assert target.read_bytes() == fresh_copy(fast, target)
    verified = subprocess.run(
        [*USAGE, "verify", str(target)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0, verified.stderr


def test_a_killed_export_leaves_nothing_and_resumes(
    slow: Sandbox, fast: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "audit.jsonl.gz"
    with slow.hold(after=12) as held:
        process = start_export(slow, target)
        held.wait()
        process.kill()
        process.communicate(timeout=30)
    assert not target.exists()
    resumed = subprocess.run(
        [*USAGE, "export", str(target), "--take", "10", "--resume", "-q"],
        env=env_for(slow),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert target.read_bytes() == fresh_copy(fast, target)


def test_verify_exit_6_after_one_byte_changes(fast: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "audit.csv"
    done = subprocess.run(
        [*USAGE, "export", str(target), "--type", "CHATBOTKIT_TASK_RUN"],
        env=env_for(fast),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (
        subprocess.run([*USAGE, "verify", str(target)], capture_output=True, timeout=60).returncode
        == 0
    )
    data = bytearray(target.read_bytes())
    data[-3] ^= 0x01
    target.write_bytes(bytes(data))
    tampered = subprocess.run(
        [*USAGE, "verify", str(target)], capture_output=True, text=True, timeout=60
    )
    assert tampered.returncode == 6
    assert tampered.stderr.startswith("error: ")
