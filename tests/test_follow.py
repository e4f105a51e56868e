"""`usage list --follow`: new records as they appear, oldest first, through faults, until Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from usage_cli.client import Client, RetryPolicy
from usage_cli.errors import ServerError
from usage_cli.query import Query
from usage_cli.reading.follow import Follower
from usage_cli.sandbox import Sandbox
from usage_cli.sandbox.data import arrivals, generate_records
from usage_cli.sandbox.emulator import Emulator, Faults

from .conftest import ANCHOR, TOKEN, Result, run_in_memory, subprocess_env, usage_command

NOW_MS = int(ANCHOR.timestamp() * 1000)


class Growing:
    """A `sleep` that brings new usage each time it is called, then Ctrl-C after `polls`."""

    def __init__(self, emulator: Emulator, batches: list[int], polls: int | None = None) -> None:
        self.emulator = emulator
        self.batches = list(batches)
        self.polls = polls if polls is not None else len(batches)
        self.added: list[dict[str, Any]] = []
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) > self.polls:
            raise KeyboardInterrupt
        if self.batches:
            step = len(self.waits)
            fresh = arrivals(self.batches.pop(0), seed=100 + step, now_ms=NOW_MS + step * 10_000)
            self.emulator.add(fresh)
            self.added += sorted(fresh, key=lambda r: (r["createdAt"], r["id"]))


def follow(emulator: Emulator, sleep: Callable[[float], None], *args: str, **kw: Any) -> Result:
    base = ["--api-url", "http://127.0.0.1:9", "--token", TOKEN, "list", "--follow"]
    return run_in_memory([*base, *args], transport=emulator.transport(), sleep=sleep, **kw)


def emulator(records: int = 30, faults: Faults | None = None) -> Emulator:
    return Emulator(generate_records(records, seed=3, anchor=ANCHOR), token=TOKEN, faults=faults)


def test_only_new_records_oldest_first_then_ctrl_c_is_exit_0() -> None:
    api = emulator()
    growing = Growing(api, [3, 0, 5, 150])  # 150 at once: more than one page
    result = follow(api, growing, "-o", "jsonl", "--interval", "2")
    assert result.code == 0, result.err
    assert [json.loads(line)["id"] for line in result.out.splitlines()] == [
        record["id"] for record in growing.added
    ]
    assert growing.waits == [2.0] * 5
    assert "stopped following" in result.err
    assert "Traceback" not in result.err


def test_filters_and_meta_apply_to_what_is_followed() -> None:
    api = emulator()
    growing = Growing(api, [40, 40])
    result = follow(
        api, growing, "-o", "jsonl", "--bot-id", "bot_1,bot_2", "--meta", "reason=retry"
    )
    wanted = [
        r["id"]
        for r in growing.added
        if r["botId"] in ("bot_1", "bot_2") and (r["meta"] or {}).get("reason") == "retry"
    ]
    assert [json.loads(line)["id"] for line in result.out.splitlines()] == wanted


def test_since_starts_with_the_records_since_then_and_limit_with_the_last_n() -> None:
    api = emulator()
    oldest_first = sorted(api.records, key=lambda r: (r["createdAt"], r["id"]))
    since_ms = oldest_first[-5]["createdAt"]
    iso = datetime.fromtimestamp(since_ms / 1000, UTC).isoformat(timespec="milliseconds")
    growing = Growing(api, [2])
    result = follow(api, growing, "-o", "jsonl", "--since", iso)
    ids = [json.loads(line)["id"] for line in result.out.splitlines()]
    assert ids == [r["id"] for r in oldest_first[-5:]] + [r["id"] for r in growing.added]
    last = follow(api, Growing(api, [0]), "-o", "jsonl", "--limit", "3")
    newest = sorted(api.records, key=lambda r: (r["createdAt"], r["id"]))[-3:]
    assert [json.loads(line)["id"] for line in last.out.splitlines()] == [r["id"] for r in newest]


def test_transient_faults_are_waited_out_and_said() -> None:
    api = emulator(faults=Faults(every={"503": 2}))
    growing = Growing(api, [2, 2, 2, 2], polls=4)
    result = follow(api, growing, "-o", "jsonl", "--interval", "1", "--retries", "0")
    assert result.code == 0, result.err
    assert "following: " in result.err
    assert "polling again in 2s" in result.err
    shown = [json.loads(line)["id"] for line in result.out.splitlines()]
    assert shown == [r["id"] for r in growing.added][: len(shown)]
    assert len(shown) >= 4


def test_a_refused_token_ends_the_follow_with_exit_3() -> None:
    api = emulator()
    base = ["--api-url", "http://127.0.0.1:9", "--token", "wrong", "list", "--follow"]
    result = run_in_memory(base, transport=api.transport(), sleep=Growing(api, []))
    assert result.code == 3


def test_a_terminal_gets_aligned_lines_and_a_status_line() -> None:
    api = emulator()
    growing = Growing(api, [2, 1])
    result = follow(api, growing, tty=True)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split()[:6] == ["createdAt", "(UTC)", "id", "type", "count", "botId"]
    assert [line.split()[2] for line in lines[1:]] == [r["id"] for r in growing.added]
    assert "following: 3 records/min" in result.err


def test_a_narrow_terminal_keeps_the_key_columns_on_one_line() -> None:
    api = emulator()
    growing = Growing(api, [5])
    result = follow(api, growing, tty=True, width=80)
    lines = result.out.splitlines()
    assert lines[0].split() == ["createdAt", "(UTC)", "id", "type", "count"]
    assert all(len(line) <= 80 for line in lines)
    statuses = [part for part in result.err.split("\r\x1b[K") if part.startswith("following")]
    assert statuses
    assert all(len(status) < 80 for status in statuses)


class LongMeta(Growing):
    """New usage whose meta is far wider than any terminal."""

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) > self.polls:
            raise KeyboardInterrupt
        if self.batches:
            step = len(self.waits)
            fresh = arrivals(self.batches.pop(0), seed=100 + step, now_ms=NOW_MS + step * 10_000)
            for record in fresh:
                record["meta"] = {"reason": "retry", "note": "x" * 300}
            self.emulator.add(fresh)


@pytest.mark.parametrize("width", [60, 80, 140])
def test_follow_fits_the_terminal_and_names_what_it_hides(width: int) -> None:
    api = emulator()
    result = follow(api, LongMeta(api, [3]), "--no-color", tty=True, width=width)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert len(lines) == 4  # a header and three records, none wrapped
    assert all(len(line) <= max(width, 80) for line in lines), lines
    if width == 140:  # meta shown, cut with an ellipsis as list cuts it
        assert "meta" in lines[0]
        assert all(line.endswith("…") for line in lines[1:])
        assert "hidden" not in result.err
    else:  # as list says it: what is hidden, and how to see it
        assert "hidden: botId, meta; --columns shows them" in result.err


def test_in_a_pipe_no_status_line_lands_among_the_readers_lines() -> None:
    import dataclasses

    from usage_cli.cli import run
    from usage_cli.runtime import Runtime, written

    api = emulator()
    runtime = dataclasses.replace(
        Runtime.memory(tty=True, transport=api.transport(), sleep=Growing(api, [2])),
        stdout_tty=False,
    )
    base = ["--api-url", "http://127.0.0.1:9", "--token", TOKEN, "list", "--follow"]
    assert run(base, runtime=runtime) == 0
    assert "following:" not in written(runtime.stderr)
    assert len(written(runtime.stdout).splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--all"], "--follow cannot be used with --all"),
        (["--until", "2026-01-01"], "--follow cannot be used with --until"),
        (["--cursor", "rec_1"], "--follow cannot be used with --cursor: it starts from now"),
        (["--since", "1d", "--limit", "5"], "not both"),
        (["--order", "asc"], "--order does not apply"),
        (["-o", "json"], "use jsonl"),
        (["--interval", "0.5"], "--interval must be between 1 and 3600"),
        (["--interval", "nan"], "--interval must be between 1 and 3600"),
    ],
)
def test_bad_follow_input_is_exit_2_before_any_request(args: list[str], fragment: str) -> None:
    api = emulator()
    result = follow(api, Growing(api, []), *args)
    assert result.code == 2
    assert fragment in result.err.splitlines()[0]
    assert api.requests == []


def test_interval_without_follow_is_refused() -> None:
    result = run_in_memory(["list", "--interval", "2", "--token", TOKEN])
    assert result.code == 2
    assert "--interval goes with --follow" in result.err


def test_the_follower_forgets_old_ids_but_not_new_ones() -> None:
    api = emulator(records=0)
    with Client(token=TOKEN, api_url="http://127.0.0.1:9", transport=api.transport()) as client:
        follower = Follower(client, Query())
        assert follower.poll() == []
        api.add(arrivals(3, seed=1, now_ms=NOW_MS))
        assert len(follower.poll()) == 3
        assert follower.poll() == []


def test_follow_in_a_pipe_against_a_growing_sandbox_then_sigint() -> None:
    with Sandbox(records=20, token=TOKEN, grow=2, grow_every=0.3) as server:
        env = subprocess_env(CHATBOTKIT_API_URL=server.url, CHATBOTKIT_API_TOKEN=TOKEN)
        process = subprocess.Popen(
            [*usage_command(), "list", "-f", "--interval", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())  # within one interval of growing
        # Twice, as an impatient user or `timeout` (the child, then its group) does.
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert first["id"] not in {r["id"] for r in generate_records(20, seed=1)}
    assert "Traceback" not in err


def test_a_looping_server_cannot_keep_a_poll_going() -> None:
    api = emulator(records=0, faults=Faults(loop_after=1))
    with Client(token=TOKEN, api_url="http://127.0.0.1:9", transport=api.transport()) as client:
        follower = Follower(client, Query(take=10))
        follower.poll()
        api.add(arrivals(25, seed=2, now_ms=NOW_MS))
        shown = follower.poll()  # ends: the repeated page brings nothing new
        assert 0 < len(shown) < 25
        assert len({record.id for record in shown}) == len(shown)


def test_a_followed_terminal_shows_times_in_the_chosen_zone() -> None:
    api = emulator()
    growing = Growing(api, [1])
    result = follow(api, growing, "--tz", "Asia/Kolkata", tty=True)
    assert result.code == 0, result.err
    header, row = result.out.splitlines()[:2]
    assert header.startswith("createdAt ")
    assert "Asia/Kolkata" in result.err  # the zone too long for the header: the status says it
    created = datetime.fromtimestamp(growing.added[0]["createdAt"] / 1000, UTC)
    from zoneinfo import ZoneInfo

    assert row.startswith(f"{created.astimezone(ZoneInfo('Asia/Kolkata')):%Y-%m-%d %H:%M:%S}")


def test_a_backlog_longer_than_a_page_is_read_whole() -> None:
    api = emulator(records=250)
    result = follow(api, Growing(api, [0]), "-o", "jsonl", "--limit", "150", "--take", "100")
    newest = sorted(api.records, key=lambda r: (r["createdAt"], r["id"]))[-150:]
    assert [json.loads(line)["id"] for line in result.out.splitlines()] == [r["id"] for r in newest]


def test_a_fault_in_the_middle_of_a_poll_loses_nothing() -> None:
    api = emulator(records=0)
    failing = {"on": False}

    def flaky(request: httpx.Request) -> httpx.Response:
        if failing["on"] and request.url.params.get("cursor"):
            return httpx.Response(503, json={"message": "down", "code": "GENERIC_ERROR"})
        return api.transport().handle_request(request)

    transport = httpx.MockTransport(flaky)
    with Client(
        token=TOKEN, api_url="http://127.0.0.1:9", transport=transport, retry=RetryPolicy(0)
    ) as client:
        follower = Follower(client, Query(take=5))
        follower.poll()
        burst = arrivals(12, seed=4, now_ms=NOW_MS)
        api.add(burst)
        failing["on"] = True
        with pytest.raises(ServerError):
            follower.poll()  # the second page fails
        failing["on"] = False
        assert len(follower.poll()) == 12


def test_a_fault_while_fetching_the_backlog_is_waited_out() -> None:
    api = emulator()
    calls: list[int] = []

    def first_fails(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(503, json={"message": "down", "code": "GENERIC_ERROR"})
        return api.transport().handle_request(request)

    growing = Growing(api, [0, 0], polls=2)
    base = ["--api-url", "http://127.0.0.1:9", "--token", TOKEN, "--retries", "0"]
    result = run_in_memory(
        [*base, "list", "--follow", "-o", "jsonl", "--limit", "2"],
        transport=httpx.MockTransport(first_fails),
        sleep=growing,
    )
    assert result.code == 0, result.err
    assert "polling again" in result.err
    newest = sorted(api.records, key=lambda r: (r["createdAt"], r["id"]))[-2:]
    assert [json.loads(line)["id"] for line in result.out.splitlines()] == [r["id"] for r in newest]
