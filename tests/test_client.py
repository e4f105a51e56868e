from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from usage_cli.client import Client, RetryPolicy, list_url, retry_after_seconds
from usage_cli.errors import ApiError, AuthError, InputError, ServerError
from usage_cli.pages import iter_records
from usage_cli.query import Query
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
