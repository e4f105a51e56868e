"""Files every reader can read (issue 23): jq, DuckDB, polars and pandas read what `usage`
writes, from data with lone surrogates, awkward `meta` and null relations, whole: to the
manifest's count and sum. A reader that stops early or drops a row fails here.

The readers are the real ones (jq from the system, DuckDB, polars and pandas from the
test extra); the files are exported from a sandbox serving `--odd-data`.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from usage_cli.sandbox import Sandbox

from .conftest import TOKEN, run_in_memory, subprocess_env, usage_command

duckdb = pytest.importorskip("duckdb")
pl = pytest.importorskip("polars")

FILES = ("audit.jsonl", "audit.jsonl.gz", "audit.json", "audit.csv", "audit.csv.gz")
# folder -> the extra arguments that make it (the names docs/readers.md uses)
FOLDERS = {
    "usage": ("--partition", "day", "-o", "parquet"),
    "usage-jsonl": ("--partition", "day"),
    "usage-csv": ("--partition", "day", "-o", "csv"),
}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    with Sandbox(records=2_000, seed=7, token=TOKEN, odd_data=True) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def exported(server: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every format, as files and as folders of parts, in one folder."""
    here = tmp_path_factory.mktemp("readers")
    base = ["--api-url", server.url, "--token", TOKEN, "-q", "export"]
    for name in FILES:
        result = run_in_memory([*base, str(here / name)])
        assert result.code == 0, result.err
    for name, extra in FOLDERS.items():
        result = run_in_memory([*base, str(here / name), *extra])
        assert result.code == 0, result.err
    return here


def manifest(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(f"{path}.manifest.json").read_text())
    return data


def whole(path: Path) -> tuple[int, int]:
    """What the manifest vouches for: records, and the sum of `count`."""
    data = manifest(path)
    return data["records"], data["countTotal"]


def notes(exported: Path) -> int:
    """Records with a `meta.note` (every 7th: the odd ones among them), read by Python."""
    lines = (exported / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if (json.loads(line).get("meta") or {}).get("note") is not None)


def test_the_data_is_odd_and_the_outputs_are_mended(exported: Path) -> None:
    """The premise: cut emoji were sent, and every output says it mended them."""
    for name in (*FILES, *FOLDERS):
        strings = manifest(exported / name)["strings"]
        assert strings["exact"] is False
        assert strings["mended"] > 0, name
    assert "\\ud83d" not in (exported / "audit.jsonl").read_text(encoding="utf-8")


def shell(command: str, cwd: Path) -> str:
    env = subprocess_env()
    env["PATH"] = f"{Path(usage_command()[0]).parent}:{env['PATH']}"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (command, done.stderr)
    return done.stdout


def test_jq_reads_a_pipe_of_list_all_whole(server: Sandbox, exported: Path) -> None:
    records, total = whole(exported / "audit.jsonl")
    pipe = f"usage list --all --api-url {server.url} --token {TOKEN}"
    assert shell(f"{pipe} | jq -c .id | wc -l", exported).strip() == str(records)
    assert shell(f"{pipe} | jq -s 'map(.count) | add'", exported).strip() == str(total)
    assert shell("jq -s 'map(.count) | add' audit.jsonl", exported).strip() == str(total)
    assert shell("gzip -dc audit.jsonl.gz | jq -c .id | wc -l", exported).strip() == str(records)
    assert shell("jq 'map(.count) | add' audit.json", exported).strip() == str(total)
    assert shell("gzip -dc usage-jsonl/*/*.jsonl.gz | jq -c .id | wc -l", exported).strip() == str(
        records
    )


def test_jq_stops_at_the_first_cut_emoji_of_exact_text(server: Sandbox, exported: Path) -> None:
    """Why the default mends: jq 1.6 (Debian 12's) ends its output at the first lone
    surrogate, and a pipeline without pipefail exits 0 with part of the records."""
    version = shell("jq --version", exported).strip()
    if version != "jq-1.6":
        pytest.skip(f"{version} reads a lone surrogate's escape")
    pipe = f"usage list --all --exact --api-url {server.url} --token {TOKEN}"
    read = shell(f"{pipe} | (jq -c .id || true) | wc -l", exported).strip()
    assert int(read) < whole(exported / "audit.jsonl")[0]


