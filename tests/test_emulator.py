"""The emulated endpoint as a pure answer, and as an `httpx.MockTransport`: no sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from usage_cli.sandbox import Answer, Emulator, generate_records
from usage_cli.sandbox.emulator import DEFAULT_DRIP, RATE_WINDOW, parse_fault
from usage_cli.sandbox.server import FAULT_KINDS, HTML_502, Faults

from .conftest import ANCHOR, TOKEN

LIST = "/api/v1/usage/list"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RECORDS = generate_records(120, seed=7, anchor=ANCHOR)


def emulator(faults: Faults | None = None) -> Emulator:
    return Emulator(RECORDS, token=TOKEN, faults=faults)


def ask(
    endpoint: Emulator,
    path: str = LIST,
    headers: Mapping[str, str] = AUTH,
    **params: Any,
) -> Answer:
    return endpoint.answer(path, [(k, str(v)) for k, v in params.items()], headers)


def walk(endpoint: Emulator, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query = [(k, str(v)) for k, v in params.items()]
    cursor: str | None = None
    while True:
        answer = endpoint.answer(LIST, query + ([("cursor", cursor)] if cursor else []), AUTH)
        assert answer.status == 200
        body = answer.json()
        if not body["items"]:
            assert body == {"items": []}
            return items
        items += body["items"]
        cursor = body["cursor"]


# Routing and auth --------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/usage/list", "/v1/usage/list"])
def test_both_routes_answer_json(path: str) -> None:
    answer = ask(emulator(), path, take=3)
    assert answer.status == 200
    assert answer.header("content-type") == "application/json; charset=utf-8"
    assert [i["id"] for i in answer.json()["items"]] == [r["id"] for r in RECORDS[:3]]
    assert not answer.drop


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/v2/usage/list", "/", "/api/v1/usage"])
def test_unknown_paths_are_json_404s_even_without_a_token(path: str) -> None:
    answer = ask(emulator(), path, headers={})
    assert answer.status == 404
    assert answer.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"X-Token": TOKEN}],
)
def test_without_the_bearer_token_the_answer_is_a_json_401(headers: dict[str, str]) -> None:
    endpoint = emulator()
    answer = ask(endpoint, headers=headers)
    assert answer.status == 401
    assert answer.json() == {"message": "Not authenticated", "code": "NOT_AUTHENTICATED"}
    (seen,) = endpoint.requests
    assert not seen.authorized
    assert seen.status == 401


def test_header_names_are_case_insensitive_and_the_log_never_holds_the_token() -> None:
    endpoint = emulator()
    headers = {"authorization": f"Bearer {TOKEN}", "x-runas-user-id": "user_3"}
    answer = ask(endpoint, headers=headers, take=2, botId="bot_1")
    assert answer.status == 200
    (seen,) = endpoint.requests
    assert seen.authorized
    assert seen.run_as == "user_3"
    assert seen.path == LIST
    assert seen.params == (("take", "2"), ("botId", "bot_1"))
    assert seen.param("botId") == "bot_1"
    assert seen.status == 200
    assert TOKEN not in repr(seen)


@pytest.mark.parametrize(
    "params",
    [{"take": 0}, {"take": 101}, {"take": "x"}, {"order": "up"}, {"cursor": "nope"}],
)
def test_bad_parameters_are_json_400s(params: dict[str, Any]) -> None:
    answer = ask(emulator(), **params)
    assert answer.status == 400
    assert answer.json()["code"] == "BAD_REQUEST"
    assert answer.json()["message"]


# Paging and filters ------------------------------------------------------


@pytest.mark.parametrize("take", [1, 7, 100])
def test_pages_walk_every_record_newest_first(take: int) -> None:
    assert walk(emulator(), take=take) == RECORDS


def test_ascending_order_reverses() -> None:
    assert walk(emulator(), order="asc", take=50) == RECORDS[::-1]


def test_a_short_last_page_keeps_its_cursor_and_the_next_is_empty() -> None:
    endpoint = emulator()
    body = ask(endpoint, take=100, cursor=RECORDS[-4]["id"]).json()
    assert [i["id"] for i in body["items"]] == [r["id"] for r in RECORDS[-3:]]
    assert body["cursor"] == RECORDS[-1]["id"]
    end = ask(endpoint, take=100, cursor=body["cursor"])
    assert end.status == 200
    assert end.body == b'{"items":[]}'


def test_filters_combine_and_relation_ids_take_comma_lists() -> None:
    items = walk(emulator(), take=9, botId="bot_1,bot_3", type="OPENAI_GPT_4O_TOKEN")
    kind = "OPENAI_GPT_4O_TOKEN"
    expected = [r for r in RECORDS if r["botId"] in ("bot_1", "bot_3") and r["type"] == kind]
    assert expected
    assert items == expected


def test_type_is_one_value_not_a_list() -> None:
    assert walk(emulator(), type="OPENAI_GPT_4O_TOKEN,CHATBOTKIT_MESSAGE") == []


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"meta[reason]": "retry"}, lambda meta: meta.get("reason") == "retry"),
        ({"meta.reason": "task/run"}, lambda meta: meta.get("reason") == "task/run"),
        ({"meta[cached]": "true"}, lambda meta: meta.get("cached") is True),
        ({"meta[cached]": "false"}, lambda meta: meta.get("cached") is False),
    ],
)
def test_meta_filters_as_deep_objects(params: dict[str, str], keep: Any) -> None:
    items = walk(emulator(), **params)
    assert items
    assert items == [r for r in RECORDS if r["meta"] and keep(r["meta"])]


def test_meta_values_that_are_not_strings_match_their_json() -> None:
    records: list[dict[str, Any]] = [
        {"id": "rec_a", "meta": {"n": 42, "deep": {"a": [1, "b"]}, "flag": True}},
        {"id": "rec_b", "meta": {"n": "42", "deep": None}},
        {"id": "rec_c", "meta": None},
    ]
    endpoint = Emulator(records, token=TOKEN)

    def ids(key: str, value: str) -> list[str]:
        answer = endpoint.answer(LIST, [(f"meta[{key}]", value)], AUTH)
        return [i["id"] for i in answer.json()["items"]]

    assert ids("n", "42") == ["rec_a", "rec_b"]
    assert ids("deep", '{"a":[1,"b"]}') == ["rec_a"]
    assert ids("deep", "null") == ["rec_b"]
    assert ids("flag", "true") == ["rec_a"]
    assert ids("flag", "1") == []


def test_max_take_serves_short_pages_that_still_reach_the_end() -> None:
    endpoint = emulator(Faults(max_take=7))
    first = ask(endpoint, take=50).json()
    assert len(first["items"]) == 7
    assert walk(endpoint, take=50) == RECORDS


def test_loop_after_hands_back_the_cursor_it_was_given() -> None:
    endpoint = emulator(Faults(loop_after=2))
    first = ask(endpoint, take=10).json()
    second = ask(endpoint, take=10, cursor=first["cursor"]).json()
    assert second["cursor"] == RECORDS[19]["id"]
    third = ask(endpoint, take=10, cursor=second["cursor"]).json()
    assert third["cursor"] == second["cursor"]
    assert third["items"] == RECORDS[20:30]


# Faults ------------------------------------------------------------------


def test_a_drop_is_an_answer_with_nothing_to_say() -> None:
    endpoint = emulator(Faults(every={"drop": 1}))
    answer = ask(endpoint)
    assert answer.drop
    assert answer.body == b""
    assert endpoint.requests[0].status == 0


def test_html_is_a_proxy_502_page() -> None:
    answer = ask(emulator(Faults(every={"html": 1})))
    assert answer.status == 502
    assert answer.header("Content-Type") == "text/html"
    assert answer.body == HTML_502


def test_malformed_is_a_200_with_cut_json() -> None:
    answer = ask(emulator(Faults(every={"malformed": 1})))
    assert answer.status == 200
    assert answer.body.startswith(b'{"items":[')
    with pytest.raises(json.JSONDecodeError):
        answer.json()


@pytest.mark.parametrize(("retry_after", "header"), [(1.0, "1"), (0.0, "0"), (2.5, "2.5")])
def test_429_carries_retry_after_in_seconds(retry_after: float, header: str) -> None:
    answer = ask(emulator(Faults(every={"429": 1}, retry_after=retry_after)))
    assert answer.status == 429
    assert answer.header("retry-after") == header
    assert answer.json()["code"] == "LIMITS_REACHED"


def test_429_without_retry_after_as_the_platform_sends_it() -> None:
    answer = ask(emulator(Faults(every={"429": 1}, retry_after=None)))
    assert answer.status == 429
    assert answer.header("Retry-After") is None
    assert answer.json() == {"message": "Too many requests", "code": "LIMITS_REACHED"}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_are_json_errors(status: int) -> None:
    endpoint = emulator(Faults(every={str(status): 1}))
    answer = ask(endpoint)
    assert answer.status == status
    assert answer.json() == {"message": "Service unavailable", "code": "GENERIC_ERROR"}
    assert endpoint.requests[0].status == status


def test_every_fault_kind_has_an_answer() -> None:
    for kind in FAULT_KINDS:
        answer = ask(emulator(Faults(every={kind: 1})))
        # malformed, error200 and drip are 200s by design: what is wrong is the body.
        assert answer.drop or answer.status != 200 or kind in ("malformed", "error200", "drip")


def test_faults_are_scheduled_by_authorized_list_requests_only() -> None:
    endpoint = emulator(Faults(every={"503": 2}))
    assert ask(endpoint).status == 200
    assert ask(endpoint, headers={}).status == 401
    assert ask(endpoint, "/nope").status == 404
    assert ask(endpoint).status == 503
    assert [seen.status for seen in endpoint.requests] == [200, 401, 404, 503]


def test_rates_are_seeded() -> None:
    def statuses() -> list[int]:
        endpoint = emulator(Faults(rate_429=0.3, rate_5xx=0.3, seed=4))
        return [ask(endpoint, take=1).status for _ in range(40)]

    first = statuses()
    assert first == statuses()
    assert {200, 429, 503} <= set(first)


# As an httpx.MockTransport -----------------------------------------------


def test_a_real_httpx_client_walks_everything_through_the_transport() -> None:
    endpoint = emulator(Faults(max_take=30))
    items: list[dict[str, Any]] = []
    with httpx.Client(
        transport=endpoint.transport(), base_url="http://sandbox.invalid", headers=AUTH
    ) as client:
        params: dict[str, str | int] = {"take": 100, "botId": "bot_1,bot_2"}
        while True:
            response = client.get("/v1/usage/list", params=params)
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json; charset=utf-8"
            body = response.json()
            if not body["items"]:
                break
            items += body["items"]
            params["cursor"] = body["cursor"]
    expected = [r for r in RECORDS if r["botId"] in ("bot_1", "bot_2")]
    assert expected
    assert items == expected
    assert len(endpoint.requests) == -(-len(expected) // 30) + 1
    assert endpoint.requests[-1].param("cursor") == expected[-1]["id"]


def test_the_transport_answers_errors_and_headers_as_over_http() -> None:
    endpoint = emulator(Faults(every={"429": 1}, retry_after=3))
    with httpx.Client(transport=endpoint.transport(), base_url="http://sandbox.invalid") as client:
        refused = client.get(LIST)
        assert refused.status_code == 401
        assert refused.json()["code"] == "NOT_AUTHENTICATED"
        limited = client.get(LIST, headers=AUTH)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "3"
        assert limited.headers["Content-Length"] == str(len(limited.content))


def test_a_drop_through_the_transport_is_a_protocol_error() -> None:
    endpoint = emulator(Faults(every={"drop": 2}))
    with httpx.Client(
        transport=endpoint.transport(), base_url="http://sandbox.invalid", headers=AUTH
    ) as client:
        assert client.get(LIST).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(LIST)
        assert client.get(LIST).status_code == 200
    assert [seen.status for seen in endpoint.requests] == [200, 0, 200]


def test_the_transport_does_not_apply_latency() -> None:
    # Latency is the HTTP shell's: an in-memory test with it set must not wait.
    endpoint = emulator(Faults(latency=30.0))
    started = time.monotonic()
    with httpx.Client(transport=endpoint.transport(), headers=AUTH) as client:
        assert client.get("http://sandbox.invalid" + LIST).status_code == 200
    assert time.monotonic() - started < 5


# The platform's faults: the rate-limit window, a 200 error, a dripping body ---


class Clock:
    """A monotonic clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limit_is_a_sliding_60_second_window_without_retry_after() -> None:
    clock = Clock()
    endpoint = emulator(Faults(rate_limit=3, clock=clock))
    statuses = []
    for _ in range(3):  # at t = 0, 10, 20
        statuses.append(ask(endpoint, take=1).status)
        clock.now += 10
    assert statuses == [200, 200, 200]
    limited = ask(endpoint, take=1)  # t = 30
    assert limited.status == 429
    assert limited.header("Retry-After") is None
    assert limited.json() == {"message": "Too many requests", "code": "LIMITS_REACHED"}
    # Refused requests do not count, and the window slides: the first request
    # leaves it at t = 60, the second at t = 70.
    clock.now += RATE_WINDOW - 31  # t = 59
    assert ask(endpoint, take=1).status == 429
    clock.now += 1  # t = 60
    assert ask(endpoint, take=1).status == 200
    assert ask(endpoint, take=1).status == 429
    clock.now += 10  # t = 70
    assert [ask(endpoint, take=1).status for _ in range(2)] == [200, 429]
    clock.now += 2 * RATE_WINDOW
    assert [ask(endpoint, take=1).status for _ in range(4)] == [200, 200, 200, 429]


