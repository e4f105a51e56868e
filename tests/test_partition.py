"""`usage export DIR --partition day|month` and `usage verify DIR`, against the sandbox."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from usage_cli.client import Client
from usage_cli.export._partitioned import plan_partitioned
from usage_cli.partitions import Partition
from usage_cli.query import Query
from usage_cli.runtime import utc_now
from usage_cli.sandbox import Sandbox
from usage_cli.sandbox.emulator import Emulator
from usage_cli.sandbox.server import Faults, Hold

from .conftest import TOKEN, FailAfter, Result, run_in_memory, subprocess_env, usage_command

Cli = Callable[..., Result]


def manifest_file(folder: Path) -> Path:
    """`DIR.manifest.json`: beside the folder, which holds only parts."""
    return folder.with_name(folder.name + ".manifest.json")


def manifest_of(folder: Path) -> dict[str, Any]:
    return json.loads(manifest_file(folder).read_text())  # type: ignore[no-any-return]


def listing(cli: Cli, *args: str) -> Result:
    result = cli("list", "--all", *args)
    assert result.code == 0, result.err
    return result


def everything_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def day_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


# --- bad input: one line (and a hint), exit 2, nothing written, no request ------------------

BAD = [
    (["audit.csv", "--partition", "day"], "names a csv file"),
    (["audit.jsonl.gz", "--partition", "month"], "names a jsonl file"),
    (["audit.parquet", "--partition", "day"], "names a parquet file"),
    (["-", "--partition", "day", "-o", "jsonl"], "not to standard output (-)"),
    (["/dev/stdout", "--partition", "day"], "not to '/dev/stdout'"),
    (["out", "--partition", "week"], "'week' is not one of"),
    (["out", "-o", "parquet"], "add --partition day or month"),
    (["audit.parquet", "-o", "parquet"], "add --partition day or month"),
    (["out", "--partition", "day", "-o", "json"], "not json"),
    (["out", "--partition", "day", "-o", "table"], "'table' is not one of"),
    (["out", "--partition", "day", "--resume"], "--resume does not apply to --partition"),
    (["missing/out", "--partition", "day"], "does not exist"),
    ([".", "--partition", "day"], "needs a new folder"),
    (["out", "--partition", "day", "--since", "yesterday-ish"], "--since"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2_before_any_request(
    cli: Cli,
    server: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("export", *args)
    assert result.code == 2, result.err
    lines = result.err.splitlines()
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert len(lines) <= 2
    assert all(line.startswith("hint: ") for line in lines[1:])
    assert server.requests == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "one_file"), [("audit.csv", True), ("audit.parquet", False)], ids=["csv", "parquet"]
)
def test_a_file_name_for_a_folder_points_to_one_file_only_where_there_is_one(
    cli: Cli, server: Sandbox, tmp_path: Path, name: str, one_file: bool
) -> None:
    # A parquet export is only ever a folder: "drop --partition" would lead nowhere.
    result = cli("export", str(tmp_path / name), "--partition", "day")
    assert result.code == 2
    assert ("drop --partition for one file" in result.err) is one_file


def test_a_file_where_the_folder_would_go_is_refused_even_with_force(
    cli: Cli, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    target.write_text("mine\n")
    for extra in ([], ["--force"]):
        result = cli("export", str(target), "--partition", "day", *extra)
        assert result.code == 2
        assert "is a file, not a folder" in result.err.splitlines()[0]
    assert target.read_text() == "mine\n"
    assert server.requests == []
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_an_existing_folder_needs_force(cli: Cli, server: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    result = cli("export", str(target), "--partition", "day")
    assert result.code == 2
    assert "already exists" in result.err
    assert "--force" in result.err
    assert server.requests == []
    assert list(target.iterdir()) == []


def test_force_never_replaces_a_folder_that_is_not_an_export(
    cli: Cli, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "home"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    result = cli("export", str(target), "--partition", "day", "--force")
    assert result.code == 2
    assert "not a partitioned export" in result.err.splitlines()[0]
    assert (target / "thesis.tex").read_text() == "years of work"
    assert server.requests == []


def test_parquet_without_pyarrow_names_the_extra_before_any_request(
    cli: Cli, server: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `import pyarrow` fails as it would where the extra is not installed.
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = cli("export", str(tmp_path / "out"), "--partition", "day", "-o", "parquet")
    assert result.code == 2
    first = result.err.splitlines()[0]
    assert "pip install 'chatbotkit-usage[parquet]'" in first
    assert server.requests == []
    assert list(tmp_path.iterdir()) == []


def test_verify_of_a_parquet_set_without_pyarrow_is_exit_2(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out"
    assert cli("export", str(target), "--partition", "month", "-o", "parquet").code == 0
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = cli("verify", str(target))
    assert result.code == 2
    assert "chatbotkit-usage[parquet]" in result.err


# --- what a set holds -------------------------------------------------------------------


def test_jsonl_day_parts_hold_exactly_the_listed_records(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = cli("export", str(target) + "/", "--partition", "day", "--take", "37")
    assert result.code == 0, result.err
    assert "manifest" in result.err
    expected = listing(cli, "-o", "jsonl").out
    manifest = manifest_of(target)
    parts = [part["path"] for part in manifest["parts"]]
    # In the manifest's order the parts are the listing, byte for byte.
    joined = b"".join(gzip.decompress((target / name).read_bytes()) for name in parts)
    assert joined.decode() == expected
    lines = expected.splitlines()
    assert manifest["records"] == len(lines) == sum(p["records"] for p in manifest["parts"])
    for name in parts:
        folder, file = name.split("/")
        assert file == "part-00000.jsonl.gz"  # far below the size of a part
        for line in gzip.decompress((target / name).read_bytes()).decode().splitlines():
            assert folder == "date=" + day_of(json.loads(line)["createdAt"])
    assert len({name.split("/")[0] for name in parts}) == len(parts) > 20
    assert manifest["partition"] == "day"
    assert manifest["format"] == "jsonl"
    assert TOKEN not in json.dumps(manifest)
    # Nothing beside the set: no hidden sibling, no lock.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.manifest.json"]


def test_csv_month_parts_hold_the_csv_rows(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert cli("export", str(target), "--partition", "month", "-o", "csv").code == 0
    expected = list(csv.reader(io.StringIO(listing(cli, "-o", "csv").out, newline="")))
    header, rows = expected[0], expected[1:]
    got: list[list[str]] = []
    for part in manifest_of(target)["parts"]:
        assert part["path"].startswith("month=")
        assert part["path"].endswith(".csv.gz")
        text = gzip.decompress((target / part["path"]).read_bytes()).decode()
        read = list(csv.reader(io.StringIO(text, newline="")))
        assert read[0] == header  # every part is a CSV file of its own
        got += read[1:]
    assert got == rows


def test_parquet_parts_read_back_with_pyarrow(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = cli("export", str(target), "--partition", "month", "-o", "parquet", "--take", "50")
    assert result.code == 0, result.err
    lines = listing(cli, "-o", "jsonl").out.splitlines()
    records = [json.loads(line) for line in lines]
    rows: list[dict[str, Any]] = []
    for part in manifest_of(target)["parts"]:
        assert part["path"].endswith("/part-00000.parquet")
        rows += pq.read_table(target / part["path"]).to_pylist()
    assert [row["raw"] for row in rows] == lines  # lossless, byte for byte
    for row, record in zip(rows, records, strict=True):
        assert row["id"] == record["id"]
        assert row["type"] == record["type"]
        assert row["count"] == record["count"]
        assert row["botId"] == record.get("botId")
        assert row["createdAt"] == datetime.fromtimestamp(record["createdAt"] / 1000, UTC)
        meta = record.get("meta")
        assert (json.loads(row["meta"]) if row["meta"] is not None else None) == meta
    schema = pq.read_schema(target / manifest_of(target)["parts"][0]["path"])
    assert schema.field("count").type == pa.int64()
    assert schema.field("createdAt").type == pa.timestamp("ms", tz="UTC")
    # The folder as an engine reads it: hive partitions, the manifest skipped by its `_`.
    table = ds.dataset(target, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == len(records)
    months = set(table.column("month").to_pylist())
    assert months == {day_of(record["createdAt"])[:7] for record in records}


@pytest.mark.parametrize("exact", [True, False])
def test_odd_strings_are_the_lines_of_list_in_raw_and_meta(tmp_path: Path, exact: bool) -> None:
    """`raw` is the line `list` writes: a cut emoji as sent with --exact, else U+FFFD."""
    flag = ["--exact"] if exact else []
    with Sandbox(records=60, seed=3, token=TOKEN, odd_data=True) as odd:
        base = ["--api-url", odd.url, "--token", TOKEN]
        target = tmp_path / "out"
        result = run_in_memory(
            [*base, "export", str(target), "--partition", "day", "-o", "parquet", *flag]
        )
        assert result.code == 0, result.err
        lines = run_in_memory([*base, "list", "--all", "-o", "jsonl", *flag]).out.splitlines()
    manifest = manifest_of(target)
    rows = [
        row
        for part in manifest["parts"]
        for row in pq.read_table(target / part["path"]).to_pylist()
    ]
    assert [row["raw"] for row in rows] == lines
    surrogate = [row for row in rows if "\\ud83d" in row["raw"]]
    mended = [row for row in rows if "\ufffd" in row["raw"]]
    assert (len(surrogate) > 0, len(mended) > 0) == (exact, not exact)
    assert manifest["strings"] == {"exact": exact, "mended": 0 if exact else len(mended)}
    for row in surrogate + mended:
        assert json.loads(row["meta"]) == json.loads(row["raw"])["meta"]


@pytest.mark.parametrize(("exact", "sent"), [(True, "half \ud83d"), (False, "half \ufffd")])
def test_a_cut_emoji_in_a_text_column_is_a_replacement_character(
    cli: Cli, tmp_path: Path, exact: bool, sent: str
) -> None:
    cut = {"id": "rec_cut", "type": "T", "count": 1, "createdAt": 1_795_000_000_000}
    cut["name"] = "half \ud83d"
    target = tmp_path / "out"
    flag = ["--exact"] if exact else []
    result = cli(
        "export", str(target), "--partition", "day", "-o", "parquet", *flag, transport=served([cut])
    )
    assert result.code == 0, result.err
    [row] = pq.read_table(target / manifest_of(target)["parts"][0]["path"]).to_pylist()
    assert row["name"] == "half \ufffd"  # Parquet text is UTF-8: never half an emoji
    assert json.loads(row["raw"])["name"] == sent
    assert ("\\ud83d" in row["raw"]) is exact


def test_the_same_records_give_the_same_bytes(cli: Cli, tmp_path: Path) -> None:
    for fmt in ("jsonl", "csv", "parquet"):
        first, second = tmp_path / f"a-{fmt}", tmp_path / f"b-{fmt}"
        assert cli("export", str(first), "--partition", "day", "-o", fmt).code == 0
        assert cli("export", str(second), "--partition", "day", "-o", fmt).code == 0
        assert manifest_of(first)["parts"] == manifest_of(second)["parts"]


def test_parts_roll_over_after_a_fixed_number_of_records(
    cli: Cli, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    with (
        plan_partitioned(
            str(target),
            Partition.month,
            "jsonl",
            force=False,
            resume=False,
            now=utc_now,
        ) as plan,
        Client(token=TOKEN, api_url=server.url) as client,
    ):
        manifest = plan.run(client, Query(), api_root=server.url, now=utc_now, part_records=40)
    counts: dict[str, list[int]] = {}
    for part in manifest.parts:
        folder, name = part["path"].split("/")
        numbers = counts.setdefault(folder, [])
        assert name == f"part-{len(numbers):05d}.jsonl.gz"
        numbers.append(part["records"])
    for numbers in counts.values():
        assert all(n == 40 for n in numbers[:-1])
        assert 0 < numbers[-1] <= 40
    assert sum(sum(n) for n in counts.values()) == len(server.records)
    result = cli("verify", str(target))
    assert result.code == 0, result.err
    assert f"{len(server.records):,} records in {len(manifest.parts)} parts" in result.out


def test_records_out_of_order_open_a_new_part_never_a_finished_one(
    cli: Cli, tmp_path: Path
) -> None:
    day = 86_400_000
    base = 1_795_000_000_000

    def record(n: int, at: int) -> dict[str, Any]:
        return {"id": f"rec_{n}", "type": "T", "count": n, "createdAt": at}

    pages = {
        None: ([record(1, base), record(2, base + day)], "c1"),
        "c1": ([record(3, base)], None),
    }

    def api(request: httpx.Request) -> httpx.Response:
        items, cursor = pages[request.url.params.get("cursor")]
        return httpx.Response(200, json={"items": items, "cursor": cursor})

    target = tmp_path / "out"
    result = cli("export", str(target), "--partition", "day", transport=httpx.MockTransport(api))
    assert result.code == 0, result.err
    first, second = day_of(base), day_of(base + day)
    assert [p["path"] for p in manifest_of(target)["parts"]] == [
        f"date={first}/part-00000.jsonl.gz",
        f"date={second}/part-00000.jsonl.gz",
        f"date={first}/part-00001.jsonl.gz",
    ]
    assert cli("verify", str(target)).code == 0


def served(records: list[dict[str, Any]]) -> httpx.MockTransport:
    return Emulator(records, token=TOKEN).transport()


def test_a_count_beyond_int64_stops_a_parquet_export_and_jsonl_keeps_it(
    cli: Cli, tmp_path: Path
) -> None:
    huge = {"id": "rec_huge", "type": "T", "count": 2**63, "createdAt": 1_795_000_000_000}
    target = tmp_path / "out"
    result = cli(
        "export", str(target), "--partition", "day", "-o", "parquet", transport=served([huge])
    )
    assert result.code == 5
    first = result.err.splitlines()[0]
    assert "rec_huge" in first
    assert "int64" in first
    assert "nothing was written" in result.err
    assert list(tmp_path.iterdir()) == []
    kept = cli("export", str(target), "--partition", "day", transport=served([huge]))
    assert kept.code == 0, kept.err
    part = manifest_of(target)["parts"][0]["path"]
    assert json.loads(gzip.decompress((target / part).read_bytes()))["count"] == 2**63


def test_a_created_at_no_calendar_names_is_refused_clearly(cli: Cli, tmp_path: Path) -> None:
    far = {"id": "rec_far", "type": "T", "count": 1, "createdAt": 10**18}
    result = cli("export", str(tmp_path / "out"), "--partition", "day", transport=served([far]))
    assert result.code == 5
    assert "rec_far" in result.err.splitlines()[0]
    assert list(tmp_path.iterdir()) == []


def test_no_records_is_a_set_of_no_parts(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = cli("export", str(target), "--partition", "day", "--type", "NO_SUCH_TYPE")
    assert result.code == 0, result.err
    assert everything_under(target) == []
    assert manifest_of(target)["parts"] == []
    assert cli("verify", str(target)).code == 0


# --- all or nothing ---------------------------------------------------------------------


def test_a_failure_midway_leaves_nothing(cli: Cli, server: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = cli(
        "export",
        str(target),
        "--partition",
        "day",
        "--take",
        "20",
        "--retries",
        "0",
        transport=FailAfter(3),
    )
    assert result.code == 5
    assert "nothing was written to" in result.err
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_midway_leaves_nothing(cli: Cli, server: Sandbox, tmp_path: Path) -> None:
    class Interrupting(httpx.HTTPTransport):
        calls = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            self.calls += 1
            if self.calls > 3:
                raise KeyboardInterrupt
            return super().handle_request(request)

    target = tmp_path / "out"
    result = cli(
        "export", str(target), "--partition", "day", "--take", "20", transport=Interrupting()
    )
    assert result.code == 130
    assert "nothing was written to" in result.err
    assert "--resume" not in result.err
    assert list(tmp_path.iterdir()) == []


def test_force_replaces_a_set_only_once_the_new_one_is_complete(
    cli: Cli, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    assert (
        cli("export", str(target), "--partition", "day", "--type", "CHATBOTKIT_TASK_RUN").code == 0
    )
    old = manifest_of(target)
    failed = cli(
        "export",
        str(target),
        "--partition",
        "day",
        "--force",
        "--retries",
        "0",
        transport=FailAfter(1),
    )
    assert failed.code == 5
    assert manifest_of(target) == old
    assert cli("verify", str(target)).code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.manifest.json"]
    done = cli("export", str(target), "--partition", "month", "--force")
    assert done.code == 0, done.err
    assert manifest_of(target)["records"] == len(server.records)
    assert all(name.startswith("month=") for name in everything_under(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.manifest.json"]


def test_what_a_killed_run_left_is_cleared_by_the_next(cli: Cli, tmp_path: Path) -> None:
    leftover = tmp_path / ".out.partial" / "date=2026-01-01"
    leftover.mkdir(parents=True)
    (leftover / "part-00000.jsonl.gz").write_bytes(b"half")
    assert cli("export", str(tmp_path / "out"), "--partition", "day").code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.manifest.json"]


def test_a_set_moved_aside_by_a_killed_run_is_put_back(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert cli("export", str(target), "--partition", "day").code == 0
    before = manifest_of(target)
    # Killed between moving the old set aside and renaming the new one in.
    target.rename(tmp_path / ".out.old")
    again = cli("export", str(target), "--partition", "day")
    assert again.code == 2
    assert "already exists" in again.err
    assert manifest_of(target) == before


# --- verify -----------------------------------------------------------------------------


@pytest.fixture
def exported(cli: Cli, tmp_path: Path) -> Path:
    target = tmp_path / "set"
    result = cli("export", str(target), "--partition", "day")
    assert result.code == 0, result.err
    assert cli("verify", str(target)).code == 0
    return target


def verify_fails(cli: Cli, target: Path) -> str:
    """What verify said of a set that fails: its problems (one a line when several),
    then the verdict."""
    result = cli("verify", str(target))
    assert result.code == 6, result.err
    lines = result.err.splitlines()
    assert lines[-1].startswith("error: ") or lines[-2].startswith("error: "), result.err
    assert all(line.startswith("  - ") for line in lines[: -2 if "hint: " in lines[-1] else -1])
    return result.err


def test_verify_says_ok(cli: Cli, exported: Path, server: Sandbox) -> None:
    result = cli("verify", str(exported) + "/")
    assert result.code == 0
    assert result.out.startswith(
        f"ok: {exported}/ matches its manifest ({len(server.records):,} records"
    )


def rewrite_part(path: Path, edit: Callable[[list[str]], list[str]]) -> None:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    path.write_bytes(gzip.compress(("\n".join(edit(lines)) + "\n").encode(), mtime=0))


def test_verify_catches_an_edited_part(cli: Cli, exported: Path) -> None:
    name = manifest_of(exported)["parts"][3]["path"]

    def bump(lines: list[str]) -> list[str]:
        record = json.loads(lines[0])
        record["count"] += 1
        return [json.dumps(record, separators=(",", ":")), *lines[1:]]

    rewrite_part(exported / name, bump)
    line = verify_fails(cli, exported)
    assert f"{name}: sha256 is" in line
    assert "count sums to" in line


def test_verify_catches_a_deleted_part(cli: Cli, exported: Path) -> None:
    name = manifest_of(exported)["parts"][0]["path"]
    (exported / name).unlink()
    line = verify_fails(cli, exported)
    assert f"{name}: missing" in line


def test_verify_catches_an_extra_part_and_a_stray_file(cli: Cli, exported: Path) -> None:
    name = manifest_of(exported)["parts"][0]["path"]
    extra = name.replace("part-00000", "part-00001")
    shutil.copy(exported / name, exported / extra)
    folder = name.split("/")[0]
    (exported / folder / ".DS_Store").write_bytes(b"\0")
    (exported / "date=1999-01-01").mkdir()
    line = verify_fails(cli, exported)
    assert f"{extra}: not in the manifest (an extra file)" in line
    assert f"{folder}/.DS_Store: not in the manifest" in line
    assert "date=1999-01-01/: an empty folder" in line


def test_verify_catches_a_rewritten_manifest_count(cli: Cli, exported: Path) -> None:
    manifest = manifest_of(exported)
    manifest["parts"][1]["records"] += 1
    manifest_file(exported).write_text(json.dumps(manifest))
    line = verify_fails(cli, exported)
    name = manifest["parts"][1]["path"]
    assert f"{name}: holds {manifest['parts'][1]['records'] - 1} records, the manifest says" in line


def test_verify_catches_an_id_twice_across_parts_even_with_hashes_redone(
    cli: Cli, exported: Path
) -> None:
    import hashlib

    manifest = manifest_of(exported)
    source, target = manifest["parts"][0], manifest["parts"][1]
    copied = gzip.decompress((exported / source["path"]).read_bytes()).decode().splitlines()[0]
    rewrite_part(exported / target["path"], lambda lines: [*lines, copied])
    # Someone who also fixed up the manifest: hashes and figures agree again.
    data = (exported / target["path"]).read_bytes()
    target.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    target["records"] += 1
    record = json.loads(copied)
    manifest["records"] += 1
    manifest["countTotal"] += record["count"]
    manifest["countByType"][record["type"]] += record["count"]
    manifest_file(exported).write_text(json.dumps(manifest))
    line = verify_fails(cli, exported)
    assert f"1 ids appear more than once: {record['id']}" in line
    assert f"{target['path']}: 1 records in the wrong folder" in line


def test_verify_refuses_a_part_path_outside_the_set(cli: Cli, exported: Path) -> None:
    manifest = manifest_of(exported)
    manifest["parts"][0]["path"] = "../../etc/passwd"
    manifest_file(exported).write_text(json.dumps(manifest))
    line = verify_fails(cli, exported)
    assert "'../../etc/passwd': not a part this export writes" in line


def test_verify_of_a_damaged_manifest_is_exit_6(cli: Cli, exported: Path) -> None:
    manifest_file(exported).write_text("{not json")
    line = verify_fails(cli, exported)
    assert "cannot read the manifest" in line


def test_verify_of_a_folder_without_a_manifest_is_exit_2(cli: Cli, exported: Path) -> None:
    manifest_file(exported).unlink()
    result = cli("verify", str(exported))
    assert result.code == 2
    assert "no set.manifest.json beside it" in result.err.splitlines()[0]


def test_verify_catches_an_edited_parquet_part(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert cli("export", str(target), "--partition", "month", "-o", "parquet").code == 0
    assert cli("verify", str(target)).code == 0
    name = manifest_of(target)["parts"][0]["path"]
    table = pq.read_table(target / name)
    pq.write_table(table.slice(1), target / name)
    line = verify_fails(cli, target)
    assert f"{name}: sha256 is" in line
    assert f"{name}: holds {table.num_rows - 1} records" in line


@pytest.mark.parametrize("name", ["out/", "existing"])
def test_a_folder_without_partition_is_told_about_it(
    cli: Cli, server: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing").mkdir()
    result = cli("export", name)
    assert result.code == 2
    assert "is a directory" in result.err.splitlines()[0]
    assert "--partition day or month" in result.err
    assert server.requests == []


def test_tab_completes_the_partition_option_and_its_words() -> None:
    from .test_completion import bash_complete

    assert "--partition" in bash_complete("usage export out --parti")
    assert bash_complete("usage export out --partition ") == ["day", "month"]
    assert "parquet" in bash_complete("usage export out -o ")


def test_help_names_the_partition_option(cli: Cli) -> None:
    result = cli("export", "--help")
    assert result.code == 0
    assert "--partition" in result.out
    assert "parquet" in result.out


# --- the installed command, interrupted for real ---------------------------------------


@pytest.fixture(scope="module")
def slow() -> Iterator[Sandbox]:
    with Sandbox(records=600, seed=11, token=TOKEN, faults=Faults(latency=0.02)) as server:
        yield server


def start(server: Sandbox, target: Path, held: Hold) -> subprocess.Popen[str]:
    """The export, held by the sandbox at its ninth page (`held`): surely mid-run."""
    server.requests.clear()
    process = subprocess.Popen(
        [*usage_command(), "export", str(target), "--partition", "day", "--take", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(CHATBOTKIT_API_URL=server.url, CHATBOTKIT_API_TOKEN=TOKEN),
    )
    held.wait()
    assert (target.parent / f".{target.name}.partial").is_dir()
    return process


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_process_leaves_nothing(slow: Sandbox, tmp_path: Path, signum: int) -> None:
    with slow.hold(after=8) as held:
        process = start(slow, tmp_path / "out", held)
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "nothing was written to" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_killed_process_leaves_only_a_hidden_sibling_the_next_run_clears(
    slow: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    with slow.hold(after=8) as held:
        process = start(slow, target, held)
        process.kill()
        process.communicate(timeout=30)
    assert not target.exists()
    again = subprocess.run(
        [*usage_command(), "export", str(target), "--partition", "day", "-q"],
        env=subprocess_env(CHATBOTKIT_API_URL=slow.url, CHATBOTKIT_API_TOKEN=TOKEN),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.manifest.json"]
    assert manifest_of(target)["records"] == 600


def test_a_set_is_private_while_built_and_takes_the_umask_when_published(
    slow: Sandbox, tmp_path: Path
) -> None:
    import os
    import stat

    target = tmp_path / "out"
    old = os.umask(0o022)  # the child inherits it
    try:
        with slow.hold(after=8) as held:
            process = start(slow, target, held)
            building = tmp_path / ".out.partial"
            assert stat.S_IMODE(building.stat().st_mode) == 0o700
            held.release()
            _, err = process.communicate(timeout=120)
    finally:
        os.umask(old)
    assert process.returncode == 0, err
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert not (tmp_path / ".out.partial").exists()


def test_parquet_row_groups_gather_pages(server: Sandbox) -> None:
    from usage_cli.formats.parquet import ParquetWriter
    from usage_cli.records import UsageRecord

    records = [UsageRecord(raw) for raw in server.records[:250]]
    sink = io.BytesIO()
    writer = ParquetWriter(sink, row_group=150)
    for start in range(0, 250, 100):  # pages of 100, 100 and 50
        writer.write(records[start : start + 100])
    writer.write([])
    writer.close()
    parquet = pq.ParquetFile(io.BytesIO(sink.getvalue()))
    meta = parquet.metadata
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert groups == [200, 50]
    assert parquet.read().column("id").to_pylist() == [r["id"] for r in server.records[:250]]
