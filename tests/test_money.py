"""Money and gates: prices, `--cost`, `summary --compare`, `usage check` (exit 7)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from usage_cli import prices
from usage_cli.errors import InputError, ThresholdBreached
from usage_cli.sandbox import Emulator, Sandbox, generate_records
from usage_cli.sandbox.data import DEMO_SEED, SPIKE_BOT, default_anchor, with_spike

from .conftest import ANCHOR, TOKEN, Result, run_in_memory

API = "http://sandbox.test"
ANCHOR_MS = int(ANCHOR.timestamp() * 1000)
DAY_MS = 86_400_000
BUNDLED = prices.bundled_bytes()


def at(**delta: float) -> Any:
    """A clock fixed at the sandbox's anchor, moved by `delta`."""
    moment = ANCHOR + timedelta(**delta)
    return lambda: moment


def online(emulator: Emulator, *args: str, **runtime: Any) -> Result:
    words = ["--api-url", API, "--token", TOKEN, *args]
    runtime.setdefault("now", at())
    return run_in_memory(words, transport=emulator.transport(), **runtime)


def price_file(tmp_path: Path, text: str, name: str = "prices.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def cost_by_hand(records: list[dict[str, Any]]) -> tuple[Decimal, dict[str, int]]:
    """The bundled table applied by hand (every demo record is after 2025-05-22)."""
    per_million = {
        "OPENAI_GPT_4O_MINI_TOKEN": Decimal("0.2625"),
        "OPENAI_GPT_4O_TOKEN": Decimal("4.375"),
        "ANTHROPIC_CLAUDE_SONNET_4_TOKEN": Decimal("6.00"),
    }
    total = Decimal(0)
    unpriced: dict[str, int] = defaultdict(int)
    for record in records:
        price = per_million.get(record["type"])
        if price is None:
            unpriced[record["type"]] += record["count"]
        else:
            total += Decimal(record["count"]) * price / 1_000_000
    return total, dict(unpriced)


# The table ---------------------------------------------------------------------


def test_the_bundled_table_is_versioned_and_hashed_as_its_bytes() -> None:
    table = prices.load()
    assert table.sha256 == hashlib.sha256(BUNDLED).hexdigest()
    assert table.layers[0].version
    assert table.currency == "USD"
    assert all(entry.source for entry in table.entries)


def test_the_most_specific_wildcard_wins_and_dates_pick_the_price() -> None:
    table = prices.load()
    now = ANCHOR_MS
    mini = table.price_for("OPENAI_GPT_4O_MINI_TOKEN", now)
    assert mini is not None
    assert mini.pattern == "OPENAI_GPT_4O_MINI*"
    big = table.price_for("OPENAI_GPT_4O_TOKEN", now)
    assert big is not None
    assert big.price == Decimal("4.375")
    # Before the price change of 2024-10-02, the launch price; before launch, none.
    sept = int(datetime(2024, 9, 1, tzinfo=UTC).timestamp() * 1000)
    launch = table.price_for("OPENAI_GPT_4O_TOKEN", sept)
    assert launch is not None
    assert launch.price == Decimal("7.50")
    assert table.price_for("OPENAI_GPT_4O_TOKEN", sept - 365 * DAY_MS) is None
    assert table.price_for("CHATBOTKIT_CONVERSATION", now) is None


def test_an_exact_type_beats_any_wildcard(tmp_path: Path) -> None:
    path = price_file(
        tmp_path,
        'version = "t"\nreplace = true\n'
        '[[price]]\ntype = "OPENAI_*"\nprice = 1\nsource = "s"\n'
        '[[price]]\ntype = "OPENAI_GPT_4O_TOKEN"\nprice = 2\nsource = "s"\n'
        '[[price]]\ntype = "*_TOKEN"\nprice = 3\nsource = "s"\n',
    )
    table = prices.load(path)
    assert table.price_for("OPENAI_GPT_4O_TOKEN", 0).price == 2  # type: ignore[union-attr]
    # OPENAI_ (7 characters) is more specific than _TOKEN (6).
    assert table.price_for("OPENAI_GPT_4O_MINI_TOKEN", 0).price == 1  # type: ignore[union-attr]
    assert table.price_for("ANTHROPIC_X_TOKEN", 0).price == 3  # type: ignore[union-attr]


def test_a_file_wildcard_does_not_override_a_more_specific_bundled_price(
    tmp_path: Path,
) -> None:
    path = price_file(
        tmp_path,
        'version = "contract"\n'
        '[[price]]\ntype = "OPENAI_GPT_4O*"\nprice = 3.10\nper = 1_000_000\nsource = "c"\n',
    )
    table = prices.load(path)
    big = table.price_for("OPENAI_GPT_4O_TOKEN", ANCHOR_MS)
    mini = table.price_for("OPENAI_GPT_4O_MINI_TOKEN", ANCHOR_MS)
    assert big is not None
    assert mini is not None
    # As specific as the bundled GPT-4o entry: the file's wins the tie.
    assert big.price == Decimal("3.10")
    # GPT-4o mini has a closer bundled pattern: the file's wildcard does not reach it.
    assert (mini.pattern, mini.price) == ("OPENAI_GPT_4O_MINI*", Decimal("0.2625"))


def test_a_file_extends_the_bundled_table_unless_it_replaces_it(tmp_path: Path) -> None:
    text = (
        'version = "contract-7"\n[[price]]\ntype = "CHATBOTKIT_CONVERSATION"\nprice = 0.01\n'
        'source = "contract"\n'
    )
    path = price_file(tmp_path, text)
    extended = prices.load(path)
    assert extended.price_for("CHATBOTKIT_CONVERSATION", 0).price == Decimal("0.01")  # type: ignore[union-attr]
    assert extended.price_for("OPENAI_GPT_4O_TOKEN", ANCHOR_MS) is not None
    # The hash of what is in effect: the bundled bytes, then the file's.
    assert extended.sha256 == hashlib.sha256(BUNDLED + text.encode()).hexdigest()
    replacing = prices.load(price_file(tmp_path, "replace = true\n" + text, "only.toml"))
    assert replacing.price_for("OPENAI_GPT_4O_TOKEN", ANCHOR_MS) is None
    assert replacing.sha256 == hashlib.sha256(("replace = true\n" + text).encode()).hexdigest()


def test_money_is_decimal_where_floats_would_be_wrong(cli: Any, tmp_path: Path) -> None:
    # 0.1 + 0.1 + 0.1 is not 0.3 in binary floating point; it is in Decimal.
    assert 0.1 + 0.1 + 0.1 != 0.3
    path = price_file(
        tmp_path,
        'version = "t"\nreplace = true\n[[price]]\ntype = "CHATBOTKIT_TASK_RUN"\nprice = 0.1\n'
        'source = "test"\n',
    )
    records = [
        {**r, "type": "CHATBOTKIT_TASK_RUN", "count": 1}
        for r in generate_records(3, seed=5, anchor=ANCHOR)
    ]
    done = online(
        Emulator(records, token=TOKEN), "summary", "--cost", "--prices", path, "-o", "json"
    )
    assert done.code == 0, done.err
    data = json.loads(done.out)
    assert data["total"]["cost"] == "0.3"
    assert data["groups"][0]["cost"] == "0.3"


BAD_FILES = [
    ("version = \n", "not a valid TOML price file"),
    ('[[price]]\ntype = "A"\nprice = 1\nsource = "s"\n', "needs a version"),
    ('version = "v"\n[[price]]\ntype = "A"\nprice = 1\n', "needs a source"),
    ('version = "v"\n[[price]]\ntype = "A"\nprice = -1\nsource = "s"\n', "price must be"),
    ('version = "v"\n[[price]]\ntype = "A"\nprice = 1\nper = 0\nsource = "s"\n', "per must be"),
    ('version = "v"\n[[price]]\ntype = "A"\nprice = 1\nsource = "s"\ncost = 2\n', "unknown key"),
    ('version = "v"\n[[price]]\ntype = "a b"\nprice = 1\nsource = "s"\n', "type must be"),
    (
        'version = "v"\n[[price]]\ntype = "A"\nprice = 1\nsource = "s"\nfrom = 2025-01-01\n'
        '[[price]]\ntype = "A"\nprice = 2\nsource = "s"\nuntil = 2025-02-01\n',
        "two prices in force at once",
    ),
    ('version = "v"\ncurrency = "EUR"\n', "currency differs"),
    (
        'version = "v"\n[[price]]\ntype = "OPENAI_GPT_4O_TOKE*"\nprice = 1\nsource = "s"\n'
        '[[price]]\ntype = "*PENAI_GPT_4O_TOKEN"\nprice = 100\nsource = "s"\n',
        "price #1 (OPENAI_GPT_4O_TOKE*) and price #2 (*PENAI_GPT_4O_TOKEN) are as specific "
        "as each other and both price OPENAI_GPT_4O_TOKEN",
    ),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_FILES, ids=[f for _, f in BAD_FILES])
def test_a_bad_price_file_is_one_line_and_exit_2_before_any_request(
    cli: Any, server: Sandbox, tmp_path: Path, text: str, fragment: str
) -> None:
    path = price_file(tmp_path, text)
    result = cli("summary", "--cost", "--prices", path)
    assert result.code == 2
    lines = result.err.splitlines()
    assert lines[0].startswith(f"error: --prices {path}")
    assert fragment in lines[0]
    assert server.requests == []


@pytest.mark.parametrize(
    ("first", "second", "apart", "refused"),
    [
        ("A*C", "AB*", False, True),  # both price ABC, each fixing two letters
        ("*_TOKEN", "OPENAI*", False, True),
        ("X*", "*Y", False, True),
        ("A*B", "A*C", False, False),  # no type ends in both B and C
        ("AB*", "*BC", True, False),  # never in force at once
        ("OPENAI*", "*TOKEN", False, False),  # OPENAI (6) is more specific than TOKEN (5)
    ],
)
def test_equally_specific_wildcards_are_refused_when_they_could_price_one_type(
    tmp_path: Path, first: str, second: str, apart: bool, refused: bool
) -> None:
    until, since = ("until = 2026-01-01\n", "from = 2026-01-01\n") if apart else ("", "")
    path = price_file(
        tmp_path,
        f'version = "v"\nreplace = true\n[[price]]\ntype = "{first}"\nprice = 1\n{until}'
        f'source = "s"\n[[price]]\ntype = "{second}"\nprice = 2\n{since}source = "s"\n',
    )
    if refused:
        with pytest.raises(InputError, match="are as specific as each other and both price"):
            prices.load(path)
        return
    table = prices.load(path)
    # The order `usage prices TYPE` shows is the order tried, never the file's by chance.
    for kind in ("ABC", "ABB", "OPENAI_GPT_4O_TOKEN", "XY", "AXB"):
        assert list(table.candidates(kind)) == [e for e in table.ordered() if e.matches(kind)]


def test_a_price_entry_in_lower_case_is_warned_of(cli: Any, tmp_path: Path) -> None:
    path = price_file(
        tmp_path,
        'version = "v"\n[[price]]\ntype = "openai_gpt_4o_token"\nprice = 1\nsource = "s"\n',
    )
    result = cli("summary", "--cost", "--prices", path, "-o", "json")
    assert result.code == 0, result.err
    assert (
        f"warning: --prices {path}: price #1 (openai_gpt_4o_token) has lower-case letters "
        "and matches no usage type (they are upper case: OPENAI_GPT_4O_TOKEN?)"
    ) in result.err
    assert "warning" not in cli("summary", "--cost", "-o", "json").err


def test_a_missing_price_file_is_exit_2(cli: Any, server: Sandbox, tmp_path: Path) -> None:
    result = cli("list", "--columns", "id,cost", "--prices", str(tmp_path / "nope.toml"))
    assert result.code == 2
    assert "cannot read the price file" in result.err
    assert server.requests == []


# --cost ------------------------------------------------------------------------


def test_summary_cost_matches_a_hand_computation(cli: Any, server: Sandbox) -> None:
    result = cli("summary", "--by", "bot", "--cost", "-o", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    total, unpriced = cost_by_hand(server.records)
    assert Decimal(data["total"]["cost"]) == total
    assert data["total"]["unpriced"]["types"] == dict(sorted(unpriced.items()))
    assert data["prices"]["sha256"] == hashlib.sha256(BUNDLED).hexdigest()
    for group in data["groups"]:
        mine = [r for r in server.records if r["botId"] == group["key"]["bot"]]
        assert Decimal(group["cost"]) == cost_by_hand(mine)[0]
    assert sum(Decimal(g["cost"]) for g in data["groups"]) == total
    covered = sum(r["count"] for r in server.records) - sum(unpriced.values())
    assert data["total"]["coverage"] == round(covered / data["total"]["count"], 6)


def test_summary_cost_table_calls_out_the_unpriced_and_the_hash(cli: Any) -> None:
    result = cli("summary", "--by", "type", "--cost", "-o", "table")
    assert result.code == 0, result.err
    assert "unpriced" in result.out
    assert "not $0" in result.out
    assert hashlib.sha256(BUNDLED).hexdigest() in result.out
    row = next(line for line in result.out.splitlines() if "CHATBOTKIT_CONVERSATION" in line)
    assert "unpriced" in row
    assert "$0.00" not in row


def test_summary_cost_csv_and_sort_by_cost(cli: Any) -> None:
    result = cli("summary", "--by", "type", "--sort", "cost", "-o", "csv")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out, newline="")))
    assert {"cost", "costShare", "unpricedCount", "pricesSha256"} <= set(rows[0])
    costs = [Decimal(row["cost"]) for row in rows if row["cost"]]
    assert costs == sorted(costs, reverse=True)
    assert {row["pricesSha256"] for row in rows} == {hashlib.sha256(BUNDLED).hexdigest()}
    # A type no price covers has no cost (an empty cell), never 0, and comes last.
    unpriced = [row for row in rows if row["type"].startswith("CHATBOTKIT_")]
    assert unpriced
    assert all(row["cost"] == "" and row["costShare"] == "" for row in unpriced)
    assert rows[-len(unpriced) :] == unpriced


