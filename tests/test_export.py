"""`usage export` and `usage verify` in-process, against the sandbox."""

from __future__ import annotations

import csv
import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from usage_cli.columns import CSV_COLUMNS, text_of
from usage_cli.sandbox import Sandbox

from .conftest import TOKEN, FailAfter, Result


def export(cli: Any, target: Path | str, *args: str, **runtime: Any) -> Result:
    return cli("export", str(target), *args, **runtime)  # type: ignore[no-any-return]


def manifest_of(path: Path) -> dict[str, Any]:
    return json.loads(path.with_name(path.name + ".manifest.json").read_text())  # type: ignore[no-any-return]


def read_records(path: Path) -> list[dict[str, Any]]:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        if ".json." in path.name + "." and ".jsonl" not in path.name:
            return json.load(handle)  # type: ignore[no-any-return]
        return [json.loads(line) for line in handle]


def test_csv_export_matches_the_sandbox_and_its_manifest(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "audit.csv"
    result = export(cli, target, "--bot-id", "bot_2")
    assert result.code == 0, result.err
    expected = [r for r in server.records if r["botId"] == "bot_2"]
    with open(target, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(expected)
    for row, record in zip(rows, expected, strict=True):
        for column in CSV_COLUMNS:
            assert row[column] == text_of(record.get(column), column)
    manifest = manifest_of(target)
    assert manifest["records"] == len(expected)
    assert manifest["countTotal"] == sum(r["count"] for r in expected)
    by_type: dict[str, int] = {}
    for record in expected:
        by_type[record["type"]] = by_type.get(record["type"], 0) + record["count"]
    assert manifest["countByType"] == by_type
    created = [r["createdAt"] for r in expected]
    assert manifest["firstCreatedAtMs"] == min(created)
    assert manifest["lastCreatedAtMs"] == max(created)
    assert manifest["query"]["bot_id"] == "bot_2"
    assert manifest["file"]["bytes"] == target.stat().st_size
    assert manifest["format"] == "csv"
    assert manifest["api"]["url"] == server.url
    assert TOKEN not in json.dumps(manifest)
    assert not list(tmp_path.glob(".*"))  # no partial or checkpoint left behind


@pytest.mark.parametrize(
    "name", ["out.jsonl", "out.ndjson", "out.json", "out.jsonl.gz", "out.json.gz", "out.csv.gz"]
)
def test_every_format_round_trips_and_repeats_byte_for_byte(
    cli: Any, server: Sandbox, tmp_path: Path, name: str
) -> None:
    first, second = tmp_path / "a" / name, tmp_path / "b" / name
    first.parent.mkdir()
    second.parent.mkdir()
    assert export(cli, first, "--take", "37").code == 0
    assert export(cli, second, "--take", "37").code == 0
    assert first.read_bytes() == second.read_bytes()
    if ".csv" in name:
        with gzip.open(first, "rt", encoding="utf-8", newline="") as handle:
            assert [row["id"] for row in csv.DictReader(handle)] == [
                r["id"] for r in server.records
            ]
    else:
        assert read_records(first) == server.records


def test_an_empty_result_is_still_a_valid_file(cli: Any, tmp_path: Path) -> None:
    for name in ("none.csv", "none.json", "none.jsonl"):
        target = tmp_path / name
        assert export(cli, target, "--type", "NO_SUCH_TYPE").code == 0
        assert manifest_of(target)["records"] == 0
    assert (tmp_path / "none.csv").read_bytes().decode() == ",".join(CSV_COLUMNS) + "\r\n"
    assert json.loads((tmp_path / "none.json").read_text()) == []
    assert (tmp_path / "none.jsonl").read_text() == ""


def test_stdout_export_needs_a_format_and_streams(cli: Any, server: Sandbox) -> None:
    refused = cli("export", "-")
    assert refused.code == 2
    assert "--format" in refused.err
    result = cli("export", "-", "-o", "jsonl", "--type", "CHATBOTKIT_TASK_RUN")
    assert result.code == 0
    assert result.jsonl() == [r for r in server.records if r["type"] == "CHATBOTKIT_TASK_RUN"]


BAD_TARGETS = [
    ("audit.txt", [], "cannot tell the format"),
    ("audit.parquet", [], "parquet is written as a folder of parts, not one file"),
    ("audit", [], "cannot tell the format"),
    ("missing-dir/audit.csv", [], "does not exist"),
    ("a.csv.manifest.json", ["--force"], "is named as a manifest"),
    ("A.CSV.MANIFEST.JSON", [], "is named as a manifest"),
    ("audit.csv", ["-o", "json"], "does not match"),
    ("-", ["-o", "table"], "'table' is not one of 'json', 'jsonl', 'csv', 'parquet'"),
    ("-", ["-o", "jsonl", "--resume"], "--resume needs a file"),
]


@pytest.mark.parametrize(
    ("name", "args", "fragment"), BAD_TARGETS, ids=[f"{n} {' '.join(a)}" for n, a, _ in BAD_TARGETS]
)
def test_bad_targets_exit_2_before_any_request(
    cli: Any,
    server: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    args: list[str],
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = export(cli, name, *args)
    assert result.code == 2
    assert fragment in result.err.splitlines()[0]
    assert server.requests == []


@pytest.mark.parametrize("args", [[], ["--partition", "day"]])
def test_a_target_inside_a_file_is_named_as_such(
    cli: Any, server: Sandbox, tmp_path: Path, args: list[str]
) -> None:
    (tmp_path / "audit.csv").write_text("not a folder")
    result = export(cli, tmp_path / "audit.csv" / ("x" if args else "x.csv"), *args)
    assert result.code == 2
    assert "'" + str(tmp_path / "audit.csv") + "' is a file, not a directory" in result.err
    assert "mkdir" not in result.err
    assert server.requests == []


@pytest.mark.parametrize("value", ["2", "3", "0"])
def test_export_streams_other_than_1_is_exit_2_before_any_request(
    cli: Any, server: Sandbox, tmp_path: Path, value: str
) -> None:
    # Reading from both ends is sync's; a script that asks export for it is told where.
    result = export(cli, tmp_path / "a.jsonl", "--streams", value)
    assert result.code == 2
    assert "--streams is no longer an export option" in result.err.splitlines()[0]
    assert "usage sync --db FILE" in result.err
    assert server.requests == []
    assert not (tmp_path / "a.jsonl").exists()


def test_export_streams_1_still_works_with_a_note_and_is_hidden(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    plain, pinned = tmp_path / "plain.jsonl", tmp_path / "pinned.jsonl"
    assert export(cli, plain, "--take", "30").code == 0
    result = export(cli, pinned, "--take", "30", "--streams", "1")
    assert result.code == 0, result.err
    assert "note: --streams is no longer an export option (export reads one chain)" in result.err
    assert pinned.read_bytes() == plain.read_bytes()
    assert "--streams" not in cli("export", "--help").out


def test_resuming_a_finished_export_says_nothing_waits(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "audit.jsonl"
    assert export(cli, target, "--take", "50").code == 0
    server.requests.clear()
    again = export(cli, target, "--resume")
    assert again.code == 2
    assert f"nothing to resume: the export of {str(target)!r} finished" in again.err
    assert "--force to export it again" in again.err
    assert server.requests == []


def test_an_existing_target_is_kept_unless_forced(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "audit.jsonl"
    target.write_text("precious\n")
    refused = export(cli, target)
    assert refused.code == 2
    assert "--force" in refused.err
    assert target.read_text() == "precious\n"
    assert server.requests == []
    assert export(cli, target, "--force").code == 0
    assert read_records(target) == server.records


def test_an_unwritable_directory_is_refused(
    cli: Any, server: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root in CI, where permissions cannot make a directory unwritable.
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    result = export(cli, tmp_path / "a.csv")
    assert result.code == 2
    assert "is not writable" in result.err
    assert server.requests == []


def test_a_failure_leaves_nothing_at_the_target_and_resume_completes_exactly(
    cli: Any, server: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "audit.jsonl"
    # Its first three pages are in, then the API fails.
    failed = export(cli, target, "--take", "20", transport=FailAfter(3))
    assert failed.code == 5
    assert "--resume" in failed.err
    assert not target.exists()
    assert not target.with_name("audit.jsonl.manifest.json").exists()
    checkpoint = json.loads((tmp_path / ".audit.jsonl.checkpoint.json").read_text())
    assert checkpoint["stats"]["records"] == 60
    assert TOKEN not in json.dumps(checkpoint)

    counting = FailAfter(10_000)
    resumed = export(cli, target, "--take", "20", "--resume", transport=counting)
    assert resumed.code == 0, resumed.err
    assert f"resuming {target} after 60 records (3 pages)" in resumed.err
    assert (
        counting.asked[0] == checkpoint["cursor"]
    )  # the pages already written are not fetched again
    assert read_records(target) == server.records
    assert cli("verify", str(target)).code == 0
    fresh = tmp_path / "fresh" / "audit.jsonl"
    fresh.parent.mkdir()
    assert export(cli, fresh, "--take", "20").code == 0
    assert fresh.read_bytes() == target.read_bytes()


def test_an_export_of_an_empty_window_says_so(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "none.csv"
    done = cli("export", str(target), "--since", "2020-01-01", "--until", "2020-01-02")
    assert done.code == 0, done.err
    assert "exported 0 records" in done.err
    assert "note: the window had no records matching the filters" in done.err
    full = cli("export", str(tmp_path / "some.csv"))
    assert "no records" not in full.err


def test_resume_truncates_bytes_written_after_the_checkpoint(
    cli: Any, server: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "audit.csv.gz"
    assert export(cli, target, "--take", "50", transport=FailAfter(2)).code == 5
    partial = tmp_path / ".audit.csv.gz.partial"
    with open(partial, "ab") as handle:
        handle.write(b"half a page that was never checkpointed")
    assert export(cli, target, "--take", "50", "--resume").code == 0
    with gzip.open(target, "rt", encoding="utf-8", newline="") as handle:
        assert [row["id"] for row in csv.DictReader(handle)] == [r["id"] for r in server.records]


def test_resume_with_different_options_is_refused(
    cli: Any, server: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "audit.csv"
    failing = FailAfter(1)
    assert export(cli, target, "--bot-id", "bot_1", "--take", "10", transport=failing).code == 5
    server.requests.clear()
    refused = export(cli, target, "--bot-id", "bot_2", "--take", "10", "--resume")
    assert refused.code == 2
    assert "bot_id: 'bot_1' then, 'bot_2' now" in refused.err
    assert "resuming" not in refused.err  # refused before it says it goes on
    assert server.requests == []
    waiting = export(cli, target, "--bot-id", "bot_1", "--take", "10")
    assert waiting.code == 2
    assert "--resume" in waiting.err
    assert export(cli, target, "--bot-id", "bot_1", "--take", "10", "--force").code == 0


def test_resume_with_nothing_to_resume_starts_fresh(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "a.jsonl"
    result = export(cli, target, "--resume")
    assert result.code == 0
    assert "starting a new one" in result.err
    assert read_records(target) == server.records


def test_summary_line_when_stderr_is_not_a_terminal(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    result = export(cli, tmp_path / "a.csv")
    assert f"exported {len(server.records)} records" in result.err
    assert export(cli, tmp_path / "b.csv", "-q").err == ""


def test_verify_passes_then_catches_one_changed_byte(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "audit.csv"
    assert export(cli, target).code == 0
    ok = cli("verify", str(target))
    assert ok.code == 0
    assert ok.out.startswith("ok: ")
    data = bytearray(target.read_bytes())
    index = data.index(b"OPENAI")
    data[index] = ord("X")
    target.write_bytes(bytes(data))
    bad = cli("verify", str(target))
    assert bad.code == 6
    assert "sha256" in bad.err
    assert "count per type" in bad.err


def test_verify_finds_duplicates_and_missing_records(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "audit.jsonl"
    assert export(cli, target).code == 0
    lines = target.read_text().splitlines(keepends=True)
    target.write_text("".join([*lines[:-1], lines[0]]))
    bad = cli("verify", str(target))
    assert bad.code == 6
    assert "1 duplicate id: " in bad.err
    target.write_text("".join(lines[:-1]))
    short = cli("verify", str(target))
    assert short.code == 6
    assert f"holds {len(lines) - 1} records" in short.err


def test_verify_without_a_manifest_is_bad_input(cli: Any, tmp_path: Path) -> None:
    lone = tmp_path / "lone.csv"
    lone.write_text("id\n")
    result = cli("verify", str(lone))
    assert result.code == 2
    assert "no manifest" in result.err


def test_verify_of_a_deleted_export_fails(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "gone.json"
    assert export(cli, target).code == 0
    target.unlink()
    result = cli("verify", str(target))
    assert result.code == 6
    assert "does not exist" in result.err


@pytest.mark.parametrize(
    ("written", "named", "said"),
    [
        ("a.jsonl", "a.csv", "written as jsonl; its name says csv"),
        ("a.csv.gz", "a.csv", "written as csv.gz; its name says csv"),
    ],
)
def test_verify_of_a_file_renamed_to_another_format_says_so(
    cli: Any, tmp_path: Path, written: str, named: str, said: str
) -> None:
    target = tmp_path / "made" / written
    target.parent.mkdir()
    assert export(cli, target).code == 0
    moved = tmp_path / named
    target.rename(moved)
    Path(f"{target}.manifest.json").rename(Path(f"{moved}.manifest.json"))
    result = cli("verify", str(moved))
    assert result.code == 6
    assert f"the manifest says it was {said}" in result.err


def test_verify_reads_gzip_json(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "a.json.gz"
    assert export(cli, target).code == 0
    assert cli("verify", str(target)).code == 0


def test_an_export_freezes_what_exists_before_its_pages_once_a_process(
    cli: Any, tmp_path: Path
) -> None:
    """The collector leaves alone what lives as long as the run (modules, the command):
    frozen before the pages come, and only by the first export of a process."""
    import gc

    gc.unfreeze()  # as a new process: an earlier test's export froze its objects
    try:
        assert export(cli, tmp_path / "a.csv").code == 0
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert export(cli, tmp_path / "b.jsonl.gz").code == 0
        # No second freeze (frozen objects that die leave the count: it may fall).
        assert gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()
