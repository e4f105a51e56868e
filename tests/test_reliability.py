"""A flaky API, a looping server, short pages, garbage bodies: finish or fail clearly."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from usage_cli.cli import run
from usage_cli.client import RetryPolicy
from usage_cli.runtime import Recorder
from usage_cli.sandbox import Sandbox
from usage_cli.sandbox.server import Faults, parse_fault

from .conftest import ANCHOR, run_in_memory

SECRET = "tok_LEAKCHECK_7f3a9c_never_print_me"


@pytest.fixture
def faulty(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    faults: Faults = request.param
    with Sandbox(records=300, seed=5, token=SECRET, anchor=ANCHOR, faults=faults) as server:
        yield server


def invoke(server: Sandbox, *args: str, sleep: Recorder | None = None) -> tuple[int, str, str]:
    """`usage ARGS` in-process against `server`; backoff waits are recorded, not slept."""
    result = run_in_memory(
        ["--api-url", server.url, "--token", SECRET, *args], sleep=sleep or Recorder()
    )
    return result.code, result.out, result.err


def test_a_bad_day_export_has_every_record_exactly_once(tmp_path: Path) -> None:
    """503 every 3rd, 429 every 7th, a dropped connection every 11th, HTML 502 every 13th."""
    every = {"503": 3, "429": 7, "drop": 11, "html": 13}
    faults = Faults(every=every, retry_after=0)
    with Sandbox(records=2000, seed=9, token=SECRET, anchor=ANCHOR, faults=faults) as server:
        target = tmp_path / "audit.jsonl"
        waits = Recorder()
        code, out, err = invoke(server, "export", str(target), "-v", sleep=waits)
        assert code == 0, err
        ids = [json.loads(line)["id"] for line in target.read_text().splitlines()]
        assert ids == [record["id"] for record in server.records]
        assert len(set(ids)) == 2000
        statuses = {seen.status for seen in server.requests}
        assert {0, 429, 502, 503} <= statuses  # every kind of fault really happened
        assert "retry 1/5 after RemoteProtocolError" in err
        assert SECRET not in out + err
    # Every fault was retried after a wait, and none was slept for real.
    assert len(waits.waits) == err.count("retry ") > 0


@pytest.mark.parametrize("faulty", [Faults(max_take=7)], indirect=True)
def test_short_pages_lose_nothing(faulty: Sandbox) -> None:
    code, out, _ = invoke(faulty, "list", "--all")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == faulty.records
    assert len(faulty.requests) == -(-300 // 7) + 1


@pytest.mark.parametrize("faulty", [Faults(loop_after=3)], indirect=True)
def test_a_cursor_loop_ends_with_exit_5_in_bounded_time(faulty: Sandbox) -> None:
    started = time.monotonic()
    code, out, err = invoke(faulty, "list", "--all", "--take", "10")
    assert code == 5
    assert time.monotonic() - started < 10
    assert len(faulty.requests) == 4
    assert "a second time" in err
    assert len(out.splitlines()) == 40


@pytest.mark.parametrize("faulty", [Faults(every={"malformed": 2})], indirect=True)
def test_malformed_bodies_are_retried(faulty: Sandbox) -> None:
    code, out, err = invoke(faulty, "list", "--all", "-v")
    assert code == 0
    assert len(out.splitlines()) == 300
    assert "after a malformed response" in err


FAILING = [
    (Faults(every={"malformed": 1}), "with a body that is not JSON", 5),
    (Faults(every={"html": 1}), "HTTP 502: '<html> <head><title>502 Bad Gateway</title>", 5),
    (Faults(every={"503": 1}), "Service unavailable (HTTP 503, GENERIC_ERROR)", 5),
    (Faults(every={"drop": 1}), "cannot reach", 5),
    # With Retry-After: counted by --retries. Without it (the platform's 60 s
    # window) the waits go on for a minute: see test_rate_limit_window_*.
    (Faults(every={"429": 1}, retry_after=1), "Too many requests (HTTP 429, LIMITS_REACHED)", 5),
    (
        Faults(every={"error200": 1}),
        "the API reported an error: An unexpected error occurred (GENERIC_ERROR)",
        5,
    ),
]


@pytest.mark.parametrize(
    ("faulty", "message", "code"),
    FAILING,
    indirect=["faulty"],
    ids=["malformed", "html", "503", "drop", "429", "error200"],
)
def test_persistent_failures_exit_5_with_one_clear_line(
    faulty: Sandbox, message: str, code: int
) -> None:
    waits = Recorder()
    status, out, err = invoke(faulty, "list", "--retries", "2", sleep=waits)
    assert status == code
    assert out == ""
    first = err.splitlines()[0]
    assert first.startswith("error: ")
    assert message in first
    assert "gave up after 3 attempts" in first
    assert "Traceback" not in err
    assert len(waits.waits) == 2
    assert len(faulty.requests) == 3


def test_429_without_retry_after_backs_off_on_the_rate_limit_scale() -> None:
    policy = RetryPolicy()
    assert max(policy.delay(4, rate_limited=True) for _ in range(200)) > policy.cap / 2
    assert all(policy.delay(4, rate_limited=True) <= policy.rate_limit_cap for _ in range(200))
    assert all(policy.delay(0) <= policy.base for _ in range(200))


def test_debug_shows_requests_with_the_token_redacted(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox
) -> None:
    code = run(
        ["--api-url", sandbox.url, "--token", sandbox.token, "list", "--limit", "1", "--debug"]
    )
    err = capsys.readouterr().err
    assert code == 0
    assert "debug: GET http://127.0.0.1" in err
    assert "'authorization': 'Bearer ***'" in err
    assert sandbox.token not in err


def _leak_paths(server: Sandbox, tmp_path: Path) -> list[list[str]]:
    return [
        ["--api-url", server.url, "--token", SECRET + "x", "list"],  # 401
        ["--api-url", server.url, "--token", SECRET, "list", "--cursor", "nope"],  # 400
        ["--api-url", "http://127.0.0.1:9", "--token", SECRET, "--retries", "1", "list"],
        ["--api-url", server.url, "--token", SECRET, "export", str(tmp_path / "a.csv")],
        ["--api-url", server.url, "--token", SECRET, "export", str(tmp_path / "a.csv")],  # exists
        ["--api-url", server.url, "--token", SECRET, "verify", str(tmp_path / "a.csv")],
        ["--api-url", server.url, "--token", SECRET, "list", "--meta", "=bad"],
        ["--api-url", "nonsense", "--token", SECRET, "list"],
    ]


@pytest.mark.parametrize("faulty", [Faults(every={"html": 5, "malformed": 7})], indirect=True)
def test_the_token_appears_nowhere(faulty: Sandbox, tmp_path: Path) -> None:
    for args in _leak_paths(faulty, tmp_path):
        result = run_in_memory([*args, "--debug", "-v"])
        assert SECRET not in result.out + result.err, args
    for path in tmp_path.iterdir():
        assert SECRET not in path.read_text(errors="replace"), path


def test_the_token_stays_out_of_an_interrupted_export(tmp_path: Path) -> None:
    calls: list[httpx.Request] = []

    class Interrupting(httpx.HTTPTransport):
        """Real HTTP, until the third request: then Ctrl-C."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            calls.append(request)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return super().handle_request(request)

    with Sandbox(records=500, token=SECRET, anchor=ANCHOR) as server:
        args = ["--api-url", server.url, "--token", SECRET, "export", str(tmp_path / "a.json")]
        result = run_in_memory([*args, "--debug"], transport=Interrupting())
    assert result.code == 130
    assert SECRET not in result.out + result.err
    checkpoint = tmp_path / ".a.json.checkpoint.json"
    assert checkpoint.exists()
    assert SECRET not in checkpoint.read_text()


