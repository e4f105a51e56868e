"""The installed `usage` command, as a user's shell runs it."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from usage_cli.sandbox import Sandbox
from usage_cli.sandbox.server import Faults

from .conftest import ANCHOR, TOKEN, stopped, subprocess_env, usage_command

USAGE = usage_command()


def usage(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*USAGE, *args],
        capture_output=True,
        text=True,
        env=env or subprocess_env(),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def configured(server: Sandbox) -> dict[str, str]:
    return subprocess_env(CHATBOTKIT_API_URL=server.url, CHATBOTKIT_API_TOKEN=TOKEN)


def test_piped_output_is_jsonl(server: Sandbox) -> None:
    result = usage("list", "--limit", "5", env=configured(server))
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == server.records[:5]
    assert TOKEN not in result.stdout + result.stderr


def test_terminal_output_is_a_table(server: Sandbox) -> None:
    leader, follower = pty.openpty()
    env = configured(server) | {"COLUMNS": "160", "TERM": "xterm"}
    process = subprocess.Popen(
        [*USAGE, "list", "--limit", "3"],
        stdout=follower,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=30) == 0
    screen = b"".join(chunks).decode()
    # Boxed when it fits in 160 columns, else compact (a rule under the header).
    assert "┏" in screen or "────" in screen
    assert "createdAt (UTC)" in screen
    plain = re.sub(r"\x1b\[[0-9;]*m", "", screen)
    assert max(len(line) for line in plain.splitlines()) <= 160
    for record in server.records[:3]:
        assert record["id"] in screen
    assert "{" not in screen.split("meta")[0]  # not JSON lines


def test_demo_all_counts_every_sandbox_record() -> None:
    result = subprocess.run(
        ["bash", "-c", f"{' '.join(USAGE)} list --demo --all -o jsonl | wc -l"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert result.stdout.strip() == "1000"


@pytest.fixture(scope="module")
def big() -> Iterator[Sandbox]:
    with Sandbox(records=5000, seed=3, token=TOKEN, anchor=ANCHOR) as server:
        yield server


def test_a_closed_pipe_ends_quietly_and_stops_fetching(big: Sandbox) -> None:
    big.requests.clear()
    script = f'{" ".join(USAGE)} list --all | head -1; echo "status=${{PIPESTATUS[0]}}"'
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=configured(big), timeout=60
    )
    first, status = result.stdout.splitlines()
    assert json.loads(first) == big.records[0]
    assert status == "status=0"
    assert result.stderr == ""
    assert len(big.requests) < 10  # of 51 pages


def test_bad_input_exit_code_and_one_line(server: Sandbox) -> None:
    result = usage("list", "--meta", "=oops", env=configured(server))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == "error: --meta '=oops' has an empty key"
    assert "Traceback" not in result.stderr


def test_no_token_exit_3() -> None:
    result = usage("list", "--api-url", "http://127.0.0.1:9")
    assert result.returncode == 3
    assert "CHATBOTKIT_API_TOKEN" in result.stderr


def test_python_dash_m_runs_the_same_cli() -> None:
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "usage_cli", "--version"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage ")


def _start_sandbox(
    *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [*USAGE, "sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or subprocess_env(),
    )
    assert process.stdout is not None
    url = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("export CHATBOTKIT_API_URL="):
            url = line.split("=", 1)[1].strip()
            break
    if not url:
        process.kill()
        process.communicate()
    assert url, "sandbox did not print its URL"
    return process, url


def test_sandbox_in_another_process_with_its_own_token() -> None:
    process, url = _start_sandbox("--records", "120", "--token", "s3cret")
    try:
        listed = usage(
            "list",
            "--all",
            env=subprocess_env(CHATBOTKIT_API_URL=url, CHATBOTKIT_API_TOKEN="s3cret"),
        )
        assert listed.returncode == 0, listed.stderr
        assert len(listed.stdout.splitlines()) == 120
        refused = usage(
            "list", env=subprocess_env(CHATBOTKIT_API_URL=url, CHATBOTKIT_API_TOKEN="wrong")
        )
        assert refused.returncode == 3
    finally:
        err = stopped(process)
    assert process.returncode == 0
    assert "s3cret" not in err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "sandbox stopped", repr(err)


def test_sandbox_prints_its_default_token_which_works() -> None:
    process, url = _start_sandbox("--records", "10", "--quiet")
    try:
        listed = usage(
            "list",
            "--all",
            env=subprocess_env(CHATBOTKIT_API_URL=url, CHATBOTKIT_API_TOKEN="sandbox-token"),
        )
        assert len(listed.stdout.splitlines()) == 10
    finally:
        stopped(process, signal.SIGTERM)


def test_ctrl_c_during_a_listing_exits_130_quietly() -> None:
    with Sandbox(records=3000, token=TOKEN, anchor=ANCHOR) as server, server.hold(1) as held:
        process = subprocess.Popen(
            [*USAGE, "list", "--all"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=configured(server),
        )
        held.wait()  # its second page never comes
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err.strip() == "error: interrupted"


def test_retries_reported_with_verbose() -> None:
    with Sandbox(
        records=30, token=TOKEN, anchor=ANCHOR, faults=Faults(rate_429=0.5, retry_after=0, seed=1)
    ) as flaky:
        result = usage("list", "--all", "-v", "--retries", "30", env=configured(flaky))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 30
    assert "retry 1/30 after HTTP 429" in result.stderr


def test_demo_summary_totals_match_the_demo_listing() -> None:
    listed = usage("list", "--demo", "--all", "-o", "jsonl")
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    summary = json.loads(usage("summary", "--demo", "--by", "type", "-o", "json").stdout)
    assert summary["total"]["records"] == len(records) == 1000
    assert summary["total"]["count"] == sum(r["count"] for r in records)
    per_type: dict[str, int] = {}
    for record in records:
        per_type[record["type"]] = per_type.get(record["type"], 0) + record["count"]
    assert {g["key"]["type"]: g["count"] for g in summary["groups"]} == per_type


@pytest.mark.parametrize("command", [["list", "-o", "csv"], ["summary", "-o", "json"]])
def test_output_to_a_full_device_is_exit_5_in_one_line(server: Sandbox, command: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [*USAGE, *command, "-q"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=configured(server),
            timeout=60,
        )
    assert done.returncode == 5
    assert done.stderr == "error: cannot write to standard output: No space left on device\n"
