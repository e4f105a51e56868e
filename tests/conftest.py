from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from usage_cli.cli import run
from usage_cli.runtime import Runtime, written
from usage_cli.sandbox import Sandbox
from usage_cli.settings import API_URL_ENV, RUN_AS_ENV, TOKEN_ENV

ANCHOR = datetime(2026, 1, 31, tzinfo=UTC)
TOKEN = "tok_test_5ecr3t_do_not_print"
RECORDS = 250


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker more than cores. The suite mostly waits (on subprocesses,
    sockets and a sandbox's latency), and a third worker fills two cores' waits:
    on this 2-core machine the suite went from about 50 s to 43 s."""
    return (os.cpu_count() or 1) + 1


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's real token, API root or config file."""
    for name in (*TOKEN_ENV, *API_URL_ENV, *RUN_AS_ENV, "USAGE_PROFILE", "USAGE_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USAGE_CONFIG", str(tmp_path_factory.mktemp("config") / "config.toml"))


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(records=RECORDS, seed=7, token=TOKEN, anchor=ANCHOR) as server:
        yield server


@pytest.fixture
def server(sandbox: Sandbox) -> Sandbox:
    """The shared sandbox with its request log emptied for this test."""
    sandbox.requests.clear()
    return sandbox


@dataclass
class Result:
    code: int
    out: str
    err: str

    def jsonl(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]


def run_in_memory(args: Sequence[str], **runtime: Any) -> Result:
    """`usage ARGS` in-process with in-memory streams; `runtime` as `Runtime.memory` takes."""
    memory = Runtime.memory(**runtime)
    code = run(list(args), runtime=memory)
    return Result(code, written(memory.stdout), written(memory.stderr))


@pytest.fixture
def cli(server: Sandbox) -> Any:
    """Run `usage ...` in-process against the sandbox; returns a Result."""

    def invoke(*args: str, auth: bool = True, **runtime: Any) -> Result:
        base = {"--api-url": server.url, "--token": TOKEN} if auth else {}
        # A test's own --api-url or --token replaces the default (repeating one is refused).
        words = [w for flag, value in base.items() if flag not in args for w in (flag, value)]
        return run_in_memory([*words, *args], **runtime)

    return invoke


def usage_command() -> list[str]:
    """The installed console script, next to the running interpreter."""
    script = Path(sys.executable).parent / "usage"
    if script.exists():
        return [str(script)]
    found = shutil.which("usage")
    assert found, "the `usage` console script is not installed"
    return [found]


def stopped(process: subprocess.Popen[str], signum: int = signal.SIGINT) -> str:
    """Send `signum` to a process a test started and wait for it; its stderr. Killed if it
    will not stop in time: a process left behind (a sandbox) outlives the suite."""
    process.send_signal(signum)
    try:
        return process.communicate(timeout=30)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test's environment (with its private USAGE_CONFIG), minus any credentials."""
    hidden = (*TOKEN_ENV, *API_URL_ENV, *RUN_AS_ENV, "USAGE_PROFILE", "USAGE_DB")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    env.update(extra)
    return env


class FailAfter(httpx.HTTPTransport):
    """Real HTTP for the first `pages` requests, then 503s; notes the cursors asked for."""

    def __init__(self, pages: int) -> None:
        super().__init__()
        self.pages = pages
        self.asked: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request.url.params.get("cursor"))
        if len(self.asked) > self.pages:
            return httpx.Response(503, json={"message": "simulated", "code": "GENERIC_ERROR"})
        return super().handle_request(request)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A folder (to fill) and the same folder mounted read-only, as a snapshot, a share or
    evidence handed over is: a real mount, since root writes through file modes."""
    source, mounted = tmp_path / "source", tmp_path / "mounted"
    source.mkdir()
    mounted.mkdir()
    bound = subprocess.run(["mount", "--bind", str(source), str(mounted)], capture_output=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.decode().strip()}")
    try:
        subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(mounted)], check=True, capture_output=True
        )
        yield source, mounted
    finally:
        subprocess.run(["umount", str(mounted)], check=True)
