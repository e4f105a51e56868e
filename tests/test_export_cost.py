"""`usage export --cost`: a cost column for CSV, the price table in the manifest, verify, resume."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from usage_cli import prices
from usage_cli.columns import CSV_COLUMNS
from usage_cli.sandbox import Emulator, Sandbox, generate_records

from .conftest import ANCHOR, TOKEN, FailAfter, Result, run_in_memory
from .test_export import export, manifest_of

BUNDLED = prices.bundled_bytes()
BUNDLED_SHA256 = hashlib.sha256(BUNDLED).hexdigest()
API = "http://sandbox.test"
# The bundled table's prices per million for the sandbox's model types (every
# sandbox record is after 2025-05-22, when these are in force); the rest are
# platform operations, which it leaves unpriced.
PER_MILLION = {
    "OPENAI_GPT_4O_MINI_TOKEN": Decimal("0.2625"),
    "OPENAI_GPT_4O_TOKEN": Decimal("4.375"),
    "ANTHROPIC_CLAUDE_SONNET_4_TOKEN": Decimal("6.00"),
}
CONTRACT = (
    'version = "acme-2026"\n'
    '[[price]]\ntype = "CHATBOTKIT_CONVERSATION"\nprice = 0.002\nsource = "order form"\n'
)


def by_hand(record: dict[str, Any]) -> Decimal | None:
    price = PER_MILLION.get(record["type"])
    return None if price is None else Decimal(record["count"]) * price / 1_000_000


def rows_of(path: Path) -> list[dict[str, str]]:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def header_of(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def price_file(tmp_path: Path, text: str, name: str = "prices.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# The column and the manifest ------------------------------------------------------


def test_the_cost_column_matches_a_hand_computation_and_unpriced_cells_are_empty(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "costed.csv"
    done = export(cli, target, "--cost")
    assert done.code == 0, done.err
    assert header_of(target) == [*CSV_COLUMNS, "cost"]
    rows = rows_of(target)
    assert [row["id"] for row in rows] == [r["id"] for r in server.records]
    total = Decimal(0)
    unpriced: dict[str, int] = defaultdict(int)
    unpriced_records = 0
    for row, record in zip(rows, server.records, strict=True):
        cost = by_hand(record)
        if cost is None:
            assert row["cost"] == ""  # unpriced: empty, never 0
            unpriced[record["type"]] += record["count"]
            unpriced_records += 1
        else:
            assert Decimal(row["cost"]) == cost
            assert row["cost"] == prices.exact(cost)
            total += cost
    assert unpriced  # the sandbox has both
    assert total
    # Every other column is the contract's CSV, as an export without --cost writes it.
    plain = tmp_path / "plain.csv"
    assert export(cli, plain).code == 0
    assert [{k: v for k, v in row.items() if k != "cost"} for row in rows] == rows_of(plain)

    money = manifest_of(target)["prices"]
    assert Decimal(money["cost"]) == total
    assert money["cost"] == prices.exact(total)
    assert money["unpriced"] == {
        "records": unpriced_records,
        "count": sum(unpriced.values()),
        "types": dict(sorted(unpriced.items())),
    }
    count_total = sum(r["count"] for r in server.records)
    assert money["pricedCount"] == count_total - sum(unpriced.values())
    assert money["coverage"] == round(money["pricedCount"] / count_total, 6)
    assert money["currency"] == "USD"
    # The hash `usage prices` shows for the table in effect.
    shown = cli("prices", "-o", "json")
    assert money["sha256"] == json.loads(shown.out)["sha256"] == BUNDLED_SHA256
    assert money["tables"] == [
        {"origin": "bundled", "version": prices.load().layers[0].version, "sha256": BUNDLED_SHA256}
    ]
    # The same total `usage summary --cost` reports for the same records.
    summary = json.loads(cli("summary", "--cost", "-o", "json").out)
    assert summary["total"]["cost"] == money["cost"]
    assert BUNDLED_SHA256 in done.err
    assert "cost $" in done.err


def test_an_export_without_cost_is_unchanged(cli: Any, server: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "plain.csv"
    assert export(cli, target).code == 0
    assert header_of(target) == list(CSV_COLUMNS)
    assert "prices" not in manifest_of(target)
    assert "prices:" not in cli("verify", str(target)).out


def test_a_price_file_changes_the_figures_and_its_hash_is_in_the_manifest(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    path = price_file(tmp_path, CONTRACT)
    target = tmp_path / "contract.csv"
    assert export(cli, target, "--cost", "--prices", path).code == 0
    money = manifest_of(target)["prices"]
    assert money["sha256"] == hashlib.sha256(BUNDLED + CONTRACT.encode()).hexdigest()
    shown = json.loads(cli("prices", "--prices", path, "-o", "json").out)
    assert money["sha256"] == shown["sha256"]
    assert [t["origin"] for t in money["tables"]] == ["bundled", path]
    assert money["tables"][1]["version"] == "acme-2026"
    assert "CHATBOTKIT_CONVERSATION" not in money["unpriced"]["types"]
    conversations = [r for r in server.records if r["type"] == "CHATBOTKIT_CONVERSATION"]
    assert conversations
    expected = Decimal(0)
    for record in server.records:
        cost = by_hand(record)
        if record["type"] == "CHATBOTKIT_CONVERSATION":
            cost = Decimal(record["count"]) * Decimal("0.002")
        expected += cost or 0
    assert Decimal(money["cost"]) == expected
    assert cli("verify", str(target)).code == 0


def test_money_in_the_manifest_is_exact_where_floats_would_be_wrong(tmp_path: Path) -> None:
    path = price_file(
        tmp_path,
        'version = "t"\nreplace = true\n[[price]]\ntype = "CHATBOTKIT_TASK_RUN"\nprice = 0.1\n'
        'source = "test"\n',
    )
    records = [
        {**r, "type": "CHATBOTKIT_TASK_RUN", "count": 1}
        for r in generate_records(3, seed=5, anchor=ANCHOR)
    ]
    target = tmp_path / "tasks.csv"
    done = run_in_memory(
        ["--api-url", API, "--token", TOKEN, "export", str(target), "--cost", "--prices", path],
        transport=Emulator(records, token=TOKEN).transport(),
    )
    assert done.code == 0, done.err
    assert [row["cost"] for row in rows_of(target)] == ["0.1", "0.1", "0.1"]
    assert manifest_of(target)["prices"]["cost"] == "0.3"  # 0.1 + 0.1 + 0.1 != 0.3 in floats
    assert manifest_of(target)["prices"]["coverage"] == 1.0


def test_cost_to_stdout_and_gzip(cli: Any, server: Sandbox, tmp_path: Path) -> None:
    out = export(cli, "-", "-o", "csv", "--cost")
    assert out.code == 0, out.err
    rows = list(csv.DictReader(io.StringIO(out.out, newline="")))
    assert len(rows) == len(server.records)
    assert BUNDLED_SHA256 in out.err
    packed = tmp_path / "costed.csv.gz"
    assert export(cli, packed, "--cost").code == 0
    assert rows_of(packed) == rows
    verified = cli("verify", str(packed))
    assert verified.code == 0, verified.err
    assert f"cost {manifest_of(packed)['prices']['cost']} USD" in verified.out


# verify ------------------------------------------------------------------------------


def test_verify_passes_a_costed_file_and_catches_an_edited_cost(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "costed.csv"
    assert export(cli, target, "--cost").code == 0
    ok = cli("verify", str(target))
    assert ok.code == 0, ok.err
    manifest_file = target.with_name("costed.csv.manifest.json")
    original = manifest_file.read_text()

    # A cell changed: the hash says so, and the column no longer adds up.
    data = target.read_bytes()
    row = next(r for r in rows_of(target) if r["cost"])
    edited = data.replace(f",{row['cost']}\r\n".encode(), f",{row['cost']}1\r\n".encode(), 1)
    assert edited != data
    target.write_bytes(edited)
    caught = cli("verify", str(target))
    assert caught.code == 6
    assert "the cost column sums to" in caught.err
    target.write_bytes(data)

    # The manifest's claim changed, the file intact: the column does not make it.
    manifest = json.loads(original)
    manifest["prices"]["cost"] = str(Decimal(manifest["prices"]["cost"]) + 1)
    manifest_file.write_text(json.dumps(manifest))
    claimed = cli("verify", str(target))
    assert claimed.code == 6
    assert "the cost column sums to" in claimed.err

    manifest = json.loads(original)
    manifest["prices"]["unpriced"]["types"]["CHATBOTKIT_CONVERSATION"] += 1
    manifest["prices"]["unpriced"]["count"] += 1
    manifest_file.write_text(json.dumps(manifest))
    assert "unpriced" in cli("verify", str(target)).err

    # The prices taken out of the manifest: a cost column it does not account for.
    manifest = json.loads(original)
    del manifest["prices"]
    manifest_file.write_text(json.dumps(manifest))
    bare = cli("verify", str(target))
    assert bare.code == 6
    assert "a cost column, but the manifest has no prices" in bare.err

    manifest_file.write_text(original)
    assert cli("verify", str(target)).code == 0


# --partition ... -o csv -------------------------------------------------------------


def test_partitioned_csv_parts_with_cost(cli: Any, server: Sandbox, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    done = export(cli, folder, "--partition", "day", "-o", "csv", "--cost")
    assert done.code == 0, done.err
    manifest = json.loads(folder.with_name("set.manifest.json").read_text())
    costs: list[Decimal] = []
    seen = 0
    by_id = {r["id"]: r for r in server.records}
    for part in manifest["parts"]:
        with gzip.open(folder / part["path"], "rt", encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            assert reader.fieldnames == [*CSV_COLUMNS, "cost"]
            for row in reader:
                seen += 1
                cost = by_hand(by_id[row["id"]])
                assert row["cost"] == ("" if cost is None else prices.exact(cost))
                if cost is not None:
                    costs.append(cost)
    assert seen == len(server.records)
    assert Decimal(manifest["prices"]["cost"]) == sum(costs, Decimal(0))
    single = tmp_path / "one.csv"
    assert export(cli, single, "--cost").code == 0
    assert manifest["prices"] == manifest_of(single)["prices"]
    verified = cli("verify", str(folder))
    assert verified.code == 0, verified.err
    assert "cost " in verified.out

    manifest["prices"]["cost"] = "0"
    folder.with_name("set.manifest.json").write_text(json.dumps(manifest))
    caught = cli("verify", str(folder))
    assert caught.code == 6
    assert "the cost column sums to" in caught.err


def test_partitioned_jsonl_without_cost_has_no_prices(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    folder = tmp_path / "set"
    assert export(cli, folder, "--partition", "month").code == 0
    assert "prices" not in json.loads(folder.with_name("set.manifest.json").read_text())


# Resume -------------------------------------------------------------------------------


def test_resume_keeps_the_cost_and_refuses_another_choice_or_table(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "costed.csv"
    path = price_file(tmp_path, CONTRACT)
    failed = export(
        cli,
        target,
        "--take",
        "20",
        "--cost",
        "--prices",
        path,
        transport=FailAfter(3),
    )  # three pages in, then the API fails
    assert failed.code == 5
    checkpoint = json.loads((tmp_path / ".costed.csv.checkpoint.json").read_text())
    assert checkpoint["version"] == 3
    assert checkpoint["prices"]["sha256"] == hashlib.sha256(BUNDLED + CONTRACT.encode()).hexdigest()
    assert checkpoint["stats"]["records"] == 60

    server.requests.clear()
    without = export(cli, target, "--take", "20", "--resume")
    assert without.code == 2
    assert "--cost (used then, not now)" in without.err
    other = export(cli, target, "--take", "20", "--resume", "--cost")  # the bundled table alone
    assert other.code == 2
    assert "price table (sha256" in other.err
    # The same path, its prices changed since.
    Path(path).write_text(CONTRACT.replace("0.002", "0.003"), encoding="utf-8")
    changed = export(cli, target, "--take", "20", "--resume", "--cost", "--prices", path)
    assert changed.code == 2
    assert "price table (sha256" in changed.err
    assert server.requests == []

    Path(path).write_text(CONTRACT, encoding="utf-8")
    resumed = export(cli, target, "--take", "20", "--resume", "--cost", "--prices", path)
    assert resumed.code == 0, resumed.err
    fresh = tmp_path / "fresh" / "costed.csv"
    fresh.parent.mkdir()
    assert export(cli, fresh, "--take", "20", "--cost", "--prices", path).code == 0
    assert fresh.read_bytes() == target.read_bytes()
    assert manifest_of(fresh)["prices"] == manifest_of(target)["prices"]
    assert cli("verify", str(target)).code == 0


def test_resume_with_cost_of_an_export_without_it_is_refused(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "plain.csv"
    assert export(cli, target, "--take", "20", transport=FailAfter(2)).code == 5
    checkpoint = json.loads((tmp_path / ".plain.csv.checkpoint.json").read_text())
    assert checkpoint["version"] == 2
    assert "prices" not in checkpoint
    server.requests.clear()
    refused = export(cli, target, "--take", "20", "--resume", "--cost")
    assert refused.code == 2
    assert "--cost (not used then, used now)" in refused.err
    assert server.requests == []
    assert export(cli, target, "--take", "20", "--resume").code == 0


def test_a_damaged_cost_tally_in_a_checkpoint_is_refused(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "costed.csv"
    assert export(cli, target, "--take", "20", "--cost", transport=FailAfter(2)).code == 5
    saved = tmp_path / ".costed.csv.checkpoint.json"
    checkpoint = json.loads(saved.read_text())
    checkpoint["prices"]["pricedCount"] += 1
    saved.write_text(json.dumps(checkpoint))
    server.requests.clear()
    refused = export(cli, target, "--take", "20", "--cost", "--resume")
    assert refused.code == 2
    assert "cannot be read" in refused.err
    assert server.requests == []


# Bad input: one line, exit 2, nothing written, no request -----------------------------


def no_requests(request: httpx.Request) -> httpx.Response:
    raise AssertionError("a request was sent")


def bad(*args: str) -> Result:
    done = run_in_memory(
        ["--api-url", API, "--token", TOKEN, *args], transport=httpx.MockTransport(no_requests)
    )
    assert done.code == 2, done.err
    assert done.err.startswith("error: ")
    assert not done.out
    return done


@pytest.mark.parametrize(
    ("words", "fragment"),
    [
        (["{dir}/a.jsonl", "--cost"], "jsonl keeps each record exactly as the API sent it"),
        (["{dir}/a.json.gz", "--cost"], "json keeps each record"),
        (["-", "-o", "jsonl", "--cost"], "jsonl keeps each record"),
        (["{dir}/set", "--partition", "day", "--cost"], "--cost adds a cost column to csv parts"),
        (["{dir}/set", "--partition", "day", "-o", "parquet", "--cost"], "parquet parts keep"),
        (["{dir}/a.csv", "--prices", "{dir}/p.toml"], "--prices goes with --cost"),
        (["{dir}/set", "--partition", "day", "--prices", "{dir}/p.toml"], "--prices goes with"),
        (["{dir}/a.csv", "--cost", "--prices", "{dir}/nope.toml"], "cannot read the price file"),
        (["{dir}/a.csv", "--cost", "--prices", "{dir}/bad.toml"], "not a valid TOML price file"),
        (["-", "-o", "csv", "--cost", "--prices", "{dir}/bad.toml"], "not a valid TOML"),
        (
            [
                "{dir}/set",
                "--partition",
                "day",
                "-o",
                "csv",
                "--cost",
                "--prices",
                "{dir}/bad.toml",
            ],
            "not a valid TOML",
        ),
        (["{dir}/a.csv", "--cost", "--resume", "--prices", "{dir}/bad.toml"], "not a valid TOML"),
    ],
)
def test_bad_cost_input_is_exit_2_before_any_request(
    tmp_path: Path, words: list[str], fragment: str
) -> None:
    (tmp_path / "p.toml").write_text(CONTRACT, encoding="utf-8")
    (tmp_path / "bad.toml").write_text("version = \n", encoding="utf-8")
    done = bad("export", *(w.format(dir=tmp_path) for w in words))
    assert fragment in done.err.splitlines()[0]
    assert not (tmp_path / "a.csv").exists()
    assert not (tmp_path / "set").exists()
    assert not (tmp_path / "a.jsonl").exists()


# The archive -------------------------------------------------------------------------


def test_export_cost_reads_the_archive_as_online(tmp_path: Path) -> None:
    emulator = Emulator(generate_records(600, seed=11, anchor=ANCHOR, odd=True), token=TOKEN)

    def online(*words: str) -> Result:
        return run_in_memory(
            ["--api-url", API, "--token", TOKEN, *words],
            transport=emulator.transport(),
            now=lambda: ANCHOR,
        )

    db = tmp_path / "usage.db"
    assert online("sync", "--db", str(db)).code == 0
    live, kept = tmp_path / "live.csv", tmp_path / "kept.csv"
    assert online("export", str(live), "--cost").code == 0
    done = run_in_memory(
        ["export", str(kept), "--cost", "--db", str(db)],
        transport=httpx.MockTransport(no_requests),
        now=lambda: ANCHOR,
    )
    assert done.code == 0, done.err
    assert kept.read_bytes() == live.read_bytes()
    assert manifest_of(kept)["prices"] == manifest_of(live)["prices"]
    assert run_in_memory(["verify", str(kept)]).code == 0
    for words in (["--partition", "month", "-o", "csv"],):
        parts = tmp_path / "parts"
        archived = run_in_memory(
            ["export", str(parts), *words, "--cost", "--db", str(db)],
            transport=httpx.MockTransport(no_requests),
            now=lambda: ANCHOR,
        )
        assert archived.code == 0, archived.err
        set_manifest = json.loads(parts.with_name("parts.manifest.json").read_text())
        assert set_manifest["prices"] == manifest_of(live)["prices"]
