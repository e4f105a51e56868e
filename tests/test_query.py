from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from usage_cli.errors import InputError
from usage_cli.query import Order, Query, parse_meta, parse_when

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_meta_splits_on_first_equals_and_keeps_the_rest() -> None:
    assert parse_meta(["reason=retry", "formula==SUM(A1)", "empty="]) == (
        ("reason", "retry"),
        ("formula", "=SUM(A1)"),
        ("empty", ""),
    )


@pytest.mark.parametrize(
    ("word", "fragment"),
    [
        ("noequals", "not KEY=VALUE"),
        ("=value", "empty key"),
        ("  =value", "empty key"),
        ("a[b]=1", "may not contain"),
    ],
)
def test_bad_meta_is_refused(word: str, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        parse_meta([word])


def test_meta_key_given_twice_is_refused() -> None:
    with pytest.raises(InputError, match="more than once"):
        parse_meta(["a=1", "a=2"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("12h", NOW - timedelta(hours=12)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2026-01-02", datetime(2026, 1, 2, tzinfo=UTC)),
        ("2026-01-02T03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T05:04:05+02:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_when_reads_iso_and_spans(text: str, expected: datetime) -> None:
    assert parse_when(text, now=NOW) == expected


def test_bare_until_date_covers_the_whole_day() -> None:
    end = parse_when("2026-01-02", now=NOW, end_of_day=True)
    assert end == datetime(2026, 1, 2, 23, 59, 59, 999000, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "7x", "2026-13-01", "", "-3d", "2026/01/01"])
def test_unreadable_times_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="cannot read"):
        parse_when(text, now=NOW)


def test_params_carry_every_filter_meta_order_take_and_cursor() -> None:
    query = Query(
        type="OPENAI_GPT_4O_TOKEN",
        conversation_id="c1",
        message_id="m1",
        task_id="t1",
        contact_id="ct1",
        blueprint_id="bp1",
        bot_id="b1",
        dataset_id="d1",
        skillset_id="s1",
        ability_id="a1",
        meta=(("reason", "conversation/complete"), ("x", "a=b")),
        order=Order.asc,
    )
    assert query.params(cursor="cur", take=7) == [
        ("type", "OPENAI_GPT_4O_TOKEN"),
        ("conversationId", "c1"),
        ("messageId", "m1"),
        ("taskId", "t1"),
        ("contactId", "ct1"),
        ("blueprintId", "bp1"),
        ("botId", "b1"),
        ("datasetId", "d1"),
        ("skillsetId", "s1"),
        ("abilityId", "a1"),
        ("meta[reason]", "conversation/complete"),
        ("meta[x]", "a=b"),
        ("order", "asc"),
        ("take", "7"),
        ("cursor", "cur"),
    ]


def test_unset_filters_and_first_cursor_are_not_sent() -> None:
    assert Query().params(cursor=None, take=100) == [("order", "desc"), ("take", "100")]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"take": 0}, "--take"),
        ({"take": -5}, "--take"),
        ({"order": "sideways"}, "--order"),
        ({"bot_id": ""}, "--bot-id must not be empty"),
        ({"cursor": " "}, "--cursor"),
        ({"meta": (("", "x"),)}, "empty key"),
        (
            {
                "since": datetime(2026, 2, 1, tzinfo=UTC),
                "until": datetime(2026, 1, 1, tzinfo=UTC),
            },
            "is after",
        ),
        ({"since": datetime(2026, 2, 1)}, "time zone"),
        ({"bot_id": "bot\udcff"}, "not valid UTF-8"),
        ({"meta": (("k", "\ud800"),)}, "not valid UTF-8"),
        ({"cursor": "\udcff"}, "not valid UTF-8"),
    ],
)
def test_invalid_queries_are_refused(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        Query(**kwargs)  # type: ignore[arg-type]


def test_query_is_immutable() -> None:
    query = Query(bot_id="b1")
    with pytest.raises(AttributeError):
        query.bot_id = "b2"  # type: ignore[misc]


def test_to_dict_is_json_ready() -> None:
    query = Query(bot_id="b1", meta=(("k", "v"),), since=datetime(2026, 1, 1, tzinfo=UTC))
    data = query.to_dict()
    assert data["bot_id"] == "b1"
    assert data["meta"] == {"k": "v"}
    assert data["since"] == "2026-01-01T00:00:00Z"
    assert data["order"] == "desc"


def test_from_words_builds_the_query_the_flags_describe() -> None:
    query = Query.from_words(
        filters={"bot_id": "bot_1", "type": "T"},
        meta=["reason=retry", "formula==SUM(A1)"],
        order="asc",
        take=50,
        cursor="c1",
        since="7d",
        until="2026-03-09",
        now=NOW,
    )
    assert query == Query(
        bot_id="bot_1",
        type="T",
        meta=(("reason", "retry"), ("formula", "=SUM(A1)")),
        order=Order.asc,
        take=50,
        cursor="c1",
        since=NOW - timedelta(days=7),
        until=datetime(2026, 3, 9, 23, 59, 59, 999000, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("words", "first"),
    [
        ({"filters": {"bot_id": " "}}, "--bot-id must not be empty"),
        ({"filters": {"type": ""}}, "--type must not be empty"),
        ({"meta": ["noequals"]}, "--meta 'noequals' is not KEY=VALUE"),
        ({"meta": ["a=1", "a=2"]}, "--meta key 'a' is given more than once"),
        ({"meta": ["=x"]}, "--meta '=x' has an empty key"),
        ({"order": "sideways"}, "--order must be asc or desc"),
        ({"take": 0}, "--take must be a whole number of at least 1"),
        ({"cursor": " "}, "--cursor must not be empty"),
        ({"since": "yesterday"}, "--since: cannot read 'yesterday'"),
        ({"until": "31/01/2026"}, "--until: cannot read '31/01/2026'"),
        ({"since": "2026-03-09", "until": "2026-03-01"}, "--since (2026-03-09"),
    ],
)
def test_from_words_raises_one_input_error_naming_the_flag(
    words: dict[str, Any], first: str
) -> None:
    with pytest.raises(InputError) as raised:
        Query.from_words(now=NOW, **words)
    assert raised.value.message.startswith(first), raised.value.message


def test_from_words_refuses_a_name_that_is_not_a_filter() -> None:
    with pytest.raises(ValueError, match="not a filter: botId"):
        Query.from_words(filters={"botId": "b"}, now=NOW)


@pytest.mark.parametrize(
    "cursor", ["rec_1,", "rec_1.", "(rec_1)", "'rec_1'", "rec 1", "rec_1\n", "rec_1;", "--all"]
)
def test_a_cursor_that_no_api_gave_is_refused(cursor: str) -> None:
    with pytest.raises(InputError, match="cannot be a cursor the API gave"):
        Query.from_words(cursor=cursor, now=NOW)


@pytest.mark.parametrize(
    "cursor", ["rec_4387ee7b7d42646f", "cm1abc-XYZ_9", "a.b", "x:y", "eyJpZCI6MX0=", "a+b/c"]
)
def test_cursors_the_api_gives_are_accepted(cursor: str) -> None:
    assert Query.from_words(cursor=cursor, now=NOW).cursor == cursor


def test_a_cursor_handed_back_by_the_api_is_followed_whatever_it_looks_like() -> None:
    assert Query(cursor="bad cursor,").cursor == "bad cursor,"


def test_months_are_calendar_months_and_minutes_have_two_spellings() -> None:
    end_of_march = datetime(2026, 3, 31, 12, tzinfo=UTC)
    assert parse_when("1mo", now=end_of_march) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert parse_when("6mo", now=end_of_march) == datetime(2025, 9, 30, 12, tzinfo=UTC)
    assert parse_when("30min", now=NOW) == parse_when("30m", now=NOW) == NOW - timedelta(minutes=30)
    assert parse_when("7D", now=NOW) == NOW - timedelta(days=7)


def test_a_capital_m_is_refused_with_both_readings() -> None:
    with pytest.raises(InputError, match="ambiguous") as raised:
        parse_when("6M", now=NOW)
    assert raised.value.hint == "write 6mo for months or 6m for minutes"
