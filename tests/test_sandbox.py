from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from usage_cli.sandbox import Sandbox, generate_records

from .conftest import ANCHOR, RECORDS, TOKEN


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
