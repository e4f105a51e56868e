"""`usage summary` against the sandbox's own data."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from usage_cli.errors import InputError
from usage_cli.reports.tables import bar
from usage_cli.sandbox import Sandbox
from usage_cli.summary import parse_by


def expected_groups(records: list[dict[str, Any]], key: Any) -> dict[Any, tuple[int, int]]:
    groups: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for record in records:
        group = groups[key(record)]
        group[0] += 1
        group[1] += record["count"]
    return {k: (v[0], v[1]) for k, v in groups.items()}


def test_by_type_matches_the_records(cli: Any, server: Sandbox) -> None:
    result = cli("summary", "-o", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    got = {g["key"]["type"]: (g["records"], g["count"]) for g in data["groups"]}
    assert got == expected_groups(server.records, lambda r: r["type"])
    counts = [g["count"] for g in data["groups"]]
    assert counts == sorted(counts, reverse=True)
    assert data["total"]["records"] == len(server.records)
    assert data["total"]["count"] == sum(r["count"] for r in server.records)
    first = min(r["createdAt"] for r in server.records)
    assert data["total"]["firstCreatedAt"] == datetime.fromtimestamp(first / 1000, UTC).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")


def test_by_bot_and_day_with_filters(cli: Any, server: Sandbox) -> None:
    result = cli(
        "summary", "--by", "bot", "--by", "day", "--type", "OPENAI_GPT_4O_TOKEN", "-o", "json"
    )
    data = json.loads(result.out)
    records = [r for r in server.records if r["type"] == "OPENAI_GPT_4O_TOKEN"]

    def key(r: dict[str, Any]) -> tuple[Any, str]:
        return (r["botId"], datetime.fromtimestamp(r["createdAt"] / 1000, UTC).strftime("%Y-%m-%d"))

    got = {(g["key"]["bot"], g["key"]["day"]): (g["records"], g["count"]) for g in data["groups"]}
    assert got == expected_groups(records, key)
    assert server.requests[0].param("type") == "OPENAI_GPT_4O_TOKEN"


@pytest.mark.parametrize("unit", ["hour", "week", "month"])
def test_time_buckets(cli: Any, server: Sandbox, unit: str) -> None:
    data = json.loads(cli("summary", "--by", unit, "-o", "json").out)

    def key(r: dict[str, Any]) -> str:
        moment = datetime.fromtimestamp(r["createdAt"] / 1000, UTC)
        if unit == "hour":
            return moment.strftime("%Y-%m-%dT%H:00Z")
        if unit == "week":
            return (moment - timedelta(days=moment.weekday())).strftime("%Y-%m-%d")
        return moment.strftime("%Y-%m")

    got = {g["key"][unit]: (g["records"], g["count"]) for g in data["groups"]}
    assert got == expected_groups(server.records, key)


def test_by_meta_key_includes_records_without_it(cli: Any, server: Sandbox) -> None:
    data = json.loads(cli("summary", "--by", "meta.reason", "-o", "json").out)
    got = {g["key"]["meta.reason"]: (g["records"], g["count"]) for g in data["groups"]}
    assert got == expected_groups(server.records, lambda r: (r["meta"] or {}).get("reason"))
    assert None in got


def test_top_folds_the_rest_into_other(cli: Any, server: Sandbox) -> None:
    full = json.loads(cli("summary", "--by", "bot", "-o", "json").out)
    top = json.loads(cli("summary", "--by", "bot", "--top", "2", "-o", "json").out)
    assert top["groups"][:2] == full["groups"][:2]
    other = top["groups"][2]
    assert other["key"] == {"bot": "(other)"}
    # A bot whose id is "(other)" is told apart from the folded rest by `folded`.
    assert other["folded"] is True
    assert all("folded" not in group for group in top["groups"][:2] + full["groups"])
    assert other["records"] == sum(g["records"] for g in full["groups"][2:])
    assert other["count"] == sum(g["count"] for g in full["groups"][2:])
    assert len(top["groups"]) == 3


def _day(record: dict[str, Any]) -> str:
    return datetime.fromtimestamp(record["createdAt"] / 1000, UTC).strftime("%Y-%m-%d")


@pytest.mark.parametrize("order", [None, "asc", "desc"])
def test_time_buckets_come_in_time_order(cli: Any, server: Sandbox, order: str | None) -> None:
    words = ["summary", "--by", "day", *(["--order", order] if order else [])]
    data = json.loads(cli(*words, "-o", "json").out)
    days = [g["key"]["day"] for g in data["groups"]]
    # Oldest first unless asked, as a calendar reads; never by count.
    assert days == sorted({_day(r) for r in server.records}, reverse=order == "desc")
    csv_days = [row["day"] for row in csv.DictReader(io.StringIO(cli(*words, "-o", "csv").out))]
    assert csv_days == days


def test_top_never_hides_a_time_bucket(cli: Any, server: Sandbox) -> None:
    data = json.loads(cli("summary", "--by", "day", "--by", "type", "--top", "1", "-o", "json").out)
    days = sorted({_day(r) for r in server.records})
    shown = [g["key"]["day"] for g in data["groups"]]
    assert sorted(set(shown)) == days
    assert shown == sorted(shown)  # a daily breakdown, day by day
    for day in days:
        rows = [g for g in data["groups"] if g["key"]["day"] == day]
        per_type = expected_groups(
            [r for r in server.records if _day(r) == day], lambda r: r["type"]
        )
        largest = max(per_type.values(), key=lambda figures: figures[1])
        assert (rows[0]["records"], rows[0]["count"]) == largest
        if len(per_type) > 1:
            assert rows[1]["key"] == {"day": day, "type": "(other)"}
            assert rows[1]["folded"] is True
            assert rows[1]["count"] == sum(c for _, c in per_type.values()) - largest[1]
    # Alone, time buckets never fold: --top has nothing to hide.
    alone = json.loads(cli("summary", "--by", "day", "--top", "1", "-o", "json").out)
    assert [g["key"]["day"] for g in alone["groups"]] == days


def test_the_repeated_hour_of_a_fall_back_sorts_in_time(cli: Any) -> None:
    from usage_cli.sandbox import Emulator

    from .conftest import TOKEN, run_in_memory

    # 2026-11-01 in New York: 01:30 EDT (05:30Z), then 01:10 EST (06:10Z).
    records = [
        {"id": f"rec_{n}", "type": "T", "count": 1, "createdAt": at, "updatedAt": at}
        for n, at in enumerate((1_793_511_000_000, 1_793_513_400_000))
    ]
    done = run_in_memory(
        [
            "--api-url",
            "http://x.test",
            "--token",
            TOKEN,
            "--tz",
            "America/New_York",
            "summary",
            "--by",
            "hour",
            "-o",
            "json",
        ],
        transport=Emulator(records, token=TOKEN).transport(),
    )
    hours = [g["key"]["hour"] for g in json.loads(done.out)["groups"]]
    assert hours == ["2026-11-01T01:00-04:00", "2026-11-01T01:00-05:00"]


def test_csv_rows_sum_to_the_records(cli: Any, server: Sandbox) -> None:
    result = cli("summary", "--by", "type", "--by", "bot", "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(result.out, newline="")))
    assert list(rows[0]) == ["type", "bot", "records", "count", "firstCreatedAt", "lastCreatedAt"]
    assert sum(int(row["records"]) for row in rows) == len(server.records)
    assert sum(int(row["count"]) for row in rows) == sum(r["count"] for r in server.records)


def test_table_has_bars_and_a_total(cli: Any, server: Sandbox) -> None:
    result = cli("summary", "-o", "table")
    assert "█" in result.out
    assert "total" in result.out
    assert f"{sum(r['count'] for r in server.records):,}" in result.out


def test_since_window_applies(cli: Any, server: Sandbox) -> None:
    data = json.loads(cli("summary", "--since", "2026-01-25", "-o", "json").out)
    low = int(datetime(2026, 1, 25, tzinfo=UTC).timestamp() * 1000)
    assert data["total"]["records"] == sum(1 for r in server.records if r["createdAt"] >= low)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--by", "bots"], "did you mean 'bot'"),
        (["--by", "meta."], "cannot group by"),
        (["--by", "day", "--by", "day"], "twice"),
        (["--top", "0"], "--top"),
        (["-o", "jsonl"], "--format"),
        (["--meta", "nokey"], "KEY=VALUE"),
    ],
)
def test_bad_summary_input_exits_2_before_any_request(
    cli: Any, server: Sandbox, args: list[str], fragment: str
) -> None:
    result = cli("summary", *args)
    assert result.code == 2
    assert fragment in result.err.splitlines()[0]
    assert server.requests == []


def test_parse_by_defaults_to_type() -> None:
    assert parse_by(None) == ("type",)
    with pytest.raises(InputError):
        parse_by(["nope"])


def test_bar_is_proportional() -> None:
    assert bar(10, 10, 8) == "█" * 8
    assert bar(5, 10, 8) == "█" * 4
    assert bar(1, 1000, 8) == "▏"
    assert bar(0, 10) == ""


def test_summary_formats_are_formats_but_jsonl() -> None:
    from typing import get_args

    from usage_cli.cli._summary import SummaryFormat
    from usage_cli.formats import Format

    assert set(get_args(SummaryFormat)) == {fmt.value for fmt in Format} - {"jsonl"}


def test_all_is_accepted_and_changes_nothing(cli: Any) -> None:
    plain = cli("summary", "--by", "type", "-o", "json")
    every = cli("summary", "--by", "type", "-o", "json", "--all")
    assert plain.code == every.code == 0
    assert every.out == plain.out
