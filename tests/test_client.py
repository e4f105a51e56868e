from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from usage_cli.client import (
    WINDOW_HINT,
    Client,
    RetryPolicy,
    list_url,
    retry_after_seconds,
)
from usage_cli.client._urls import tls_for
from usage_cli.errors import ApiError, AuthError, InputError, SchemaError, ServerError
from usage_cli.query import Order, Query
from usage_cli.reading import iter_records
from usage_cli.sandbox import Sandbox
from usage_cli.sandbox.server import Faults

from .conftest import ANCHOR, TOKEN

NO_WAIT = RetryPolicy(retries=5, base=0.0, cap=0.0)


@pytest.mark.parametrize(
    ("root", "url"),
    [
        ("https://api.chatbotkit.com", "https://api.chatbotkit.com/v1/usage/list"),
        ("https://api.chatbotkit.com/", "https://api.chatbotkit.com/v1/usage/list"),
        ("https://api.chatbotkit.com/api", "https://api.chatbotkit.com/v1/usage/list"),
        ("http://localhost:3000", "http://localhost:3000/api/v1/usage/list"),
        ("https://proxy.example/cbk/", "https://proxy.example/cbk/api/v1/usage/list"),
        ("https://api.chatbotkit.com/v1", "https://api.chatbotkit.com/v1/usage/list"),
    ],
)
def test_the_api_prefix_is_dropped_on_the_hosted_platform_only(root: str, url: str) -> None:
    assert list_url(root) == url


@pytest.mark.parametrize("root", ["api.chatbotkit.com", "ftp://x", "http://", ""])
def test_bad_api_urls_are_input_errors(root: str) -> None:
    with pytest.raises(InputError, match="not an http"):
        list_url(root)


def test_no_token_is_an_auth_error_naming_the_variable() -> None:
    with pytest.raises(AuthError) as info:
        Client(token=None)
    assert "CHATBOTKIT_API_TOKEN" in (info.value.hint or "")


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:07 GMT", now=now) == 7.0
    assert (
        retry_after_seconds(
            (now - timedelta(seconds=5)).strftime("%a, %d %b %Y %H:%M:%S GMT"), now=now
        )
        == 0.0
    )
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_full_jitter_stays_within_the_exponential_bound() -> None:
    policy = RetryPolicy(base=0.5, cap=4.0)
    for attempt in range(8):
        assert 0 <= policy.delay(attempt) <= min(4.0, 0.5 * 2**attempt)
    assert policy.delay(3, retry_after=2.5) == 2.5
    assert policy.delay(0, retry_after=10_000) == policy.max_wait


def test_headers_reach_the_server(server: Sandbox) -> None:
    with Client(token=TOKEN, api_url=server.url, run_as="user_9") as client:
        client.fetch_page(Query(), cursor=None, take=5)
    (seen,) = server.requests
    assert seen.authorized
    assert seen.run_as == "user_9"
    assert seen.path == "/api/v1/usage/list"


def test_429_and_5xx_are_retried_until_the_page_arrives() -> None:
    waits: list[float] = []
    faults = Faults(rate_429=0.3, rate_5xx=0.3, retry_after=0, seed=3)
    with (
        Sandbox(records=300, seed=2, token=TOKEN, anchor=ANCHOR, faults=faults) as flaky,
        Client(
            token=TOKEN,
            api_url=flaky.url,
            retry=RetryPolicy(retries=20, base=0, cap=0),
            sleep=waits.append,
        ) as client,
    ):
        ids = [record.id for record in iter_records(client, Query(take=50))]
    assert ids == [record["id"] for record in flaky.records]
    statuses = [seen.status for seen in flaky.requests]
    assert 429 in statuses
    assert 503 in statuses
    assert len(waits) == statuses.count(429) + statuses.count(503)


def test_retries_give_up_with_a_server_error() -> None:
    faults = Faults(rate_5xx=1.0)
    with (
        Sandbox(records=5, token=TOKEN, faults=faults) as broken,
        Client(
            token=TOKEN,
            api_url=broken.url,
            retry=RetryPolicy(retries=2, base=0),
            sleep=lambda _: None,
        ) as client,
        pytest.raises(ServerError, match="gave up after 3 attempts"),
    ):
        client.fetch_page(Query(), cursor=None, take=5)
    assert len(broken.requests) == 3


