from __future__ import annotations

import json
from typing import Any

import pytest

from usage_cli.errors import ApiError, AuthError, ServerError
from usage_cli.records import Page, UsageRecord, error_from_response, parse_page

RAW = {
    "id": "r1",
    "type": "OPENAI_GPT_4O_TOKEN",
    "count": 12,
    "botId": "bot_1",
    "conversationId": None,
    "meta": {"reason": "retry", "nested": {"a": [1, None]}},
    "createdAt": 1767225602123,
    "updatedAt": 1767225602123,
    "futureField": {"kept": True},
}


def test_unknown_fields_are_kept_and_raw_is_exactly_what_was_sent() -> None:
    record = UsageRecord.model_validate(RAW)
    assert record.bot_id == "bot_1"
    assert record.created_at == 1767225602123
    assert record.extra == {"futureField": {"kept": True}}
    assert record.raw == RAW


def test_parse_page_reads_the_envelope() -> None:
    page = parse_page(json.dumps({"items": [RAW], "cursor": "r1"}).encode())
    assert page.cursor == "r1"
    assert page.items[0].raw == RAW


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "not JSON"),
        (b'{"items": [{"id": "x"}]}', "malformed response"),
        (b'{"items": "nope"}', "malformed response"),
        (b'{"message": "took too long", "code": "TIMEOUT"}', "took too long"),
        (b"[]", "malformed response"),
    ],
)
def test_bad_bodies_are_server_errors(body: bytes, fragment: str) -> None:
    with pytest.raises(ServerError, match=fragment):
        parse_page(body)


def test_error_responses_map_to_the_hierarchy() -> None:
    auth = error_from_response(
        401, b'{"message": "Not authenticated", "code": "NOT_AUTHENTICATED"}'
    )
    assert isinstance(auth, AuthError)
    assert "Not authenticated" in auth.message
    bad = error_from_response(400, b'{"message": "invalid cursor", "code": "BAD_REQUEST"}')
    assert isinstance(bad, ApiError)
    assert bad.code == "BAD_REQUEST"
    assert bad.status == 400
    html = error_from_response(502, b"<html>\n<h1>Bad   Gateway</h1></html>")
    assert isinstance(html, ServerError)
    assert "HTTP 502" in html.message
    assert "<h1>Bad Gateway</h1>" in html.message


@pytest.mark.parametrize(
    "change",
    [{"count": "12"}, {"count": 12.0}, {"createdAt": "2026-01-01"}, {"meta": "text"}, {"id": 7}],
)
def test_values_are_never_coerced(change: dict[str, object]) -> None:
    body = json.dumps({"items": [RAW | change]}).encode()
    with pytest.raises(ServerError, match="malformed response"):
        parse_page(body)


def test_known_fields_come_in_the_documented_order_unknown_ones_after() -> None:
    shuffled = {"futureField": 1, "createdAt": 5, "count": 2, "type": "T", "id": "a"}
    record = parse_page(json.dumps({"items": [shuffled]}).encode()).items[0]
    assert list(record.raw) == ["id", "type", "count", "createdAt", "futureField"]


def test_page_without_cursor_is_valid() -> None:
    assert Page.model_validate({"items": []}).cursor is None


def _comparable(schema: Any) -> Any:
    """A core schema without what names where it came from (class, ref, metadata)."""
    if isinstance(schema, dict):
        return {k: _comparable(v) for k, v in schema.items() if k not in ("cls", "ref", "metadata")}
    if isinstance(schema, list):
        return [_comparable(item) for item in schema]
    return schema


def test_the_written_out_schemas_are_the_ones_pydantic_builds() -> None:
    """records.py spells out the core schemas to spare start-up pydantic's import;
    they must stay exactly what `TypeAdapter` makes of the TypedDicts (field order too)."""
    from pydantic import TypeAdapter

    from usage_cli.records import PAGE_SCHEMA, RECORD_SCHEMA, PageSchema, RecordSchema

    for shape, written in ((RecordSchema, RECORD_SCHEMA), (PageSchema, PAGE_SCHEMA)):
        built = _comparable(TypeAdapter(shape).core_schema)
        assert built == written
        assert list(built["fields"]) == list(written["fields"])