def test_unpriced_groups_have_no_cost_in_json_and_no_verdict_in_check(cli: Any) -> None:
    summary = json.loads(cli("summary", "--by", "type", "--cost", "-o", "json").out)
    groups = {g["key"]["type"]: g for g in summary["groups"]}
    assert groups["CHATBOTKIT_CONVERSATION"]["cost"] is None
    assert groups["CHATBOTKIT_CONVERSATION"]["costShare"] is None
    assert groups["OPENAI_GPT_4O_TOKEN"]["cost"] not in (None, "0")
    checked = cli(
        "check", "--since", "2026-01-01", "--by", "type", "--max-cost", "1000", "-o", "json"
    )
    assert checked.code == 0, checked.err
    results = {r["group"]["type"]: r for r in json.loads(checked.out)["results"]}
    conversation = results["CHATBOTKIT_CONVERSATION"]
    assert (conversation["status"], conversation["value"]) == ("unpriced", None)
    assert results["OPENAI_GPT_4O_TOKEN"]["status"] == "ok"
    assert "note: cost limits cover priced usage only" in checked.err


def test_a_custom_price_file_changes_the_figures_and_the_hash(cli: Any, tmp_path: Path) -> None:
    text = (
        'version = "contract"\n[[price]]\ntype = "OPENAI_GPT_4O_TOKEN"\nprice = 10\n'
        'per = 1_000_000\nsource = "our contract"\n'
    )
    path = price_file(tmp_path, text)
    plain = json.loads(cli("summary", "--cost", "-o", "json").out)
    custom = json.loads(cli("summary", "--cost", "--prices", path, "-o", "json").out)
    assert custom["prices"]["sha256"] == hashlib.sha256(BUNDLED + text.encode()).hexdigest()
    assert custom["prices"]["sha256"] != plain["prices"]["sha256"]

    def gpt(data: dict[str, Any]) -> Decimal:
        group = next(g for g in data["groups"] if g["key"]["type"] == "OPENAI_GPT_4O_TOKEN")
        assert group["cost"] is not None
        per_unit: Decimal = Decimal(group["cost"]) * 1_000_000 / group["count"]
        return per_unit

    assert gpt(plain) == Decimal("4.375")
    assert gpt(custom) == Decimal(10)


