"""The runtime is the one door to the outside world, and in-process runs use it fully."""

from __future__ import annotations

import pathlib
import re

import httpx

from usage_cli.runtime import Recorder, Runtime, written
from usage_cli.sandbox import Sandbox

from .conftest import TOKEN, run_in_memory

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "usage_cli"
WORLD = re.compile(r"\bsys\.std(in|out|err)\b|\btime\.sleep\b|\bdatetime\.now\b")


def test_only_the_runtime_touches_std_streams_sleep_and_the_clock() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "runtime.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if WORLD.search(line.split("#", 1)[0])
    }
    assert offenders == set()


def test_a_table_on_a_terminal_in_process(server: Sandbox) -> None:
    result = run_in_memory(
        ["--api-url", server.url, "--token", TOKEN, "list", "--limit", "3"], tty=True
    )
    assert result.code == 0, result.err
    screen = re.sub(r"\x1b\[[0-9;]*m", "", result.out)  # a terminal gets colours
    assert "┏" in screen
    assert "createdAt" in screen
    assert "(UTC)" in screen
    for record in server.records[:3]:
        assert record["id"][:8] in screen


def test_summary_on_a_terminal_is_a_table_and_json_in_a_pipe(server: Sandbox) -> None:
    args = ["--api-url", server.url, "--token", TOKEN, "summary"]
    assert "share" in run_in_memory(args, tty=True).out
    assert run_in_memory(args).out.lstrip().startswith("{")


def test_the_clock_comes_from_the_runtime(server: Sandbox) -> None:
    from datetime import UTC, datetime

    newest = max(record["createdAt"] for record in server.records)
    after_all = datetime.fromtimestamp(newest / 1000 + 3600, UTC)
    args = ["--api-url", server.url, "--token", TOKEN, "list", "--since", "1h", "--all"]
    result = run_in_memory(args, now=lambda: after_all)
    # One hour back from an hour after the newest record holds exactly those in that hour.
    window = [r for r in server.records if r["createdAt"] >= newest]
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == len(window) >= 1


def test_backoff_sleeps_through_the_runtime() -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={"items": []})])
    waits = Recorder()
    runtime = Runtime.memory(
        transport=httpx.MockTransport(lambda request: next(answers)), sleep=waits
    )
    from usage_cli.cli import run

    code = run(["--api-url", "http://127.0.0.1:9", "--token", TOKEN, "list", "-v"], runtime=runtime)
    assert code == 0
    assert len(waits.waits) == 1
    assert "retry 1/5 after HTTP 503" in written(runtime.stderr)


def test_no_test_patches_the_package() -> None:
    """Tests reach the package through a Runtime, never by patching its names."""
    patching = re.compile(r"setattr\(\s*[\"']?usage_cli|setattr\(\s*(Client|RecordStream|Query)\b")
    tests = pathlib.Path(__file__).resolve().parent
    offenders = [
        f"{path.name}:{number}"
        for path in tests.glob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if patching.search(line) and path.name != "test_runtime.py"
    ]
    assert offenders == []


def test_a_wait_notice_during_a_live_export_gets_a_line_of_its_own(tmp_path: pathlib.Path) -> None:
    answers = iter(
        [
            httpx.Response(429, json={"message": "Too many requests", "code": "LIMITS_REACHED"}),
            httpx.Response(
                200, json={"items": [{"id": "r1", "type": "T", "count": 1, "createdAt": 1}]}
            ),
            httpx.Response(200, json={"items": []}),
        ]
    )
    runtime = Runtime.memory(transport=httpx.MockTransport(lambda request: next(answers)), tty=True)
    from usage_cli.cli import run

    target = tmp_path / "a.jsonl"
    code = run(
        ["--api-url", "http://127.0.0.1:9", "--token", TOKEN, "export", str(target)],
        runtime=runtime,
    )
    assert code == 0, written(runtime.stderr)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", written(runtime.stderr))
    notice = next(line for line in screen.splitlines() if "rate limit reached" in line)
    assert "records/s" not in notice  # not glued to the progress line
