"""Every JSON document usage defines carries schemaVersion and holds to its schema."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, get_args

import pytest

from usage_cli._version import SCHEMA_VERSION
from usage_cli.cli._schema import DocumentName
from usage_cli.sandbox import Sandbox
from usage_cli.verify.schemas import DOCUMENTS, adapter

from .conftest import Result, run_in_memory

WINDOW = ("--since", "2026-01-24", "--until", "2026-01-30")

OUTPUTS: list[tuple[str, tuple[str, ...]]] = [
    ("summary", ("summary", "--by", "bot")),
    ("summary", ("summary", "--by", "type", "--by", "day", "--cost")),
    ("compare", ("summary", *WINDOW, "--by", "type", "--compare", "previous")),
    ("compare", ("summary", *WINDOW, "--by", "type", "--compare", "previous", "--cost")),
    ("check", ("check", "--since", "30d", "--max-cost", "5", "--max-count", "type=NOPE:1")),
    ("check", ("check", "--since", "1d", "--by", "bot", "--spike", "3x")),
    ("check", ("check", "--since", "30d", "--by", "bot", "--spike", "cost:3x")),
    ("prices", ("prices",)),
]


@pytest.mark.parametrize(("name", "args"), OUTPUTS, ids=[" ".join(a) for _, a in OUTPUTS])
def test_each_output_holds_to_its_schema(
    cli: Any, server: Sandbox, name: str, args: tuple[str, ...]
) -> None:
    result = cli(*args, "-o", "json")
    assert result.code in (0, 7), result.err
    document = json.loads(result.out)
    assert document["schemaVersion"] == SCHEMA_VERSION
    # Strict: an int is not text, nor text a number; a field the schema names is there.
    adapter(name).validate_python(document, strict=True)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_usage_schema_prints_each_documents_json_schema(name: str) -> None:
    result = run_in_memory(["schema", name])
    assert result.code == 0, result.err
    printed = json.loads(result.out)
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert printed["$id"] == f"usage:{name}/v{SCHEMA_VERSION}"
    assert "schemaVersion" in printed["required"]


def test_the_command_names_every_document() -> None:
    assert set(get_args(DocumentName)) == set(DOCUMENTS)


def test_an_unknown_schema_is_exit_2() -> None:
    result = run_in_memory(["schema", "manifests"])
    assert result.code == 2
    assert "'manifests' is not one of" in result.err


# Manifests: what a real export writes holds to `usage schema manifest` / `set-manifest`.

DAY = ("--since", "2026-01-27", "--until", "2026-01-27T23:59:59.999Z")


def held(name: str, path: Path) -> dict[str, Any]:
    """The JSON at `path`, strictly held to document `name` (as JSON: an enum is its text)."""
    text = path.read_text()
    adapter(name).validate_json(text, strict=True)
    document: dict[str, Any] = json.loads(text)
    assert next(iter(document)) == "schemaVersion"
    assert document["schemaVersion"] == SCHEMA_VERSION
    return document


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen")
    key = tmp_path_factory.mktemp("keys") / "ci"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci@example.com", "-f", str(key)],
        check=True,
    )
    return key


@pytest.mark.parametrize(
    ("target", "extra"),
    [
        ("audit.jsonl", ()),
        ("audit.csv.gz", ("--cost",)),
        ("audit.json", ()),
    ],
)
def test_a_file_exports_manifest_holds_to_its_schema(
    cli: Any, tmp_path: Path, target: str, extra: tuple[str, ...]
) -> None:
    path = tmp_path / target
    done = cli("export", str(path), *DAY, *extra, "-q")
    assert done.code == 0, done.err
    document = held("manifest", Path(f"{path}.manifest.json"))
    assert ("prices" in document) == ("--cost" in extra)


def test_a_chained_signed_manifest_holds_to_its_schema(
    cli: Any, tmp_path: Path, signing_key: Path
) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert cli("export", str(first), *DAY, "--sign", str(signing_key), "-q").code == 0
    done = cli(
        "export",
        str(second),
        "--since",
        "2026-01-28",
        "--until",
        "2026-01-28T23:59:59.999Z",
        "--chain",
        f"{first}.manifest.json",
        "--sign",
        str(signing_key),
        "-q",
    )
    assert done.code == 0, done.err
    assert "chain" in held("manifest", Path(f"{second}.manifest.json"))


@pytest.mark.parametrize("extra", [(), ("--update",), ("-o", "parquet")])
def test_a_partitioned_exports_manifest_holds_to_its_schema(
    cli: Any, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    folder = tmp_path / "usage"
    window = ("--since", "2026-01-26", "--until", "2026-01-28T23:59:59.999Z")
    done = cli("export", str(folder), "--partition", "day", *window, *extra, "-q")
    assert done.code == 0, done.err
    document = held("set-manifest", tmp_path / "usage.manifest.json")
    assert document["parts"]
    assert ("partitions" in document) == ("--update" in extra)


@pytest.mark.parametrize("partitioned", [False, True])
def test_a_manifest_written_before_schema_version_still_verifies(
    cli: Any, tmp_path: Path, partitioned: bool
) -> None:
    target = tmp_path / ("usage" if partitioned else "audit.jsonl")
    extra = ("--partition", "day") if partitioned else ()
    assert cli("export", str(target), *DAY, *extra, "-q").code == 0
    manifest = tmp_path / ("usage.manifest.json" if partitioned else "audit.jsonl.manifest.json")
    old = json.loads(manifest.read_text())
    del old["schemaVersion"]
    manifest.write_text(json.dumps(old, indent=2) + "\n")
    done = run_in_memory(["verify", str(target)])
    assert done.code == 0, done.err
    assert done.out.startswith("ok: ")


# `usage verify -o json`: one document for each kind, as text mode says it.


def verify_both(*args: str) -> tuple[Result, Result, dict[str, Any]]:
    """`usage verify ARGS` in text mode and as JSON; the JSON held to its schema."""
    text = run_in_memory(["verify", *args])
    as_json = run_in_memory(["verify", *args, "-o", "json"])
    assert as_json.code == text.code
    adapter("verify").validate_json(as_json.out, strict=True)
    document: dict[str, Any] = json.loads(as_json.out)
    assert document["schemaVersion"] == SCHEMA_VERSION
    assert document["ok"] == (text.code == 0)
    if text.code == 0:
        assert text.out == document["verdict"] + "\n"
        assert document["problems"] == []
    else:
        assert document["verdict"] in text.err
        # Each problem is said in text mode: one a line, or several in the verdict.
        said = text.out + text.err
        assert document["problems"]
        assert all(problem[:40] in said for problem in document["problems"][:3])
    return text, as_json, document


def test_verify_json_of_a_file(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    assert cli("export", str(path), *DAY, "-q").code == 0
    _, _, document = verify_both(str(path))
    assert document["kind"] == "file"
    assert document["paths"] == [str(path)]
    assert document["records"] == len(path.read_text().splitlines())
    path.write_text(path.read_text()[:-1] + " \n")
    text, _, broken = verify_both(str(path))
    assert text.code == 6
    assert broken["ok"] is False


def test_verify_json_of_a_folder(cli: Any, tmp_path: Path) -> None:
    folder = tmp_path / "usage"
    assert cli("export", str(folder), "--partition", "day", *DAY, "-q").code == 0
    _, _, document = verify_both(str(folder))
    assert document["kind"] == "folder"
    assert document["records"] > 0
    part = next(folder.rglob("part-*"))
    part.write_bytes(part.read_bytes() + b"\n")
    text, _, broken = verify_both(str(folder))
    assert (text.code, broken["ok"]) == (6, False)


def test_verify_json_of_a_series(cli: Any, tmp_path: Path) -> None:
    files: list[Path] = []
    for day in ("2026-01-26", "2026-01-27", "2026-01-28"):
        target = tmp_path / f"usage-{day}.jsonl"
        chain = ("--chain", f"{files[-1]}.manifest.json") if files else ()
        window = ("--since", day, "--until", f"{day}T23:59:59.999Z")
        assert cli("export", str(target), *window, *chain, "-q").code == 0
        files.append(target)
    _, _, document = verify_both("--chain", str(tmp_path))
    assert document["kind"] == "series"
    assert document["paths"] == [str(tmp_path)]
    assert document["records"] == sum(len(f.read_text().splitlines()) for f in files)
    files[1].unlink()
    Path(f"{files[1]}.manifest.json").unlink()
    text, _, broken = verify_both("--chain", str(tmp_path))
    assert (text.code, broken["ok"]) == (6, False)


def test_verify_json_of_an_archive(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    done = cli("sync", "--db", str(db), "-q")
    assert done.code == 0, done.err
    _, _, document = verify_both(str(db))
    assert document["kind"] == "archive"
    assert document["records"] > 0
    _, _, wrong_head = verify_both(str(db), "--expect-head", "f" * 64)
    assert wrong_head["ok"] is False


def test_verify_json_keeps_bad_input_exit_2(tmp_path: Path) -> None:
    done = run_in_memory(["verify", str(tmp_path / "nothing.jsonl"), "-o", "json"])
    assert done.code == 2
    assert done.out == ""
    assert run_in_memory(["verify", str(tmp_path), "-o", "yaml"]).code == 2


# `usage sync -o json`: the run, as a document.


def test_sync_json_holds_to_its_schema(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    first = cli("sync", "--db", str(db), "-q", "-o", "json")
    assert first.code == 0, first.err
    assert first.err == ""
    adapter("sync").validate_json(first.out, strict=True)
    document = json.loads(first.out)
    assert document["schemaVersion"] == SCHEMA_VERSION
    assert (document["outcome"], document["archive"], document["signed"]) == ("ok", str(db), False)
    assert document["recordsAdded"] == document["records"] > 0
    assert document["pages"] >= 1
    # The head it names is the one `usage verify` proves.
    assert f"chain head {document['head']}" in run_in_memory(["verify", str(db)]).out
    again = json.loads(cli("sync", "--db", str(db), "-q", "-o", "json").out)
    assert (again["run"], again["recordsAdded"]) == (document["run"] + 1, 0)
    assert again["records"] == document["records"]


def test_sync_in_text_mode_writes_nothing_on_stdout(cli: Any, tmp_path: Path) -> None:
    done = cli("sync", "--db", str(tmp_path / "usage.db"))
    assert (done.code, done.out) == (0, "")
    assert cli("sync", "--db", str(tmp_path / "usage.db"), "-o", "yaml").code == 2