def test_prices_come_from_the_environment_and_the_profile(cli: Any, tmp_path: Path) -> None:
    text = 'version = "env"\n[[price]]\ntype = "CHATBOTKIT_*"\nprice = 1\nsource = "s"\n'
    path = price_file(tmp_path, text)
    env = json.loads(cli("prices", "-o", "json", env={"USAGE_PRICES": path}).out)
    assert [table["origin"] for table in env["tables"]] == ["bundled", path]
    config = tmp_path / "config.toml"
    run_in_memory(["config", "set", "prices", path], env={"USAGE_CONFIG": str(config)})
    profiled = run_in_memory(["prices", "-o", "json"], env={"USAGE_CONFIG": str(config)})
    assert json.loads(profiled.out)["sha256"] == env["sha256"]
    shown = run_in_memory(["config", "show"], env={"USAGE_CONFIG": str(config)})
    assert f"prices   {path}" in shown.out


def test_list_cost_column(cli: Any, server: Sandbox) -> None:
    result = cli("list", "--all", "--columns", "id,type,count,cost")
    assert result.code == 0, result.err
    assert hashlib.sha256(BUNDLED).hexdigest() in result.err
    rows = list(csv.DictReader(io.StringIO(result.out, newline="")))
    by_id = {r["id"]: r for r in server.records}
    for row in rows:
        cost, unpriced = cost_by_hand([by_id[row["id"]]])
        assert row["cost"] == ("" if unpriced else prices.exact(cost))
    table = cli("list", "--columns", "id,type,cost", "-o", "table", "--limit", "50")
    assert "unpriced" in table.out
    assert "$" in table.out