def test_the_rate_limit_counts_list_requests_only() -> None:
    endpoint = emulator(Faults(rate_limit=1, clock=Clock()))
    assert ask(endpoint, "/nope").status == 404
    assert ask(endpoint, headers={}).status == 401
    assert ask(endpoint).status == 200
    assert ask(endpoint).status == 429


def test_the_rate_limit_applies_through_the_transport() -> None:
    endpoint = emulator(Faults(rate_limit=2, clock=Clock()))
    with httpx.Client(transport=endpoint.transport(), headers=AUTH) as client:
        statuses = [client.get("http://sandbox.invalid" + LIST).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_error200_is_a_200_carrying_the_platforms_error_body() -> None:
    endpoint = emulator(Faults(every={"error200": 2}))
    assert "items" in ask(endpoint).json()
    answer = ask(endpoint)
    assert answer.status == 200
    assert answer.header("content-type") == "application/json; charset=utf-8"
    assert answer.json() == {"message": "An unexpected error occurred", "code": "GENERIC_ERROR"}


def test_drip_paces_every_answer_or_only_the_scheduled_ones() -> None:
    every = emulator(Faults(drip=0.2))
    assert [ask(every, take=2).drip for _ in range(3)] == [0.2, 0.2, 0.2]
    scheduled = emulator(Faults(every={"drip": 2}))
    answers = [ask(scheduled, take=2) for _ in range(4)]
    assert [answer.drip for answer in answers] == [0, DEFAULT_DRIP, 0, DEFAULT_DRIP]
    # A dripped answer is the page it would have been, only slower.
    assert answers[1].json()["items"] == RECORDS[:2]
    paced = emulator(Faults(every={"drip": 1}, drip=0.01))
    assert ask(paced).drip == 0.01
    # Nothing drips before the request is known to be an authorized list request.
    assert ask(emulator(Faults(drip=1.0)), headers={}).drip == 0


def test_the_transport_does_not_drip() -> None:
    endpoint = emulator(Faults(drip=30.0))
    started = time.monotonic()
    with httpx.Client(transport=endpoint.transport(), headers=AUTH) as client:
        assert client.get("http://sandbox.invalid" + LIST).status_code == 200
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("text", ["error200=3", "drip=1"])
def test_the_new_fault_kinds_parse(text: str) -> None:
    kind, period = parse_fault(text)
    assert f"{kind}={period}" == text


@pytest.mark.parametrize(
    "faults", [{"rate_limit": 0}, {"drip": -0.1}, {"drip": float("nan")}], ids=str
)
def test_impossible_fault_settings_are_refused(faults: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="needs"):
        Faults(**faults)
