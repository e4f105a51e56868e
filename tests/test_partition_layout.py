"""A folder of parts holds only data: its manifest lies beside it, `DIR.manifest.json`.

Engines that read every file under a folder (DuckDB's `DIR/**/*`, polars'
`scan_parquet(DIR)`) read it as it is; sets written before, with
`DIR/_manifest.json` inside, still verify; and a publication stopped between
the folder and its manifest reads as incomplete, never as wrong, until the
next run finishes it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from usage_cli.sandbox import Sandbox

from .conftest import Result

Cli = Callable[..., Result]


def manifest_file(folder: Path) -> Path:
    return folder.with_name(folder.name + ".manifest.json")


def manifest_of(folder: Path) -> dict[str, Any]:
    return json.loads(manifest_file(folder).read_text())  # type: ignore[no-any-return]


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(("fmt", "suffix"), [("jsonl", ".jsonl.gz"), ("parquet", ".parquet")])
def test_the_folder_holds_only_parts_and_the_manifest_lies_beside_it(
    cli: Cli, tmp_path: Path, fmt: str, suffix: str
) -> None:
    target = tmp_path / "out"
    done = cli("export", str(target) + "/", "--partition", "day", "-o", fmt)
    assert done.code == 0, done.err
    assert f"manifest {manifest_file(target)}" in done.err
    manifest = manifest_of(target)
    assert files_under(target) == sorted(part["path"] for part in manifest["parts"])
    assert all(name.endswith(suffix) for name in files_under(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.manifest.json"]
    for named in (str(target), str(target) + "/", str(manifest_file(target))):
        verified = cli("verify", named)
        assert verified.code == 0, verified.err
        assert "matches its manifest" in verified.out


def test_a_stray_old_manifest_inside_a_new_set_is_named(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert cli("export", str(target), "--partition", "month").code == 0
    (target / "_manifest.json").write_text("{}")
    result = cli("verify", str(target))
    assert result.code == 6
    assert "_manifest.json: not in the manifest (an extra file)" in result.err


def to_old_layout(target: Path) -> None:
    """A set as `usage` wrote it before: the same manifest, inside, as `_manifest.json`."""
    manifest_file(target).rename(target / "_manifest.json")
    signature = manifest_file(target).with_name(manifest_file(target).name + ".sig")
    if signature.exists():
        signature.rename(target / "_manifest.json.sig")


def test_a_set_in_the_old_layout_still_verifies(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "old"
    assert cli("export", str(target), "--partition", "day").code == 0
    to_old_layout(target)
    verified = cli("verify", str(target))
    assert verified.code == 0, verified.err
    assert cli("verify", str(target / "_manifest.json")).code == 0
    # Held to its manifest as before: a changed part is named.
    name = json.loads((target / "_manifest.json").read_text())["parts"][0]["path"]
    (target / name).write_bytes(b"changed")
    failed = cli("verify", str(target))
    assert failed.code == 6
    assert f"{name}: size is 7 bytes" in failed.err


def test_force_replaces_an_old_layout_set_with_a_new_one(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "old"
    assert cli("export", str(target), "--partition", "day").code == 0
    to_old_layout(target)
    assert cli("export", str(target), "--partition", "day").code == 2
    done = cli("export", str(target), "--partition", "month", "--force")
    assert done.code == 0, done.err
    assert not (target / "_manifest.json").exists()
    assert manifest_of(target)["partition"] == "month"
    assert cli("verify", str(target)).code == 0


def test_force_replaces_the_folder_and_its_manifest_together(
    cli: Cli, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    assert (
        cli("export", str(target), "--partition", "day", "--type", "CHATBOTKIT_TASK_RUN").code == 0
    )
    refused = cli("export", str(target), "--partition", "day")
    assert refused.code == 2
    assert "already exists" in refused.err
    assert cli("export", str(target), "--partition", "day", "--force").code == 0
    assert manifest_of(target)["records"] == len(server.records)
    assert cli("verify", str(target)).code == 0


def test_a_manifest_left_without_its_folder_needs_force(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out"
    manifest_file(target).write_text("{}")
    refused = cli("export", str(target), "--partition", "day")
    assert refused.code == 2
    assert "out.manifest.json' already exists" in refused.err
    assert cli("export", str(target), "--partition", "day", "--force").code == 0
    assert cli("verify", str(target)).code == 0


# --- a publication stopped between the folder and its manifest ---------------------------


def pending(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.manifest.json.pending")


def test_a_set_whose_manifest_is_not_yet_beside_it_is_incomplete_until_the_next_run(
    cli: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    assert cli("export", str(target), "--partition", "day").code == 0
    published = manifest_of(target)
    # Killed after the folder was in place, before its manifest was renamed beside it.
    manifest_file(target).rename(pending(target))
    incomplete = cli("verify", str(target))
    assert incomplete.code == 6
    assert "is incomplete" in incomplete.err
    # The next run finishes putting the set in place before anything else.
    again = cli("export", str(target), "--partition", "day")
    assert again.code == 2
    assert "already exists" in again.err
    assert manifest_of(target) == published
    assert not pending(target).exists()
    assert cli("verify", str(target)).code == 0


def test_a_force_killed_mid_swap_is_finished_by_the_next_run(cli: Cli, tmp_path: Path) -> None:
    target, other = tmp_path / "out", tmp_path / "other"
    assert (
        cli("export", str(target), "--partition", "day", "--type", "CHATBOTKIT_TASK_RUN").code == 0
    )
    assert cli("export", str(other), "--partition", "month").code == 0
    new = manifest_of(other)
    # The state of `--force` killed between moving the old set aside and the new one in:
    # the new set built and its manifest pending (committed), the old manifest gone.
    other.rename(tmp_path / ".out.partial")
    manifest_file(other).rename(pending(target))
    manifest_file(target).unlink()
    target.rename(tmp_path / ".out.old")
    assert cli("verify", str(tmp_path / ".out.old")).code == 2  # no manifest: no export
    again = cli("export", str(target), "--partition", "month")
    assert again.code == 2
    assert manifest_of(target) == new
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.manifest.json"]
    assert cli("verify", str(target)).code == 0


def test_a_run_killed_before_its_commit_leaves_the_old_set(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert cli("export", str(target), "--partition", "day").code == 0
    before = manifest_of(target)
    shutil.copytree(target, tmp_path / ".out.partial")  # built, no pending manifest yet
    assert cli("verify", str(target)).code == 0
    assert cli("export", str(target), "--partition", "day").code == 2
    assert manifest_of(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.manifest.json"]


# --- engines read the folder as it is -----------------------------------------------------


def totals(manifest: dict[str, Any]) -> tuple[int, int]:
    return manifest["records"], manifest["countTotal"]


def test_duckdb_reads_every_file_under_the_folder(cli: Cli, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    parquet, jsonl = tmp_path / "pq", tmp_path / "js"
    assert cli("export", str(parquet), "--partition", "month", "-o", "parquet").code == 0
    assert cli("export", str(jsonl), "--partition", "day").code == 0
    read = duckdb.sql(
        f"SELECT count(*), sum(count) FROM read_parquet('{parquet}/**/*', hive_partitioning = true)"
    ).fetchall()[0]
    assert read == totals(manifest_of(parquet))
    read = duckdb.sql(
        f"SELECT count(*), sum(count) FROM read_json_auto('{jsonl}/**/*', hive_partitioning = true)"
    ).fetchall()[0]
    assert read == totals(manifest_of(jsonl))
    months = duckdb.sql(
        f"SELECT DISTINCT month FROM read_parquet('{parquet}/**/*', hive_partitioning = true)"
    ).fetchall()
    assert {f"month={month}" for (month,) in months} == {
        part["path"].split("/")[0] for part in manifest_of(parquet)["parts"]
    }


def test_polars_scans_the_folder(cli: Cli, tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    target = tmp_path / "pq"
    assert cli("export", str(target), "--partition", "day", "-o", "parquet").code == 0
    frame = pl.scan_parquet(target, hive_partitioning=True).select(pl.len(), pl.col("count").sum())
    records, count = frame.collect().row(0)
    assert (records, count) == totals(manifest_of(target))