def test_list_refuses_prices_without_a_cost_column(cli: Any, server: Sandbox) -> None:
    result = cli("list", "--prices", "x.toml")
    assert result.code == 2
    assert "--columns ...,cost" in result.err
    assert server.requests == []


def test_usage_prices_shows_the_table_and_where_each_entry_came_from(tmp_path: Path) -> None:
    path = price_file(
        tmp_path, 'version = "v"\n[[price]]\ntype = "X_TOKEN"\nprice = 1\nsource = "mine"\n'
    )
    data = json.loads(run_in_memory(["prices", "--prices", path, "-o", "json"]).out)
    origins = [entry["origin"] for entry in data["entries"]]
    assert origins[0] == path
    assert set(origins) == {path, "bundled"}
    only = json.loads(run_in_memory(["prices", "OPENAI_GPT_4O_MINI_TOKEN", "-o", "json"]).out)
    assert only["entries"][0]["type"] == "OPENAI_GPT_4O_MINI*"
    assert {e["type"] for e in only["entries"]} == {"OPENAI_GPT_4O_MINI*", "OPENAI_GPT_4O*"}
    table = run_in_memory(["prices", "-o", "table"], tty=True, width=200)
    assert "bundled" in table.out
    assert f"(sha256 {hashlib.sha256(BUNDLED).hexdigest()[:12]}…)" in table.out
    narrow = run_in_memory(["prices", "-o", "table", "--no-color"], tty=True, width=60)
    # usage prices has --wide, not --columns: the note names only what it has.
    assert "hidden: " in narrow.out
    assert "--wide shows them" in narrow.out
    assert "--columns" not in narrow.out
    piped = run_in_memory(["prices", "-o", "table"])  # off a terminal: whole
    assert hashlib.sha256(BUNDLED).hexdigest() in piped.out