def test_other_4xx_are_not_retried(server: Sandbox) -> None:
    with (
        Client(token=TOKEN, api_url=server.url, retry=NO_WAIT) as client,
        pytest.raises(ApiError, match="invalid cursor") as info,
    ):
        client.fetch_page(Query(), cursor="rec_nope", take=5)
    assert info.value.status == 400
    assert len(server.requests) == 1


def test_a_wrong_token_is_refused_without_retries_or_leaks(server: Sandbox) -> None:
    secret = "tok_wrong_but_secret_123"
    with (
        Client(token=secret, api_url=server.url, retry=NO_WAIT) as client,
        pytest.raises(AuthError) as info,
    ):
        client.fetch_page(Query(), cursor=None, take=5)
    assert secret not in str(info.value)
    assert len(server.requests) == 1


def test_connection_refused_is_retried_then_a_server_error() -> None:
    calls: list[float] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        Client(
            token=TOKEN,
            api_url="http://127.0.0.1:9",
            retry=RetryPolicy(retries=3),
            transport=httpx.MockTransport(refuse),
            sleep=calls.append,
        ) as client,
        pytest.raises(ServerError, match=r"cannot reach 127\.0\.0\.1:9"),
    ):
        client.fetch_page(Query(), cursor=None, take=5)
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("token", "run_as"), [("tok\u00e9", None), ("tok\nX", None), ("ok", "us\udcffer")]
)
def test_values_a_header_cannot_carry_are_input_errors(token: str, run_as: str | None) -> None:
    with pytest.raises(InputError, match="HTTP header") as info:
        Client(token=token, api_url="http://127.0.0.1:9", run_as=run_as)
    assert token not in str(info.value)


# An API root that already names part of the endpoint ------------------------


@pytest.mark.parametrize(
    ("root", "url"),
    [
        ("http://127.0.0.1:8080/api", "http://127.0.0.1:8080/api/v1/usage/list"),
        ("http://127.0.0.1:8080/api/", "http://127.0.0.1:8080/api/v1/usage/list"),
        ("http://127.0.0.1:8080/api/v1", "http://127.0.0.1:8080/api/v1/usage/list"),
        ("http://localhost:3000/api/v1/usage/list", "http://localhost:3000/api/v1/usage/list"),
        ("https://proxy.example/cbk/api", "https://proxy.example/cbk/api/v1/usage/list"),
        # Only the path is looked at: a host called `api` keeps its prefix.
        ("http://api", "http://api/api/v1/usage/list"),
        ("http://api:3000/", "http://api:3000/api/v1/usage/list"),
        ("http://h/myapi", "http://h/myapi/api/v1/usage/list"),
        # The hosted rule still holds: no /api there, whatever the root says.
        ("https://api.chatbotkit.com/api/v1", "https://api.chatbotkit.com/v1/usage/list"),
        ("https://api.chatbotkit.com/v1/usage/list", "https://api.chatbotkit.com/v1/usage/list"),
    ],
)
def test_a_root_ending_in_part_of_the_endpoint_is_not_doubled(root: str, url: str) -> None:
    assert list_url(root) == url


def test_a_root_ending_in_api_reaches_the_sandbox(server: Sandbox) -> None:
    with Client(token=TOKEN, api_url=server.url + "/api", retry=NO_WAIT) as client:
        page = client.fetch_page(Query(), cursor=None, take=3)
    assert len(page.items) == 3
    assert [seen.path for seen in server.requests] == ["/api/v1/usage/list"]


# What is retried, and what never is --------------------------------------

PAGE = b'{"items":[{"id":"rec_1","type":"T","count":1,"createdAt":1}],"cursor":"rec_1"}'