@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("audit.jsonl", "read_json_auto"),
        ("audit.jsonl.gz", "read_json_auto"),
        ("audit.json", "read_json_auto"),
        ("audit.csv", "read_csv"),
        ("audit.csv.gz", "read_csv"),
    ],
)
def test_duckdb_reads_every_file_whole(exported: Path, name: str, reader: str) -> None:
    path = exported / name
    found = duckdb.sql(f"SELECT count(*), sum(count) FROM {reader}('{path}')").fetchall()
    assert found == [whole(path)]


def test_duckdb_json_functions_read_every_meta(exported: Path) -> None:
    """No JSON function aborts on a mended string, in any place `meta` is written."""
    expected = notes(exported)
    for source in (
        f"read_csv('{exported / 'audit.csv'}')",
        f"read_parquet('{exported / 'usage'}/**/*.parquet')",
    ):
        query = f"SELECT count(json_extract_string(meta, '$.note')) FROM {source}"
        assert duckdb.sql(query).fetchall() == [(expected,)], source
    parts = exported / "usage"
    raw = f"SELECT count(json_extract_string(raw, '$.meta.note')) FROM '{parts}/**/*.parquet'"
    assert duckdb.sql(raw).fetchall() == [(expected,)]


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("usage", "read_parquet('{d}/**/*.parquet', hive_partitioning = true)"),
        ("usage", "read_parquet('{d}/**/*', hive_partitioning = true)"),
        ("usage-jsonl", "read_json_auto('{d}/**/*', hive_partitioning = true)"),
        ("usage-csv", "read_csv('{d}/**/*', hive_partitioning = true)"),
    ],
)
def test_duckdb_reads_every_folder_whole(exported: Path, name: str, source: str) -> None:
    folder = exported / name
    query = f"SELECT count(*), sum(count), count(DISTINCT date) FROM {source.format(d=folder)}"
    [(records, total, days)] = duckdb.sql(query).fetchall()
    assert (records, total) == whole(folder)
    assert days == len({part["path"].split("/")[0] for part in manifest(folder)["parts"]})


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("audit.jsonl", lambda p: pl.read_ndjson(p)),
        ("audit.jsonl.gz", lambda p: pl.read_ndjson(p)),
        ("audit.csv", lambda p: pl.read_csv(p)),
        ("audit.csv.gz", lambda p: pl.read_csv(p)),
        ("usage", lambda p: pl.scan_parquet(p, hive_partitioning=True).collect()),
        ("usage-csv", lambda p: pl.scan_csv(f"{p}/**/*.csv.gz").collect()),
    ],
)
def test_polars_reads_every_output_whole(exported: Path, name: str, read: Any) -> None:
    frame = read(exported / name)
    assert (frame.height, frame["count"].sum()) == whole(exported / name)
    if frame.schema["meta"] == pl.String:  # csv and Parquet: meta as its JSON text
        matched = frame["meta"].str.json_path_match("$.note").is_not_null().sum()
        assert matched == notes(exported)


def test_pandas_reads_files_and_folders_whole(exported: Path) -> None:
    pd = pytest.importorskip("pandas")
    for name, frame in (
        ("audit.jsonl", pd.read_json(exported / "audit.jsonl", lines=True)),
        ("audit.csv", pd.read_csv(exported / "audit.csv")),
        ("usage", pd.read_parquet(exported / "usage")),
    ):
        assert (len(frame), int(frame["count"].sum())) == whole(exported / name), name


# The recipes of docs/readers.md, run as written where their reader is installed.
RECIPES = ROOT / "docs" / "readers.md"


def python_recipes() -> list[str]:
    text = RECIPES.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)


@pytest.mark.parametrize("recipe", python_recipes(), ids=lambda r: r.splitlines()[0][:40])
def test_each_python_recipe_runs_as_written(
    recipe: str, exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = re.search(r"^(?:import|from) (\w+)", recipe, flags=re.M)
    assert first, "a recipe imports its reader"
    pytest.importorskip(first.group(1))
    monkeypatch.chdir(exported)
    exec(compile(recipe, str(RECIPES), "exec"), {})


def test_the_bigquery_schema_is_the_records_fields(exported: Path) -> None:
    """docs/bigquery-schema.json names every field a record has, typed as the lines hold it."""
    from usage_cli.records import RecordSchema

    schema = json.loads((ROOT / "docs" / "bigquery-schema.json").read_text())
    assert [field["name"] for field in schema] == list(RecordSchema.__annotations__)
    kinds = {"STRING": str, "INT64": int, "JSON": dict}
    for line in (exported / "audit.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for field in schema:
            value = record.get(field["name"])
            if value is None:
                assert field["mode"] == "NULLABLE", field
            else:
                assert isinstance(value, kinds[field["type"]]), (field, value)