@pytest.mark.parametrize("text", ["drop=0", "nope=3", "503", "503=x", "429=-1"])
def test_bad_fault_specs_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="KIND=N"):
        parse_fault(text)


def test_sandbox_refuses_a_bad_fault_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["sandbox", "--fail-every", "teapot=3"]) == 2
    assert "KIND=N" in capsys.readouterr().err


def test_a_read_timeout_is_retried_then_explained(capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(records=5, token=SECRET, anchor=ANCHOR, faults=Faults(latency=0.6)) as slow:
        code, out, err = invoke(slow, "list", "--timeout", "0.1", "--retries", "1", "-v")
    assert code == 5, err
    assert out == ""
    assert "retry 1/1 after ReadTimeout" in err
    failure = next(line for line in err.splitlines() if line.startswith("error: "))
    assert failure.startswith("error: cannot reach 127.0.0.1")
    assert failure.endswith("timed out (gave up after 2 attempts)")


# Item 5: the platform's 60-second rate-limit window, without Retry-After ----


class Clock:
    """Monotonic seconds that pass only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def _window_run(*args: str, limit: int = 3) -> tuple[Sandbox, Clock, int, str, str]:
    clock = Clock()
    faults = Faults(rate_limit=limit, clock=clock)
    with Sandbox(records=300, seed=5, token=SECRET, anchor=ANCHOR, faults=faults) as server:
        result = run_in_memory(
            ["--api-url", server.url, "--token", SECRET, *args], sleep=clock.sleep
        )
    return server, clock, result.code, result.out, result.err


def test_a_busy_accounts_listing_outlasts_the_rate_limit_window() -> None:
    # 7 requests, 3 a minute: the default --retries 5 must not end the run.
    server, clock, code, out, err = _window_run("list", "--all", "--take", "50", "-v")
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == server.records
    assert all(wait >= 15 for wait in clock.waits)
    assert [seen.status for seen in server.requests].count(200) == 7
    assert "for the API's 60-second window" in err
    assert "error" not in err


def test_a_window_that_never_reopens_gives_up_after_more_than_a_minute() -> None:
    clock = Clock()
    faults = Faults(every={"429": 1}, retry_after=None)
    with Sandbox(records=5, token=SECRET, anchor=ANCHOR, faults=faults) as server:
        result = run_in_memory(
            ["--api-url", server.url, "--token", SECRET, "list", "--retries", "2"],
            sleep=clock.sleep,
        )
    assert result.code == 5
    # Notices of each wait may come first; the failure is one line and a hint.
    lines = [line for line in result.err.splitlines() if "60-second window" not in line]
    assert len(lines) == 2, result.err
    assert lines[0].startswith("error: the API is rate-limiting these requests")
    assert lines[0].endswith("s waiting for the rate-limit window)")
    assert lines[1].startswith("hint: the account is over the API's per-minute request limit")
    assert sum(clock.waits) >= 65
    assert len(server.requests) == len(clock.waits) + 1 > 3


def test_the_window_wait_is_announced_without_verbose() -> None:
    _, clock, code, _, err = _window_run("list", "--all", "--take", "50")
    assert code == 0
    notices = [line for line in err.splitlines() if "60-second window" in line]
    assert len(notices) == len(clock.waits) > 0


def test_quiet_keeps_the_window_wait_silent() -> None:
    _, clock, code, _, err = _window_run("list", "--all", "--take", "50", "-q")
    assert code == 0
    assert clock.waits
    assert err == ""


# Item 6: --timeout bounds the whole response ----------------------------------


@pytest.mark.parametrize("faulty", [Faults(every={"drip": 3}, drip=0.05)], indirect=True)
def test_dripped_pages_are_cut_at_the_timeout_and_asked_again(faulty: Sandbox) -> None:
    started = time.monotonic()
    code, out, err = invoke(faulty, "list", "--all", "--take", "100", "--timeout", "0.5", "-v")
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == faulty.records
    assert "after a response slower than --timeout" in err
    # 3 pages and the empty end, the 3rd request dripping: one cut attempt,
    # which took its 0.5 s, not the 20 s the body would have dripped for.
    assert err.count("slower than --timeout") == 1
    assert time.monotonic() - started < 0.5 + 3


# Item 11: a root ending in /api; answers that can never become valid ----------


def test_an_api_root_ending_in_api_is_accepted(sandbox: Sandbox) -> None:
    result = run_in_memory(
        ["--api-url", sandbox.url + "/api", "--token", sandbox.token, "list", "--limit", "2"]
    )
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 2


def test_a_200_of_the_wrong_shape_exits_5_at_once_with_one_line() -> None:
    seen: list[httpx.Request] = []

    def wrong_shape(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [{"id": "rec_1", "count": "5"}]})

    waits = Recorder()
    result = run_in_memory(
        ["--token", SECRET, "list"], transport=httpx.MockTransport(wrong_shape), sleep=waits
    )
    assert result.code == 5
    assert result.out == ""
    first, *rest = result.err.splitlines()
    assert first.startswith("error: malformed response from the API: items.0.type: ")
    assert "gave up" not in first
    assert all(line.startswith("hint: ") for line in rest)
    assert (len(seen), waits.waits) == (1, [])


@pytest.mark.parametrize("faulty", [Faults(every={"error200": 2})], indirect=True)
def test_an_error_carried_by_a_200_is_retried(faulty: Sandbox) -> None:
    code, out, err = invoke(faulty, "list", "--all", "-v")
    assert code == 0, err
    assert len(out.splitlines()) == 300
    assert "after an error reported in a 200 response" in err