def scripted(*answers: tuple[int, bytes]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport answering `answers` in turn (status, body), then the last one forever."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = answers[min(len(seen), len(answers)) - 1]
        return httpx.Response(status, content=body)

    return httpx.MockTransport(handle), seen


def scripted_client(
    transport: httpx.BaseTransport, *, retries: int = 5, **kwargs: object
) -> Client:
    return Client(
        token=TOKEN,
        api_url="http://sandbox.invalid",
        retry=RetryPolicy(retries=retries, base=0, cap=0),
        transport=transport,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"items": "nope"}',
        b'{"items": [{"id": "x"}]}',
        b'{"items": [], "cursor": 5}',
        b"[]",
        b'"items"',
        b'{"code": "GENERIC_ERROR"}',
    ],
    ids=["items-not-a-list", "record-missing-fields", "cursor-a-number", "array", "string", "code"],
)
def test_a_200_of_the_wrong_shape_fails_at_once(body: bytes) -> None:
    waits: list[float] = []
    transport, seen = scripted((200, body), (200, PAGE))
    with (
        scripted_client(transport, sleep=waits.append) as client,
        pytest.raises(SchemaError, match="malformed response from the API") as info,
    ):
        client.fetch_page(Query(), cursor=None, take=5)
    assert len(seen) == 1
    assert waits == []
    assert "gave up" not in info.value.message
    assert info.value.exit_code == 5


@pytest.mark.parametrize(
    "body",
    [b'{"items":[{"id":"rec_cut"', b"<html>oops</html>", b""],
    ids=["cut", "html", "empty"],
)
def test_a_200_that_is_not_json_is_retried(body: bytes) -> None:
    events: list[str] = []
    transport, seen = scripted((200, body), (200, PAGE))
    with scripted_client(transport, sleep=lambda _: None, on_event=events.append) as client:
        page = client.fetch_page(Query(), cursor=None, take=5)
    assert [record.id for record in page.items] == ["rec_1"]
    assert len(seen) == 2
    assert events == ["retry 1/5 after a malformed response: waiting 0.00s"]


def test_an_error_carried_by_a_200_is_retried_as_a_server_error() -> None:
    # The platform's slow request: a 200 committed, then {"message","code"}.
    error = json.dumps({"message": "An unexpected error occurred", "code": "GENERIC_ERROR"})
    events: list[str] = []
    transport, seen = scripted((200, error.encode()), (200, PAGE))
    with scripted_client(transport, sleep=lambda _: None, on_event=events.append) as client:
        assert client.fetch_page(Query(), cursor=None, take=5).cursor == "rec_1"
    assert len(seen) == 2
    assert events == ["retry 1/5 after an error reported in a 200 response: waiting 0.00s"]


def test_an_error_carried_by_every_200_gives_up_with_its_message() -> None:
    error = b'{"message": "An unexpected error occurred", "code": "GENERIC_ERROR"}'
    transport, seen = scripted((200, error))
    with (
        scripted_client(transport, retries=2, sleep=lambda _: None) as client,
        pytest.raises(ServerError) as info,
    ):
        client.fetch_page(Query(), cursor=None, take=5)
    assert info.value.message == (
        "the API reported an error: An unexpected error occurred (GENERIC_ERROR) "
        "(gave up after 3 attempts)"
    )
    assert len(seen) == 3


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504, 507, 520, 524])
def test_statuses_a_later_attempt_can_cure_are_retried(status: int) -> None:
    transport, seen = scripted((status, b""), (200, PAGE))
    with scripted_client(transport, sleep=lambda _: None) as client:
        client.fetch_page(Query(), cursor=None, take=5)
    assert len(seen) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, ApiError), (404, ApiError), (422, ApiError), (501, ServerError), (505, ServerError)],
)
def test_statuses_no_attempt_can_cure_are_not_retried(status: int, error: type[Exception]) -> None:
    transport, seen = scripted((status, b'{"message": "no", "code": "X"}'), (200, PAGE))
    with scripted_client(transport, sleep=lambda _: None) as client, pytest.raises(error):
        client.fetch_page(Query(), cursor=None, take=5)
    assert len(seen) == 1


# The platform's rate-limit window ----------------------------------------

LIMITED = (429, b'{"message": "Too many requests", "code": "LIMITS_REACHED"}')


def test_window_waits_have_a_floor_and_a_jittered_top() -> None:
    policy = RetryPolicy()
    waits = [policy.delay(attempt % 6, rate_limited=True) for attempt in range(300)]
    assert all(policy.rate_limit_floor <= wait <= policy.rate_limit_cap for wait in waits)
    assert policy.rate_limit_floor >= 10
    assert len({round(wait, 3) for wait in waits}) > 100  # jittered, not in lockstep
    # Retry-After still wins when the server gives one.
    assert policy.delay(0, 2.0, rate_limited=True) == 2.0


