from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from typing import Any

import httpx
import pytest

from usage_cli.cli import run
from usage_cli.sandbox import Sandbox, generate_records
from usage_cli.sandbox.server import Faults

from .conftest import ANCHOR, RECORDS, TOKEN, run_in_memory, stopped, subprocess_env, usage_command


def get(
    server: Sandbox, path: str = "/api/v1/usage/list", token: str = TOKEN, **params: Any
) -> httpx.Response:
    return httpx.get(server.url + path, params=params, headers={"Authorization": f"Bearer {token}"})


def walk(server: Sandbox, path: str = "/api/v1/usage/list", **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = get(server, path, **params, **({"cursor": cursor} if cursor else {})).json()
        if not body["items"]:
            assert "cursor" not in body
            return items
        items += body["items"]
        cursor = body["cursor"]


def test_records_are_deterministic_for_a_seed_and_anchor() -> None:
    assert generate_records(50, seed=4, anchor=ANCHOR) == generate_records(
        50, seed=4, anchor=ANCHOR
    )
    assert generate_records(50, seed=4, anchor=ANCHOR) != generate_records(
        50, seed=5, anchor=ANCHOR
    )


def test_records_look_real_and_awkward() -> None:
    records = generate_records(2000, seed=1, anchor=ANCHOR)
    assert len({r["id"] for r in records}) == 2000
    assert len({r["type"] for r in records}) >= 6
    notes = {json.dumps(r["meta"].get("note")) for r in records if r["meta"]}
    assert any("\\n" in n for n in notes)
    assert any('\\"' in n for n in notes)
    assert any(n.startswith('"=') for n in notes)
    assert any(r["meta"] is None for r in records)
    assert any("origin" in r for r in records)


@pytest.mark.parametrize("path", ["/api/v1/usage/list", "/v1/usage/list"])
def test_both_paths_serve_every_record_newest_first(server: Sandbox, path: str) -> None:
    items = walk(server, path, take=33)
    assert [i["id"] for i in items] == [r["id"] for r in server.records]
    assert len(items) == RECORDS
    created = [i["createdAt"] for i in items]
    assert created == sorted(created, reverse=True)


def test_ascending_order_reverses(server: Sandbox) -> None:
    items = walk(server, order="asc", take=100)
    assert [i["id"] for i in items] == [r["id"] for r in reversed(server.records)]


def test_cursor_is_set_on_the_final_short_page_and_the_end_is_empty(server: Sandbox) -> None:
    body = get(server, take=100, cursor=server.records[-5]["id"]).json()
    assert len(body["items"]) == 4
    assert body["cursor"] == server.records[-1]["id"]
    assert get(server, take=100, cursor=body["cursor"]).json() == {"items": []}


def test_filters_combine_and_accept_lists(server: Sandbox) -> None:
    items = walk(server, botId="bot_1,bot_2", type="OPENAI_GPT_4O_TOKEN")
    expected = [
        r
        for r in server.records
        if r["botId"] in ("bot_1", "bot_2") and r["type"] == "OPENAI_GPT_4O_TOKEN"
    ]
    assert items == expected
    assert expected


def test_meta_filters_deep_object_and_booleans(server: Sandbox) -> None:
    retry = walk(server, **{"meta[reason]": "retry"})
    assert retry == [r for r in server.records if (r["meta"] or {}).get("reason") == "retry"]
    cached = walk(server, **{"meta.cached": "true"})
    assert cached
    assert all(r["meta"]["cached"] is True for r in cached)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"take": 0}, 400, "BAD_REQUEST"),
        ({"take": 101}, 400, "BAD_REQUEST"),
        ({"take": "x"}, 400, "BAD_REQUEST"),
        ({"order": "up"}, 400, "BAD_REQUEST"),
        ({"cursor": "nope"}, 400, "BAD_REQUEST"),
    ],
)
def test_bad_parameters_get_json_errors(
    server: Sandbox, params: dict[str, Any], status: int, code: str
) -> None:
    response = get(server, **params)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["message"]


def test_auth_and_unknown_paths(server: Sandbox) -> None:
    assert get(server, token="wrong").status_code == 401
    assert get(server, token="wrong").json()["code"] == "NOT_AUTHENTICATED"
    assert get(server, "/api/v1/nothing").status_code == 404