# summary --compare --------------------------------------------------------------

WINDOW = ("--since", "2026-01-24", "--until", "2026-01-30")


def exported(cli: Any, tmp_path: Path, since: str, until: str) -> list[dict[str, Any]]:
    target = tmp_path / f"{since}.jsonl"
    done = cli("export", str(target), "--since", since, "--until", until)
    assert done.code == 0, done.err
    return [json.loads(line) for line in target.read_text().splitlines()]


def test_compare_previous_matches_a_hand_computation_from_exports(cli: Any, tmp_path: Path) -> None:
    result = cli("summary", *WINDOW, "--by", "bot", "--compare", "previous", "-o", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["previous"] == {
        "since": "2026-01-17T00:00:00.000Z",
        "until": "2026-01-23T23:59:59.999Z",
    }
    now = exported(cli, tmp_path, "2026-01-24", "2026-01-30")
    before = exported(cli, tmp_path, "2026-01-17", "2026-01-23")

    def per_bot(records: list[dict[str, Any]]) -> dict[Any, int]:
        totals: dict[Any, int] = defaultdict(int)
        for record in records:
            totals[record["botId"]] += record["count"]
        return dict(totals)

    mine, theirs = per_bot(now), per_bot(before)
    for group in data["groups"]:
        bot = group["key"]["bot"]
        assert group["count"] == mine.get(bot)
        assert group["previousCount"] == theirs.get(bot)
        if bot in mine and bot in theirs:
            assert group["countChange"] == mine[bot] - theirs[bot]
            ratio = round((mine[bot] - theirs[bot]) / theirs[bot], 6)
            assert group["countChangeRatio"] == pytest.approx(ratio)
    assert data["total"]["count"] == sum(mine.values())
    assert data["total"]["previousCount"] == sum(theirs.values())


def test_groups_that_appear_or_vanish_are_new_or_gone_not_zero(cli: Any) -> None:
    result = cli("summary", *WINDOW, "--by", "task", "--compare", "7d", "-o", "json")
    data = json.loads(result.out)
    statuses = {g["status"] for g in data["groups"]}
    assert statuses <= {"new", "gone", "both"}
    for group in data["groups"]:
        if group["status"] == "new":
            assert group["previousCount"] is None
            assert group["countChange"] is None
        if group["status"] == "gone":
            assert group["count"] is None
            assert group["previousCount"] > 0


def test_compare_csv_and_table_with_cost(cli: Any) -> None:
    csv_out = cli(
        "summary", *WINDOW, "--by", "type", "--compare", "previous", "--cost", "-o", "csv"
    )
    assert csv_out.code == 0, csv_out.err
    rows = list(csv.DictReader(io.StringIO(csv_out.out, newline="")))
    assert {
        "status",
        "previousCount",
        "countChange",
        "cost",
        "previousCost",
        "pricesSha256",
    } <= set(rows[0])
    table = cli("summary", *WINDOW, "--by", "bot", "--compare", "previous", "-o", "table")
    assert table.code == 0, table.err
    assert "previous" in table.out
    assert "against" in table.out


def _window_cost(records: list[dict[str, Any]], window: dict[str, str]) -> Decimal:
    since, until = (
        int(datetime.fromisoformat(window[end]).timestamp() * 1000) for end in ("since", "until")
    )
    inside = [r for r in records if since <= r["createdAt"] <= until]
    return cost_by_hand(inside)[0]


@pytest.mark.parametrize("width", [60, 80, 140])
def test_the_compare_table_with_cost_at_a_terminal_shows_what_is_unpriced(width: int) -> None:
    # The README's "this week against the last": groups unpriced in both windows
    # have no cost change (null), which the table once fed to Decimal (exit 1).
    words = ["summary", "--demo", "--since", "7d", "--by", "type", "--compare", "previous"]
    # The demo's records end at the start of today (UTC): a clock an hour later.
    moment = default_anchor() + timedelta(hours=1)

    def at() -> Any:
        return lambda: moment

    shown = run_in_memory([*words, "--cost", "--no-color"], tty=True, width=width, now=at())
    assert shown.code == 0, shown.err
    data = json.loads(run_in_memory([*words, "--cost", "-o", "json"], now=at()).out)
    records = run_in_memory(["list", "--demo", "--all", "-o", "jsonl"], now=at()).jsonl()
    now, before = _window_cost(records, data["window"]), _window_cost(records, data["previous"])
    assert Decimal(data["total"]["cost"]) == now
    assert Decimal(data["total"]["previousCost"]) == before
    lines = [line.strip("│ ") for line in shown.out.splitlines()]  # boxed at 140
    total = next(line for line in lines if line.startswith("total"))
    if width >= 80:  # the cost columns fit; at 60 they are named as hidden
        assert f"{prices.shown(now)}*" in total
    else:
        assert "cost" in next(line for line in lines if line.startswith("hidden:"))
    if width == 140:
        assert f"{prices.shown(before)}*" in total
        assert f"{prices.shown(now - before)}*" in total
        assert re.search(r"CHATBOTKIT_MESSAGE .* unpriced [│ ]+unpriced [│ ]+— ", shown.out)
    notes = " ".join(lines[lines.index(total) :])
    below = shown.out.splitlines()[
        [line.strip("│ ") for line in shown.out.splitlines()].index(total) + 1 :
    ]
    # Notes wrap between words to the terminal, continuations indented; the hash is short.
    assert all(len(line) <= width for line in below if not line.startswith(("└", "─"))), below
    assert any(line.startswith("  ") for line in below)
    assert re.search(r"\(sha256 [0-9a-f]{12}…\)", shown.out)
    assert "unpriced (no price in the table, not $0): " in notes
    assert "CHATBOTKIT_MESSAGE (count" in notes
    assert "% of its count" in notes
    # Every group is in both windows: nothing to explain about new and gone.
    assert {g["status"] for g in data["groups"]} == {"both"}
    assert "new and gone" not in shown.out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--compare", "previous"], "needs a --since"),
        ([*WINDOW, "--by", "day", "--compare", "previous"], "cannot group by day"),
        ([*WINDOW, "--compare", "lastweek"], "neither 'previous', a span (7d) nor dates"),
        ([*WINDOW, "--compare", "previus"], "--compare 'previus': did you mean 'previous'?"),
        ([*WINDOW, "--compare", "2026-01-10..2026-01-01"], "start is after its end"),
        # A baseline that shares a moment with the window counts records twice.
        ([*WINDOW, "--compare", "2026-01-24..2026-01-30"], "overlaps the window"),
        ([*WINDOW, "--compare", "2026-01-20..2026-01-24"], "overlaps the window"),
        ([*WINDOW, "--compare", "1d"], "baseline 2026-01-23 00:00:00 .. 2026-01-29 23:59:59"),
    ],
)
def test_bad_compare_is_exit_2_before_any_request(
    cli: Any, server: Sandbox, args: list[str], fragment: str
) -> None:
    result = cli("summary", *args)
    assert result.code == 2
    assert fragment in result.err.splitlines()[0]
    assert server.requests == []


