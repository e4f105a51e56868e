"""A file damaged in its text (cut mid-row, a cell too many, a line that is not a
record) is a failed verification, exit 6, said in words: never a crash."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from usage_cli.sandbox import Sandbox


def exported(cli: Any, path: Path, *args: str) -> Path:
    done = cli("export", str(path), "--take", "50", *args)
    assert done.code == 0, done.err
    return path


def refused(cli: Any, path: Path, says: str) -> None:
    checked = cli("verify", str(path))
    assert checked.code == 6, checked.err
    assert says in checked.err, checked.err
    assert "internal error" not in checked.err
    assert "Error:" not in checked.err


def test_a_csv_cut_short_mid_row(cli: Any, tmp_path: Path) -> None:
    path = exported(cli, tmp_path / "audit.csv")
    text = path.read_text(encoding="utf-8")
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    path.write_text(text[: len(text) - len(last) // 2 - 1], encoding="utf-8")
    refused(cli, path, "cells where the header has")


def test_a_csv_row_with_a_cell_too_many(cli: Any, tmp_path: Path) -> None:
    path = exported(cli, tmp_path / "audit.csv")
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[3] += ",extra"
    path.write_text("\n".join(lines), encoding="utf-8")
    refused(cli, path, "line 4 has")


def test_a_csv_without_even_a_header(cli: Any, tmp_path: Path) -> None:
    path = exported(cli, tmp_path / "audit.csv")
    path.write_text("", encoding="utf-8")
    refused(cli, path, "no header row")


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("[1, 2]", "line 3 is not a JSON object"),
        ('{"type": "T", "count": 1}', "line 3 has no 'id'"),
        ('{"id": "x", "type": "T", "count": "many"}', "count 'many' is not a whole number"),
        ('{"id": "x", "type": ', "line 3 is not JSON"),
    ],
)
def test_a_jsonl_line_that_is_not_a_record(cli: Any, tmp_path: Path, line: str, says: str) -> None:
    path = exported(cli, tmp_path / "audit.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = line
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused(cli, path, says)


def test_a_json_array_with_a_record_missing_its_type(cli: Any, tmp_path: Path) -> None:
    path = exported(cli, tmp_path / "audit.json")
    items = json.loads(path.read_text(encoding="utf-8"))
    del items[4]["type"]
    path.write_text(json.dumps(items), encoding="utf-8")
    refused(cli, path, "record 5 of the array has no 'type'")


def test_a_gzip_cut_short(cli: Any, tmp_path: Path) -> None:
    path = exported(cli, tmp_path / "audit.jsonl.gz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    refused(cli, path, "gzip stream is damaged or cut short")


def test_a_part_of_a_csv_folder_cut_mid_row_and_zipped_again(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    folder = exported(cli, tmp_path / "pc", "--partition", "day", "-o", "csv")
    part = sorted(folder.rglob("*.csv.gz"))[0]
    text = gzip.decompress(part.read_bytes()).decode("utf-8")
    part.write_bytes(gzip.compress(text[: len(text) - 30].encode("utf-8")))
    checked = cli("verify", str(folder))
    assert checked.code == 6, checked.err
    assert "cells where the header has" in checked.err
    assert "internal error" not in checked.err


# Several PATHs, not a series: each proven alone ------------------------------------


def test_several_paths_each_proven_alone(cli: Any, tmp_path: Path) -> None:
    first = exported(cli, tmp_path / "a.csv")
    second = exported(cli, tmp_path / "b.jsonl.gz")
    done = cli("verify", str(first), str(second))
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"ok: {first}")
    assert lines[1].startswith(f"ok: {second}")


def test_one_bad_path_among_several_fails_them_all_and_is_named(cli: Any, tmp_path: Path) -> None:
    good = exported(cli, tmp_path / "a.csv")
    bad = exported(cli, tmp_path / "b.jsonl")
    bad.write_text(bad.read_text(encoding="utf-8").replace('"count":', '"count": 1, "x":', 1))
    done = cli("verify", str(good), str(bad), str(tmp_path / "missing.csv"))
    assert done.code == 6, done.err
    assert done.out.startswith(f"ok: {good}")  # the good one is still said to be good
    assert f"1 of 3 paths failed to verify: {bad}" in done.err
    assert f"error: nothing to verify at '{tmp_path / 'missing.csv'}'" in done.err


def test_a_path_that_is_nothing_among_good_ones_is_exit_2(cli: Any, tmp_path: Path) -> None:
    good = exported(cli, tmp_path / "a.csv")
    done = cli("verify", str(good), str(tmp_path / "missing.csv"))
    assert done.code == 2, done.err
    assert "1 of 2 paths could not be checked" in done.err


def test_several_paths_as_json_are_one_document_each(cli: Any, tmp_path: Path) -> None:
    first = exported(cli, tmp_path / "a.csv")
    second = exported(cli, tmp_path / "b.json")
    done = cli("verify", str(first), str(second), "-o", "json")
    assert done.code == 0, done.err
    documents = list(_documents(done.out))
    assert [d["paths"] for d in documents] == [[str(first)], [str(second)]]
    assert all(d["ok"] and d["kind"] == "file" for d in documents)


def _documents(text: str) -> Any:
    decoder = json.JSONDecoder()
    at = 0
    while at < len(text.rstrip()):
        document, end = decoder.raw_decode(text, at)
        yield document
        at = end + 1


def test_one_path_that_cannot_be_checked_says_its_hint_and_stops_no_other(
    cli: Any, tmp_path: Path
) -> None:
    good = exported(cli, tmp_path / "b.csv")
    done = cli("verify", str(tmp_path / "missing.csv"), str(good))
    assert done.code == 2, done.err
    assert "hint: verify checks an export" in done.err
    assert done.out.startswith(f"ok: {good}")


def test_no_manifest_names_the_whole_path_it_looked_for(tmp_path: Path) -> None:
    from .conftest import run_in_memory

    lone = tmp_path / "lone.csv"
    lone.write_text("id\n")
    done = run_in_memory(["verify", str(lone)])
    assert done.code == 2
    assert f"(looked for '{tmp_path / 'lone.csv.manifest.json'}')" in done.err