def test_answers_are_framed_for_keep_alive(server: Sandbox) -> None:
    # The shell writes status, headers and body itself: a strict parser must
    # read two answers, one after the other, off a single connection.
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        for take in (3, 5):
            connection.request(
                "GET", f"/v1/usage/list?take={take}", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200
            assert response.getheader("Content-Type") == "application/json; charset=utf-8"
            assert response.getheader("Content-Length") == str(len(body))
            assert len(json.loads(body)["items"]) == take
    finally:
        connection.close()
    assert [seen.status for seen in server.requests] == [200, 200]


def test_the_emulator_behind_the_server_is_a_mock_transport_on_the_same_data(
    server: Sandbox,
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(transport=server.emulator.transport(), headers=headers) as client:
        mocked = client.get("http://sandbox.invalid/v1/usage/list", params={"take": 20})
    assert mocked.json() == get(server, take=20).json()
    assert [seen.path for seen in server.requests] == ["/v1/usage/list", "/api/v1/usage/list"]


def test_latency_delays_a_real_answer() -> None:
    with Sandbox(records=5, token=TOKEN, anchor=ANCHOR, faults=Faults(latency=0.3)) as slow:
        started = time.monotonic()
        response = get(slow)
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 0.3


def test_a_hold_keeps_requests_after_the_first_unanswered_until_released() -> None:
    answers: list[int] = []
    with Sandbox(records=5, token=TOKEN, anchor=ANCHOR) as server:
        with server.hold(after=1) as held:
            assert get(server).status_code == 200  # the first goes through
            asker = threading.Thread(target=lambda: answers.append(get(server).status_code))
            asker.start()
            held.wait()
            asker.join(0.3)
            assert asker.is_alive()  # held: no answer yet
            assert answers == []
            held.release()
            asker.join(10)
        assert answers == [200]
        assert get(server).status_code == 200  # the block ended: nothing is held


def test_a_request_still_held_when_the_hold_ends_is_hung_up_on_and_not_recorded() -> None:
    failures: list[BaseException] = []

    def ask(server: Sandbox) -> None:
        try:
            get(server)
        except httpx.TransportError as error:
            failures.append(error)

    with Sandbox(records=5, token=TOKEN, anchor=ANCHOR) as server:
        with server.hold() as held:
            asker = threading.Thread(target=ask, args=(server,))
            asker.start()
            held.wait()
        asker.join(10)
        assert not asker.is_alive()
        assert len(failures) == 1  # its process would be gone: no answer comes
        assert server.requests == []


def test_a_drop_closes_the_connection_without_an_answer() -> None:
    faults = Faults(every={"drop": 2})
    with (
        Sandbox(records=5, token=TOKEN, anchor=ANCHOR, faults=faults) as flaky,
        httpx.Client(base_url=flaky.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client,
    ):
        assert client.get("/v1/usage/list").status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v1/usage/list")
        assert client.get("/v1/usage/list").status_code == 200
        assert [seen.status for seen in flaky.requests] == [200, 0, 200]


def _timed_stop(sandbox: Sandbox) -> float:
    started = time.monotonic()
    sandbox.stop()
    return time.monotonic() - started


def test_stop_is_prompt_with_a_keep_alive_connection_open() -> None:
    sandbox = Sandbox(records=5, token=TOKEN, anchor=ANCHOR).start()
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        assert client.get("/v1/usage/list").status_code == 200
        # A behavioural bound, not a benchmark: the stdlib serve loop's default
        # 0.5 s poll made every teardown cost half a second.
        assert _timed_stop(sandbox) < 0.2
        with pytest.raises(httpx.TransportError):
            client.get("/v1/usage/list")


def test_stop_is_prompt_while_a_handler_waits_out_its_latency() -> None:
    before = set(threading.enumerate())
    sandbox = Sandbox(records=5, token=TOKEN, anchor=ANCHOR, faults=Faults(latency=30)).start()
    failures: list[BaseException] = []

    def ask() -> None:
        try:
            get(sandbox)
        except httpx.TransportError as error:
            failures.append(error)

    asker = threading.Thread(target=ask)
    asker.start()
    deadline = time.monotonic() + 5
    while not sandbox.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sandbox.requests, "the request never reached the sandbox"
    # Same bound: a handler 30 s from answering must not hold the stop.
    assert _timed_stop(sandbox) < 0.2
    asker.join(timeout=5)
    assert not asker.is_alive()
    assert len(failures) == 1  # the stopped server hung up instead of answering
    # Nor does the handler linger in its wait after the stop.
    deadline = time.monotonic() + 2
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(threading.enumerate()) - before


# The platform's faults over HTTP, and from `usage sandbox` ------------------


def test_drip_commits_the_head_then_trickles_the_body() -> None:
    faults = Faults(drip=0.002)
    with Sandbox(records=5, token=TOKEN, anchor=ANCHOR, faults=faults) as dripping:
        host, port = dripping.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        started = time.monotonic()
        connection.request(
            "GET", "/api/v1/usage/list?take=1", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        response = connection.getresponse()
        head = time.monotonic() - started
        body = response.read()
        whole = time.monotonic() - started
        connection.close()
    assert response.status == 200
    assert json.loads(body)["items"] == dripping.records[:1]  # slow, but the same page
    assert head < 0.2
    assert whole >= (len(body) - 1) * 0.002


def test_stop_is_prompt_while_a_body_drips() -> None:
    sandbox = Sandbox(records=5, token=TOKEN, anchor=ANCHOR, faults=Faults(drip=10)).start()
    with (
        httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client,
        client.stream("GET", sandbox.url + "/api/v1/usage/list") as response,
    ):
        assert response.status_code == 200
        assert _timed_stop(sandbox) < 0.2
        with pytest.raises(httpx.TransportError):
            response.read()


def test_error200_and_the_rate_limit_window_over_http() -> None:
    clock = [0.0]
    faults = Faults(every={"error200": 2}, rate_limit=2, clock=lambda: clock[0])
    with Sandbox(records=5, token=TOKEN, anchor=ANCHOR, faults=faults) as server:
        first, second, third = get(server), get(server), get(server)
        clock[0] += 60
        fourth = get(server)
    assert first.status_code == 200
    assert "items" in first.json()
    assert second.status_code == 200
    assert second.json() == {"message": "An unexpected error occurred", "code": "GENERIC_ERROR"}
    assert third.status_code == 429
    assert "retry-after" not in third.headers
    assert third.json()["code"] == "LIMITS_REACHED"
    assert fourth.status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limit", "0"], "--rate-limit must be at least 1"),
        (["--drip", "-1"], "--drip must be between 0 and 60"),
        (["--drip", "nan"], "--drip must be between 0 and 60"),
        (["--fail-every", "error=2"], "KIND=N"),
    ],
)
def test_sandbox_refuses_impossible_new_fault_options(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["sandbox", "--port", "0", *args]) == 2
    assert message in capsys.readouterr().err


def test_sandbox_help_names_the_new_faults() -> None:
    result = run_in_memory(["sandbox", "--help"])
    assert result.code == 0
    flat = " ".join(result.out.split())
    for words in ("--rate-limit N", "without Retry-After", "--drip SECONDS", "error200", "drip"):
        assert words in flat, words


def _serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    """`usage sandbox ARGS` in its own process, and the API root it printed."""
    process = subprocess.Popen(
        [*usage_command(), "sandbox", "--port", "0", "--token", TOKEN, "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("export CHATBOTKIT_API_URL="):
            return process, line.split("=", 1)[1].strip()
    process.kill()
    raise AssertionError("the sandbox did not print its URL: " + process.communicate()[1])


def _stop(process: subprocess.Popen[str]) -> None:
    stopped(process)
    assert process.returncode == 0


def test_the_sandbox_command_serves_the_rate_limit_and_error200() -> None:
    process, url = _serve("--records", "20", "--rate-limit", "2", "--fail-every", "error200=2")
    try:
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            answers = [client.get(url + "/api/v1/usage/list") for _ in range(3)]
    finally:
        _stop(process)
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[1].json()["code"] == "GENERIC_ERROR"
    assert "retry-after" not in answers[2].headers


def test_list_against_a_dripping_sandbox_ends_at_its_timeout() -> None:
    # The case: before, `--timeout 2` let this run for 16 s.
    process, url = _serve("--records", "20", "--drip", "0.05")
    try:
        started = time.monotonic()
        args = ["list", "--limit", "1", "--timeout", "0.5", "--retries", "0"]
        result = run_in_memory(["--api-url", url, "--token", TOKEN, *args])
        elapsed = time.monotonic() - started
    finally:
        _stop(process)
    assert result.code == 5
    assert result.err.splitlines()[0] == (
        f"error: no complete answer from {url.removeprefix('http://')} within --timeout 0.5s"
    )
    assert elapsed < 0.5 + 1.5