# usage check ---------------------------------------------------------------------


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(generate_records(1500, seed=3, anchor=ANCHOR), token=TOKEN)


def window_total(emulator: Emulator, days: int = 30) -> tuple[int, Decimal]:
    low = ANCHOR_MS - days * DAY_MS
    records = [r for r in emulator.records if r["createdAt"] >= low]
    return sum(r["count"] for r in records), cost_by_hand(records)[0]


def test_check_exits_0_under_a_generous_budget_7_over_a_tight_one_and_warns_between(
    emulator: Emulator,
) -> None:
    count, cost = window_total(emulator, 7)
    assert ThresholdBreached.exit_code == 7
    generous = online(emulator, "check", "--since", "7d", "--max-cost", str(cost * 10))
    assert generous.code == 0, generous.err
    assert json.loads(generous.out)["status"] == "ok"
    tight = online(emulator, "check", "--since", "7d", "--max-cost", str(cost / 2))
    assert tight.code == 7
    assert tight.err.splitlines()[-1].startswith("error: 1 of 1 checks breached")
    assert json.loads(tight.out)["status"] == "breach"
    between = online(
        emulator, "check", "--since", "7d", "--max-count", str(int(count * 1.1)), "--warn-at", "80%"
    )
    assert between.code == 0, between.err
    assert "warning: near a limit" in between.err
    assert json.loads(between.out)["results"][0]["status"] == "warn"


def test_check_per_group_with_a_selector(emulator: Emulator) -> None:
    done = online(
        emulator,
        "check",
        "--since",
        "30d",
        "--by",
        "bot",
        "--max-count",
        "type=OPENAI_GPT_4O_TOKEN:20k",
    )
    data = json.loads(done.out)
    for result in data["results"]:
        bot = result["group"]["bot"]
        expected = sum(
            r["count"]
            for r in emulator.records
            if r["botId"] == bot and r["type"] == "OPENAI_GPT_4O_TOKEN"
        )
        assert result["value"] == expected
        assert result["status"] == ("breach" if expected > 20_000 else "ok")
    assert done.code == (7 if any(r["status"] == "breach" for r in data["results"]) else 0)