@pytest.mark.parametrize("retries", [1, 2, 5, 20])
def test_a_429_without_retry_after_is_waited_out_past_the_window(retries: int) -> None:
    waits: list[float] = []
    transport, seen = scripted(LIMITED)
    policy = RetryPolicy(retries=retries)
    with (
        Client(
            token=TOKEN,
            api_url="http://sandbox.invalid",
            retry=policy,
            transport=transport,
            sleep=waits.append,
        ) as client,
        pytest.raises(ServerError) as info,
    ):
        client.fetch_page(Query(), cursor=None, take=5)
    # Every wait has the floor; together they outlast the 60 s window, and
    # the last one was only needed because the budget was not yet spent.
    assert all(wait >= policy.rate_limit_floor for wait in waits)
    assert sum(waits) >= policy.rate_limit_budget > 60
    assert sum(waits[:-1]) < policy.rate_limit_budget
    assert len(seen) == len(waits) + 1
    assert info.value.message.startswith(
        "the API is rate-limiting these requests: Too many requests (HTTP 429, LIMITS_REACHED) "
        f"(gave up after {len(seen)} attempts and {sum(waits):.0f}s waiting for the rate-limit "
        "window)"
    )
    assert info.value.hint == WINDOW_HINT


def test_retries_0_turns_the_window_wait_off_too() -> None:
    waits: list[float] = []
    transport, seen = scripted(LIMITED)
    with (
        scripted_client(transport, retries=0, sleep=waits.append) as client,
        pytest.raises(ServerError, match="rate-limiting") as info,
    ):
        client.fetch_page(Query(), cursor=None, take=5)
    assert (waits, len(seen)) == ([], 1)
    assert "gave up" not in info.value.message


def test_window_waits_do_not_spend_the_retries_of_other_failures() -> None:
    waits: list[float] = []
    transport, seen = scripted(LIMITED, LIMITED, LIMITED, (503, b""), (503, b""), (200, PAGE))
    with (
        Client(
            token=TOKEN,
            api_url="http://sandbox.invalid",
            retry=RetryPolicy(retries=2, base=0, cap=0),
            transport=transport,
            sleep=waits.append,
        ) as client,
    ):
        assert client.fetch_page(Query(), cursor=None, take=5).cursor == "rec_1"
    assert len(seen) == 6
    assert [wait >= 15 for wait in waits] == [True, True, True, False, False]


def test_a_429_with_retry_after_counts_against_retries() -> None:
    waits: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "2"}, content=LIMITED[1])

    with (
        scripted_client(httpx.MockTransport(handle), retries=2, sleep=waits.append) as client,
        pytest.raises(ServerError, match=r"gave up after 3 attempts\)$"),
    ):
        client.fetch_page(Query(), cursor=None, take=5)
    assert waits == [2.0, 2.0]


def test_window_waits_are_announced_on_on_wait_and_other_retries_on_on_event() -> None:
    notices: list[str] = []
    events: list[str] = []
    transport, _ = scripted(LIMITED, (503, b""), (200, PAGE))
    with scripted_client(
        transport,
        sleep=lambda _: None,
        on_event=events.append,
        on_wait=notices.append,
    ) as client:
        client.fetch_page(Query(), cursor=None, take=5)
    (notice,) = notices
    assert notice.startswith("rate limit reached (HTTP 429 without Retry-After): waiting ")
    assert "for the API's 60-second window" in notice
    assert events == ["retry 1/5 after HTTP 503: waiting 0.00s"]


def test_without_on_wait_the_window_notice_goes_to_on_event() -> None:
    events: list[str] = []
    transport, _ = scripted(LIMITED, (200, PAGE))
    with scripted_client(transport, sleep=lambda _: None, on_event=events.append) as client:
        client.fetch_page(Query(), cursor=None, take=5)
    assert len(events) == 1
    assert "60-second window" in events[0]


# --timeout bounds the whole response ---------------------------------------


class Trickle(httpx.SyncByteStream):
    """A body that arrives in small pieces, `pause` seconds apart."""

    def __init__(self, body: bytes, pause: float) -> None:
        self.body = body
        self.pause = pause

    def __iter__(self) -> Iterator[bytes]:
        for index in range(0, len(self.body), 8):
            time.sleep(self.pause)
            yield self.body[index : index + 8]


