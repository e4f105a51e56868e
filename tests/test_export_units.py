"""The export package's parts on their own, with no server: checkpoints, manifests, files."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from usage_cli._files import write_atomically
from usage_cli.errors import InputError, VerifyError
from usage_cli.export import (
    CHECKPOINT_VERSION,
    Checkpoint,
    Manifest,
    PartialFile,
    Target,
    plan_export,
)
from usage_cli.export._json import ApiJson
from usage_cli.formats import Format
from usage_cli.query import Query
from usage_cli.verify import verify

API: ApiJson = {"url": "https://api.example", "runAs": None}
STARTED = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def checkpoint_for(target: Target, query: Query | None = None) -> Checkpoint:
    return Checkpoint(
        query=(query or Query()).to_dict(),
        fmt=target.fmt,
        gzip=target.gzip,
        api=API,
        target=str(target.path),
        started_at=STARTED,
    )


@pytest.fixture
def target(tmp_path: Path) -> Target:
    return Target(tmp_path / "audit.csv", Format.csv)


# Checkpoint.differences


def test_the_same_command_line_has_no_differences(target: Target) -> None:
    query = Query(bot_id="bot_1", take=10)
    assert checkpoint_for(target, query).differences(query, Format.csv, False, API) == []


def test_a_different_query_names_each_option_then_and_now(target: Target) -> None:
    saved = checkpoint_for(target, Query(bot_id="bot_1", take=10))
    found = saved.differences(Query(bot_id="bot_2", take=20), Format.csv, False, API)
    assert found == ["query (bot_id: 'bot_1' then, 'bot_2' now; take: 10 then, 20 now)"]


@pytest.mark.parametrize(
    ("fmt", "gzip", "api", "expected"),
    [
        (Format.jsonl, False, API, ["format"]),
        (Format.csv, True, API, ["gzip"]),
        (Format.csv, False, {"url": "https://other.example", "runAs": None}, ["api"]),
        (Format.csv, False, {"url": API["url"], "runAs": "user_1"}, ["api"]),
        (Format.json, True, {"url": API["url"], "runAs": "user_1"}, ["format", "gzip", "api"]),
    ],
    ids=["format", "gzip", "api url", "run as", "all three"],
)
def test_each_other_field_that_differs_is_named(
    target: Target, fmt: Format, gzip: bool, api: ApiJson, expected: list[str]
) -> None:
    assert checkpoint_for(target).differences(Query(), fmt, gzip, api) == expected


def test_a_query_option_the_checkpoint_lacks_counts_as_none_then(target: Target) -> None:
    saved = checkpoint_for(target, Query(bot_id="bot_1"))
    trimmed = replace(saved, query={k: v for k, v in saved.query.items() if k != "bot_id"})
    found = trimmed.differences(Query(bot_id="bot_1"), Format.csv, False, API)
    assert found == ["query (bot_id: not given then, 'bot_1' now)"]


# Checkpoint.load


def saved(target: Target, text: str, partial: bytes = b"") -> None:
    target.partial.write_bytes(partial)
    target.checkpoint.write_text(text, encoding="utf-8")


def load_error(target: Target) -> InputError:
    with pytest.raises(InputError) as caught:
        Checkpoint.load(target)
    assert caught.value.exit_code == 2
    return caught.value


def test_no_checkpoint_or_no_partial_is_nothing_to_resume(target: Target) -> None:
    assert Checkpoint.load(target) is None
    target.checkpoint.write_text(checkpoint_for(target).to_text())
    assert Checkpoint.load(target) is None  # the partial it vouches for is gone
    target.checkpoint.unlink()
    target.partial.write_bytes(b"x")
    assert Checkpoint.load(target) is None


def test_a_checkpoint_round_trips(target: Target) -> None:
    abc = hashlib.sha256(b"abc").hexdigest()
    written = replace(checkpoint_for(target), cursor="c_2", bytes=3, sha256=abc, pages=2)
    saved(target, written.to_text(), b"abcdef")
    assert Checkpoint.load(target) == written


def test_the_checkpoint_json_keeps_its_keys_in_order(target: Target) -> None:
    data = json.loads(checkpoint_for(target).to_text())
    assert list(data) == [
        "version",
        "tool",
        "query",
        "format",
        "gzip",
        "api",
        "target",
        "startedAt",
        "cursor",
        "end",
        "bytes",
        "sha256",
        "pages",
        "stats",
        "exact",
    ]
    assert data["startedAt"] == "2026-01-02T03:04:05.678Z"
    assert data["format"] == "csv"
    assert data["end"] is True


def test_an_unreadable_checkpoint_says_how_to_start_over(target: Target) -> None:
    saved(target, "{not json")
    error = load_error(target)
    assert "cannot be read" in error.message
    assert error.hint is not None
    assert "start over" in error.hint


def test_a_checkpoint_of_another_version_is_refused(target: Target) -> None:
    data = json.loads(checkpoint_for(target).to_text())
    # 1 is the version before the running hash: its partial cannot be checked.
    saved(target, json.dumps({**data, "version": CHECKPOINT_VERSION - 1}))
    error = load_error(target)
    assert "another version" in error.message
    assert error.hint is not None


WRONG_SHAPES = {
    "a list": lambda data: [],
    "a string for a number": lambda data: {**data, "bytes": "5"},
    "a boolean for a number": lambda data: {**data, "pages": True},
    "a missing field": lambda data: {k: v for k, v in data.items() if k != "cursor"},
    "a missing stats figure": lambda data: {**data, "stats": {"records": 1}},
    "an unknown format": lambda data: {**data, "format": "xml"},
    "a start that is no time": lambda data: {**data, "startedAt": "yesterday"},
    "negative bytes": lambda data: {**data, "bytes": -1},
}


@pytest.mark.parametrize("change", WRONG_SHAPES.values(), ids=WRONG_SHAPES.keys())
def test_a_checkpoint_of_the_wrong_shape_is_bad_input_not_a_crash(
    target: Target, change: object
) -> None:
    assert callable(change)
    data = json.loads(checkpoint_for(target).to_text())
    saved(target, json.dumps(change(data)))
    error = load_error(target)
    assert "cannot be read" in error.message or "another version" in error.message


def test_a_string_where_a_number_belongs_is_named(target: Target) -> None:
    data = json.loads(checkpoint_for(target).to_text())
    saved(target, json.dumps({**data, "bytes": "5"}))
    assert "bytes" in load_error(target).message


def test_a_partial_shorter_than_its_checkpoint_is_refused(target: Target) -> None:
    saved(target, replace(checkpoint_for(target), bytes=10).to_text(), b"short")
    error = load_error(target)
    assert "shorter than its checkpoint says" in error.message
    assert error.hint == "start over with --force"


# PartialFile


def test_a_checkpoint_points_at_whole_pages_only(target: Target) -> None:
    with PartialFile.open(target, checkpoint_for(target)) as partial:
        partial.save()  # nothing committed yet: nothing to vouch for
        assert not target.checkpoint.exists()
        partial.write(b"page one\n")
        partial.commit("c_1", 1, checkpoint_for(target).stats)
        partial.write(b"half of page t")  # not committed: the checkpoint must not count it
        partial.save()
    on_disk = Checkpoint.load(target)
    assert on_disk is not None
    assert (on_disk.bytes, on_disk.cursor, on_disk.pages) == (len(b"page one\n"), "c_1", 1)
    assert target.partial.read_bytes() == b"page one\nhalf of page t"

    with PartialFile.open(target, checkpoint_for(target), resume_from=on_disk) as partial:
        partial.write(b"page two\n")
    assert target.partial.read_bytes() == b"page one\npage two\n"
    assert not target.path.exists()


def manifest_for(target: Target, partial: PartialFile) -> Manifest:
    origin = checkpoint_for(target)
    return Manifest(
        api=origin.api,
        query=origin.query,
        fmt=target.fmt,
        gzip=target.gzip,
        figures=origin.stats,
        pages=1,
        file=partial.seal(),
        started_at=STARTED,
        finished_at=STARTED,
    )


def test_finish_leaves_only_the_target_and_its_manifest(target: Target) -> None:
    with PartialFile.open(target, checkpoint_for(target)) as partial:
        partial.write(b"id\r\n")
        partial.commit(None, 1, checkpoint_for(target).stats)
        partial.save()
        manifest = manifest_for(target, partial)
    partial.finish(manifest)
    assert sorted(path.name for path in target.path.parent.iterdir()) == [
        "audit.csv",
        "audit.csv.manifest.json",
    ]
    assert target.path.read_bytes() == b"id\r\n"
    assert Manifest.load(target.manifest) == manifest
    assert manifest.file["bytes"] == 4


def fail_after_a_page(target: Target) -> None:
    with PartialFile.open(target, checkpoint_for(target)) as partial:
        partial.write(b"page one\n")
        partial.commit("c_1", 1, checkpoint_for(target).stats)
        partial.save()
        raise RuntimeError("the server went away")


def test_a_failure_before_finish_leaves_nothing_at_the_target(target: Target) -> None:
    with pytest.raises(RuntimeError):
        fail_after_a_page(target)
    assert not target.path.exists()
    assert not target.manifest.exists()
    assert target.partial.exists()
    assert target.checkpoint.exists()


def test_a_new_partial_drops_a_stale_checkpoint(target: Target) -> None:
    saved(target, replace(checkpoint_for(target), bytes=5).to_text(), b"stale")
    with PartialFile.open(target, checkpoint_for(target)):
        pass
    assert not target.checkpoint.exists()
    assert target.partial.read_bytes() == b""


# Manifest


def a_manifest(path: Path) -> Manifest:
    return Manifest(
        api=API,
        query=Query(type="T").to_dict(),
        fmt=Format.jsonl,
        gzip=True,
        figures={
            "records": 2,
            "countTotal": 7,
            "countByType": {"T": 7},
            "recordsByType": {"T": 2},
            "firstCreatedAt": "2026-01-01T00:00:00.000Z",
            "lastCreatedAt": "2026-01-01T00:00:01.000Z",
            "firstCreatedAtMs": 1767225600000,
            "lastCreatedAtMs": 1767225601000,
        },
        pages=1,
        file={"name": path.name, "bytes": 10, "sha256": "0" * 64},
        started_at=STARTED,
        finished_at=STARTED,
    )


def test_a_manifest_round_trips_with_its_keys_in_order(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz.manifest.json"
    manifest = a_manifest(path)
    path.write_text(manifest.to_text())
    assert Manifest.load(path) == manifest
    assert list(json.loads(path.read_text())) == [
        "schemaVersion",
        "tool",
        "api",
        "query",
        "format",
        "gzip",
        "records",
        "countTotal",
        "countByType",
        "recordsByType",
        "firstCreatedAt",
        "lastCreatedAt",
        "firstCreatedAtMs",
        "lastCreatedAtMs",
        "pages",
        "file",
        "startedAt",
        "finishedAt",
    ]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda data: [], "the top level"),
        (lambda data: {**data, "records": "2"}, "records"),
        (lambda data: {k: v for k, v in data.items() if k != "file"}, "file"),
        (lambda data: {**data, "file": {"name": "a", "bytes": 1}}, "file.sha256"),
        (lambda data: {**data, "file": None}, "file"),
        (lambda data: "a string", "the top level"),
    ],
    ids=["a list", "a string for a number", "no file", "no hash", "file null", "a string"],
)
def test_a_manifest_of_the_wrong_shape_cannot_prove_the_export(
    tmp_path: Path, change: object, fragment: str
) -> None:
    assert callable(change)
    export = tmp_path / "a.jsonl.gz"
    export.write_bytes(b"")
    manifest = tmp_path / "a.jsonl.gz.manifest.json"
    manifest.write_text(json.dumps(change(json.loads(a_manifest(export).to_text()))))
    # Issue 11 changed this from exit 2: a damaged proof proves nothing (exit 6).
    with pytest.raises(VerifyError) as caught:
        verify(export)
    assert caught.value.exit_code == 6
    assert "the export cannot be proven" in caught.value.message
    assert caught.value.message.startswith(f"cannot read the manifest {str(manifest)!r}: ")
    assert fragment in caught.value.message


# plan_export


def test_a_waiting_partial_blocks_a_plain_export(target: Target) -> None:
    # Waiting means a checkpoint and the partial it points at (issue 11, item 7).
    saved(target, checkpoint_for(target).to_text())
    with pytest.raises(InputError) as caught:
        plan_export(str(target.path), None, force=False, resume=False, now=lambda: STARTED)
    assert "is waiting (.audit.csv.partial)" in caught.value.message
    assert caught.value.hint == "continue it with --resume, or start over with --force"
    with plan_export(str(target.path), None, force=True, resume=False, now=lambda: STARTED) as plan:
        assert plan.checkpoint is None


def test_resume_with_nothing_to_resume_is_a_note_not_an_error(target: Target) -> None:
    with plan_export(str(target.path), None, force=False, resume=True, now=lambda: STARTED) as plan:
        pass
    assert plan.note == f"no interrupted export of {target.path} to resume; starting a new one"


def test_a_new_export_starts_now_to_the_millisecond(target: Target) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678999, tzinfo=UTC)
    with plan_export(str(target.path), None, force=False, resume=False, now=lambda: moment) as plan:
        pass
    assert plan.started == STARTED
    assert plan.note is None


def test_a_resumed_export_keeps_its_start(target: Target) -> None:
    saved(target, checkpoint_for(target).to_text())
    with plan_export(
        str(target.path), None, force=False, resume=True, now=lambda: datetime.now(UTC)
    ) as plan:
        pass
    assert plan.checkpoint is not None
    assert plan.started == STARTED


# write_atomically


def test_write_atomically_replaces_with_the_mode_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_atomically(path, "new ✓", mode=0o600)
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    write_atomically(path, b"bytes", durable=False)
    assert path.read_bytes() == b"bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]