def test_check_flags_the_spike_the_sandbox_was_seeded_with() -> None:
    records = generate_records(1500, seed=3, anchor=ANCHOR)
    quiet = Emulator(records, token=TOKEN)
    args = ("check", "--since", "1d", "--by", "bot", "--spike", "3x")
    calm = online(quiet, *args)
    spiked = online(Emulator(with_spike(records, 30, at_ms=ANCHOR_MS), token=TOKEN), *args)
    assert spiked.code == 7, spiked.err
    flagged = [r for r in json.loads(spiked.out)["results"] if r["status"] == "breach"]
    assert [r["group"]["bot"] for r in flagged] == [SPIKE_BOT]
    # Its baseline: the median of bot_2's count in each of the 7 days before.
    days = [
        sum(
            r["count"]
            for r in records
            if r["botId"] == SPIKE_BOT
            and ANCHOR_MS - (k + 1) * DAY_MS <= r["createdAt"] < ANCHOR_MS - k * DAY_MS
        )
        for k in range(1, 8)
    ]
    assert Decimal(str(flagged[0]["baseline"])) == Decimal(statistics.median(days))
    assert SPIKE_BOT not in [
        r["group"]["bot"] for r in json.loads(calm.out)["results"] if r["status"] == "breach"
    ]


def test_a_spike_with_no_baseline_gives_no_verdict_and_says_so(emulator: Emulator) -> None:
    # 30 days of data: the seven 30-day windows before hold nothing whole (the
    # one just before holds the data's first hours), which once breached all.
    args = ("check", "--since", "30d", "--by", "bot", "--spike", "3x")
    done = online(emulator, *args, "-o", "json")
    assert done.code == 0, done.err
    data = json.loads(done.out)
    assert (data["status"], data["results"]) == ("none", [])
    assert data["spikeBaseline"] == {"windows": 7, "withRecords": 0}
    assert "note: --spike gives no verdict: none of the 7 earlier windows" in done.err
    markdown = online(emulator, *args, "-o", "markdown")
    assert (markdown.code, markdown.out.splitlines()[0]) == (0, "### usage check: no verdict")


def test_a_spike_leaves_out_earlier_windows_with_no_data(emulator: Emulator) -> None:
    done = online(emulator, "check", "--since", "6d", "--by", "bot", "--spike", "3x", "-o", "json")
    assert done.code in (0, 7), done.err
    data = json.loads(done.out)
    # Windows of 6 days back from the anchor: the 30 days of data reach four; the
    # three older are empty, and the oldest of the four is where the data starts,
    # so it may hold only part of a window: left out too.
    assert data["spikeBaseline"] == {"windows": 7, "withRecords": 3}
    assert "the median is of the 3 earlier windows with whole data; 4 are left out" in done.err
    # Both ends inclusive: a window of 6 days is 6 days and a millisecond long.
    since, length = ANCHOR_MS - 6 * DAY_MS, 6 * DAY_MS + 1
    for result in data["results"]:
        days = [
            sum(
                r["count"]
                for r in emulator.records
                if r["botId"] == result["group"]["bot"]
                and since - k * length <= r["createdAt"] <= ANCHOR_MS - k * length
            )
            for k in range(1, 4)
        ]
        assert Decimal(str(result["baseline"])) == Decimal(statistics.median(days))


@pytest.mark.parametrize("hour", range(0, 24, 6))
def test_the_demo_flags_only_the_runaway_at_any_time_of_day(hour: int) -> None:
    # The demo's data ends at the start of the day; a check's window is the 24
    # hours before the clock, whatever its hour.
    anchor = default_anchor()
    moment = anchor + timedelta(hours=hour, minutes=17)
    records = generate_records(1000, seed=DEMO_SEED, anchor=anchor)
    spike = ("check", "--since", "1d", "--spike", "3x")
    for by in ((), ("--by", "bot"), ("--by", "type")):
        calm = online(Emulator(records, token=TOKEN), *spike, *by, now=lambda: moment)
        assert calm.code == 0, calm.err
    for count in (1000, 500):  # `usage sandbox --spike 30`, and the docs' scene
        seeded = generate_records(count, seed=DEMO_SEED, anchor=anchor)
        runaway = with_spike(seeded, 30, seed=DEMO_SEED, at_ms=int(moment.timestamp() * 1000))
        done = online(Emulator(runaway, token=TOKEN), *spike, "--by", "bot", now=lambda: moment)
        assert done.code == 7
        flagged = [r["group"]["bot"] for r in json.loads(done.out)["results"]]
        breached = [
            r["group"]["bot"] for r in json.loads(done.out)["results"] if r["status"] == "breach"
        ]
        assert breached == [SPIKE_BOT], flagged


def test_the_sandbox_serves_a_spike(server: Sandbox) -> None:
    with Sandbox(records=50, seed=2, token=TOKEN, spike=5) as spiked:
        assert len(spiked.records) == 55
        assert sum(1 for r in spiked.records if r["id"].startswith("rec_spike")) == 5