def trickling(pause: float) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Trickle(PAGE, pause))

    return handle


def test_a_trickling_body_without_a_socket_is_cut_at_the_deadline() -> None:
    # Whole, the body takes 5 s (ten pieces, 0.5 s apart); cut, it ends at the first
    # piece after the deadline. The bound between leaves a busy machine seconds.
    started = time.monotonic()
    with (
        scripted_client(httpx.MockTransport(trickling(0.5)), retries=0, timeout=0.2) as client,
        pytest.raises(ServerError, match=r"no complete answer from .* within --timeout 0.2s"),
    ):
        client.fetch_page(Query(), cursor=None, take=5)
    assert time.monotonic() - started < 0.2 + 0.5 + 2.5


def test_a_body_inside_the_timeout_is_read_whole() -> None:
    with scripted_client(httpx.MockTransport(trickling(0.001)), timeout=5) as client:
        assert client.fetch_page(Query(), cursor=None, take=5).cursor == "rec_1"


@pytest.mark.parametrize("timeout", [0.5, 1.0])
def test_a_dripping_server_is_cut_off_at_the_timeout(timeout: float) -> None:
    # Every byte arrives well inside a read timeout: only a bound on the
    # whole response can end this one (it would drip for about 40 s).
    faults = Faults(drip=0.1)
    with Sandbox(records=5, token=TOKEN, anchor=ANCHOR, faults=faults) as dripping:
        started = time.monotonic()
        with (
            Client(
                token=TOKEN,
                api_url=dripping.url,
                timeout=timeout,
                retry=RetryPolicy(retries=0),
            ) as client,
            pytest.raises(ServerError, match=f"within --timeout {timeout:g}s"),
        ):
            client.fetch_page(Query(), cursor=None, take=1)
        elapsed = time.monotonic() - started
    # Dripped whole, the answer would take about 40 s: the upper bound only leaves a
    # busy machine time to schedule the cut.
    assert timeout - 0.05 < elapsed < timeout + 10


def test_the_deadline_watch_is_one_thread_however_many_requests(sandbox: Sandbox) -> None:
    import threading

    def the_clients() -> set[threading.Thread]:
        # Not the process's thread count: the shared sandbox serves each connection
        # on a thread of its own, and those of other tests' clients end when they
        # will (or a closed keep-alive connection brings a new one) while this runs.
        return {
            thread
            for thread in threading.enumerate()
            if not thread.name.endswith("(process_request_thread)")
        }

    # Threads of earlier tests may end while this runs: only new ones are counted.
    existing = the_clients()
    with Client(token=TOKEN, api_url=sandbox.url, timeout=5) as client:
        client.fetch_page(Query(), cursor=None, take=1)
        started = the_clients() - existing
        assert [thread.name for thread in started] == ["usage-watchdog"]
        cursor = None
        for _ in range(30):
            cursor = client.fetch_page(Query(), cursor=cursor, take=1).cursor
        assert the_clients() - existing == started
    (watchdog,) = started
    # A bound on failure only: the watch ends as soon as its client closes.
    watchdog.join(timeout=60)
    assert not watchdog.is_alive()  # it ends with its client


def test_a_body_that_cannot_be_decoded_is_retried_then_exit_5() -> None:
    def garbled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"not gzip at all", headers={"Content-Encoding": "gzip"})

    waits: list[float] = []
    with (
        Client(
            token=TOKEN,
            api_url="http://127.0.0.1:9",
            transport=httpx.MockTransport(garbled),
            retry=RetryPolicy(retries=2),
            sleep=waits.append,
        ) as client,
        pytest.raises(ServerError, match="cannot be decoded"),
    ):
        client.fetch_page(Query(), cursor=None, take=1)
    assert len(waits) == 2


def test_a_408_that_outlasts_the_retries_is_a_server_failure() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        return httpx.Response(408, json={"message": "Request Timeout", "code": "TIMEOUT"})

    with (
        Client(
            token=TOKEN,
            api_url="http://127.0.0.1:9",
            transport=httpx.MockTransport(slow),
            retry=RetryPolicy(retries=1),
            sleep=lambda seconds: None,
        ) as client,
        pytest.raises(ServerError, match="timed out the request"),
    ):
        client.fetch_page(Query(), cursor=None, take=1)


@pytest.mark.parametrize(
    "query",
    [
        Query(),
        Query(bot_id="bot 1/ü", meta=(("reason", "a=b&c"), ("k", "+ %")), take=7),
        Query(type="OPENAI_GPT_4O_TOKEN,X", order=Order.asc, cursor="rec_0"),
    ],
)
def test_each_page_asks_for_the_url_httpx_makes_of_the_query(query: Query) -> None:
    """The query part is encoded once per query; the bytes on the wire must not change."""
    page_cursors = ["rec 1/+&=?é", "rec_2", None]
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        cursor = page_cursors[len(seen) - 1]
        item = {"id": f"r{len(seen)}", "type": "T", "count": 1, "createdAt": 1}
        return httpx.Response(200, json={"items": [item], "cursor": cursor})

    with Client(token="t", api_url="http://api.test", transport=httpx.MockTransport(answer)) as c:
        assert len(list(iter_records(c, query))) == 3
    asked: list[str | None] = [query.cursor, *page_cursors[:2]]
    expected = [
        str(httpx.URL(c.url, params=query.params(cursor=cursor, take=query.take)))
        for cursor in asked
    ]
    assert seen == expected


# Each case runs in its own interpreter: the verified TLS context is made once a
# process, and SSL_CERT_FILE pointing nowhere shows whether a client loads one.
_TLS_PROBE = """
import sys
from usage_cli.client import Client
try:
    Client(token="t", api_url=sys.argv[1]).close()
except FileNotFoundError:
    print("loaded the CA bundle")
else:
    print("no CA bundle")
"""


@pytest.mark.parametrize(
    ("url", "proxy", "expected"),
    [
        ("http://127.0.0.1:9", None, "no CA bundle"),
        ("https://api.chatbotkit.com", None, "loaded the CA bundle"),
        ("http://127.0.0.1:9", "https://proxy.invalid:3128", "loaded the CA bundle"),
    ],
    ids=["plain-http", "https", "plain-http-through-a-proxy"],
)
def test_only_a_client_that_may_meet_tls_loads_the_ca_bundle(
    url: str, proxy: str | None, expected: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["SSL_CERT_FILE"] = "/nonexistent/ca.pem"
    if proxy:
        env["HTTPS_PROXY"] = proxy
    done = subprocess.run(
        [sys.executable, "-c", _TLS_PROBE, url], env=env, capture_output=True, text=True
    )
    assert done.stdout.strip() == expected, done.stderr


def test_a_plain_http_clients_tls_context_still_refuses_unverified_certificates() -> None:
    context = tls_for("http://127.0.0.1:9")
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.get_ca_certs() == []


def test_a_refused_connection_on_this_machine_says_its_first_retry() -> None:
    import socket

    from .conftest import run_in_memory

    # A port nothing listens on: bound, never listening, so a connect is refused.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        result = run_in_memory(["--api-url", url, "--token", "t", "list", "--retries", "2"])
    assert result.code == 5
    first, *rest = result.err.splitlines()
    assert first.startswith("retry 1/2 after ConnectError: waiting ")
    assert first.endswith(f"(nothing listening on 127.0.0.1:{port}?)")
    assert rest[0].startswith("error: cannot reach")
    assert not any(line.startswith("retry 2/2") for line in rest)  # the rest stay quiet


@pytest.mark.parametrize(
    ("code", "retried"),
    [("EAI_NONAME", False), ("EAI_AGAIN", True)],
    ids=["no such host", "resolver not reached"],
)
def test_a_host_the_resolver_says_does_not_exist_is_not_asked_again(
    code: str, retried: bool
) -> None:
    import socket

    from .conftest import run_in_memory

    asked: list[str] = []

    def resolve(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        error = socket.gaierror(getattr(socket, code), "Name or service not known")
        raise httpx.ConnectError("[Errno -2] Name or service not known") from error

    result = run_in_memory(
        ["--api-url", "https://api.chatbotkit.test", "--token", "t", "list", "--retries", "2"],
        transport=httpx.MockTransport(resolve),
    )
    assert result.code == 5
    assert len(asked) == (3 if retried else 1)
    if not retried:
        assert "no such host" in result.err
        assert "hint: check the host name in --api-url" in result.err