def test_check_markdown_and_table(emulator: Emulator) -> None:
    markdown = online(emulator, "check", "--since", "7d", "--max-records", "1", "-o", "markdown")
    assert markdown.code == 7
    assert markdown.out.startswith("### usage check: 1 breached")
    assert "| ❌ breach | --max-records 1 | overall |" in markdown.out
    table = online(
        emulator, "check", "--since", "7d", "--max-cost", "1000", "-o", "table", tty=True, width=150
    )
    assert table.code == 0, table.err
    assert "ok" in table.out
    # On a terminal the hash is shortened (JSON and CSV carry it whole).
    digest = hashlib.sha256(BUNDLED).hexdigest()
    assert f"(sha256 {digest[:12]}…)" in table.out
    assert digest not in table.out
    # The window as summary --compare spells one: times as a person reads them.
    moment = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert re.search(rf"^window {moment} \.\. {moment} \(UTC\)$", table.out, re.MULTILINE)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "nothing to check"),
        (["--max-count", "2Q"], "cannot read '2Q' as an amount"),
        (["--max-count", "1.5"], "not a whole number"),
        (["--max-count", "nope=x:5"], "unknown group 'nope'"),
        (["--max-count", "type=X"], "DIMENSION=VALUE:AMOUNT"),
        (["--by", "bots", "--max-cost", "5"], "did you mean 'bot'"),
        (["--by", "day", "--max-cost", "5"], "cannot group by 'day': a check measures one"),
        (["--max-cost", "5", "--warn-at", "120%"], "--warn-at"),
        (["--spike", "0.5x"], "above 1"),
        (["--spike", "money:3x"], "cannot measure"),
        (["--spike", "3x", "--baseline", "0"], "--baseline"),
        (["--max-cost", "5", "--spike-floor", "3"], "--spike-floor goes with --spike"),
        (["--spike", "records:2x", "--spike-floor", "$5"], "is money, but --spike"),
        (["--max-cost", "5", "-o", "csv"], "--format"),
    ],
)
def test_bad_thresholds_are_exit_2_before_any_request(
    cli: Any, server: Sandbox, args: list[str], fragment: str
) -> None:
    result = cli("check", *args)
    assert result.code == 2, result.err
    assert fragment in result.err.splitlines()[0]
    assert server.requests == []


def test_an_unknown_check_group_is_hinted_with_checks_groups_only(
    cli: Any, server: Sandbox
) -> None:
    result = cli("check", "--by", "robot", "--max-cost", "5")
    assert result.code == 2
    error, hint = result.err.splitlines()[:2]
    assert error == "error: --by: unknown group 'robot' (did you mean 'bot'?)"
    assert hint.startswith("hint: groups: type, bot,")
    assert not any(bucket in hint for bucket in ("hour", "day", "week", "month"))
    assert server.requests == []


def test_a_check_group_that_matches_nothing_is_warned_of(emulator: Emulator) -> None:
    done = online(
        emulator,
        "check",
        "--max-count",
        "type=NOPE_TYPE:1",
        "--max-count",
        "type=OPENAI_GPT_4O_TOKEN:1G",
        "-o",
        "json",
    )
    assert done.code == 0, done.err
    warnings = [line for line in done.err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: --max-count type=NOPE_TYPE:1: no record in the window has type=NOPE_TYPE, "
        "so the rule checks nothing (usage summary --by type lists them)"
    ]


# The archive answers as the API does ---------------------------------------------


def test_cost_compare_and_check_read_the_archive_as_online(
    emulator: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    assert online(emulator, "sync", "--db", str(db)).code == 0

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"an offline read sent a request: {request.url}")

    for words in (
        ("summary", "--by", "bot", "--cost", "-o", "json"),
        ("summary", "--by", "type", "--by", "week", "--cost", "-o", "csv"),
        ("summary", "--by", "meta.reason", "--cost", "-o", "json"),
        ("summary", *WINDOW, "--by", "type", "--compare", "previous", "--cost", "-o", "json"),
        ("check", "--since", "1d", "--by", "bot", "--spike", "3x", "--max-cost", "0.5"),
    ):
        live = online(emulator, *words)
        kept = run_in_memory(
            [*words, "--db", str(db)], transport=httpx.MockTransport(refuse), now=at()
        )
        assert kept.code == live.code, kept.err
        assert kept.out == live.out


def test_overlapping_prices_name_both_entries(cli: Any, tmp_path: Path) -> None:
    path = price_file(
        tmp_path,
        'version = "t"\n'
        '[[price]]\ntype = "X*"\nprice = 1\nsource = "s"\nfrom = 2025-01-01\n'
        '[[price]]\ntype = "Y"\nprice = 1\nsource = "s"\n'
        '[[price]]\ntype = "X*"\nprice = 2\nsource = "s"\nfrom = 2025-06-01\nuntil = 2025-09-01\n',
    )
    done = cli("summary", "--cost", "--prices", path)
    assert done.code == 2
    assert (
        "X* has two prices in force at once: entries 1 (from 2025-01-01 on) and 3 "
        "(from 2025-06-01 until 2025-09-01) of its file overlap"
    ) in done.err


def test_change_percent_cells_group_thousands_and_no_change_has_no_sign() -> None:
    import re

    from usage_cli.reports.tables import percent_change

    cells = [percent_change(value) for value in (None, 0, 0.5, -0.246, 154.215)]
    assert cells == ["", "0.0%", "+50.0%", "-24.6%", "+15,421.5%"]
    assert all(re.fullmatch(r"|0\.0%|[+-][\d,]+\.\d%", cell) for cell in cells)
