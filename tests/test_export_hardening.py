"""Issue 11 in-process: one writer per target, no stale state, damaged files, odd targets."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from usage_cli._files import PID_MAX, temporary_for, write_atomically
from usage_cli._lock import TargetLock
from usage_cli.errors import InputError, StorageError
from usage_cli.export import Checkpoint, PartialFile, Target, plan_export
from usage_cli.formats import Format
from usage_cli.sandbox import Sandbox

from .conftest import FailAfter, Result
from .test_export import export, read_records
from .test_export_units import STARTED, checkpoint_for, saved


@pytest.fixture
def target(tmp_path: Path) -> Target:
    return Target(tmp_path / "audit.csv", Format.csv)


def plan(target: Target, *, force: bool = False, resume: bool = False) -> Any:
    return plan_export(str(target.path), None, force=force, resume=resume, now=lambda: STARTED)


def hidden(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob(".*"))


# 1. One writer per target


def test_a_second_plan_on_a_held_target_is_refused_naming_the_holder(target: Target) -> None:
    with plan(target) as first:
        assert first.lock is not None
        assert target.lock.read_text() == f"{os.getpid()}\n"
        for force, resume in [(False, False), (True, False), (False, True)]:
            with pytest.raises(InputError) as caught:
                plan(target, force=force, resume=resume)
            assert caught.value.exit_code == 2
            assert f"process {os.getpid()}" in caught.value.message
            assert "another export to" in caught.value.message
    # Let go of on close, and the file with it: nothing is left beside the target.
    assert hidden(target.path.parent) == []
    with plan(target):
        pass


def test_a_holder_that_has_not_written_its_pid_yet_is_another_process(target: Target) -> None:
    fd = os.open(target.lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(
            InputError, match=r"is running \(another process, lock .audit.csv.lock\)"
        ):
            plan(target, force=True)
    finally:
        os.close(fd)


def test_a_lock_file_left_by_a_dead_run_is_taken(target: Target) -> None:
    # What SIGKILL leaves: the file, with no one holding it (the kernel let go).
    target.lock.write_text("999999999\n")
    with plan(target):
        assert target.lock.read_text() == f"{os.getpid()}\n"
    assert not target.lock.exists()


def test_a_lock_unlinked_between_open_and_flock_is_not_trusted(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = TargetLock.acquire(target.lock, "audit.csv")
    real_flock = fcntl.flock
    calls: list[int] = []

    def flock_after_the_holder_leaves(fd: int, operation: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            # The holder finishes in the instant between our open and our flock.
            holder.release()
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_the_holder_leaves)
    with TargetLock.acquire(target.lock, "audit.csv") as mine:
        assert len(calls) == 2  # the orphaned file was let go of, the new one locked
        assert target.lock.exists()
        monkeypatch.setattr(fcntl, "flock", real_flock)
        with pytest.raises(InputError):
            TargetLock.acquire(target.lock, "audit.csv")
        assert mine.held
    assert not target.lock.exists()


def test_a_refused_plan_lets_go_of_the_lock(target: Target) -> None:
    target.path.write_text("kept")
    with pytest.raises(InputError):
        plan(target)  # exists, no --force: refused before the lock
    target.path.unlink()
    saved(target, "{not json")
    with pytest.raises(InputError, match="cannot be read"):
        plan(target, resume=True)  # refused while holding it
    assert not target.lock.exists()
    with plan(target, force=True):
        pass


def test_no_lock_file_is_left_however_the_run_ends(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "audit.jsonl"
    assert export(cli, target, "--take", "50", transport=FailAfter(2)).code == 5
    assert ".audit.jsonl.lock" not in hidden(tmp_path)
    assert export(cli, target, "--take", "50", "--resume").code == 0
    assert hidden(tmp_path) == []


def test_an_unlocked_plan_cannot_write(cli: Any, server: Sandbox, target: Target) -> None:
    closed = plan(target)
    closed.close()
    closed.close()  # idempotent
    with pytest.raises(RuntimeError, match="lock"):
        closed.run(None, None, api_root="x", stdout=None, now=lambda: STARTED)
    assert not target.partial.exists()


# 7. A run that failed before its first page leaves nothing waiting


def test_a_wrong_token_leaves_nothing_and_blocks_nothing(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "audit.csv"
    refused = cli("--token", "wrong", "export", str(target))
    assert refused.code == 3
    assert "--resume" not in refused.err
    assert hidden(tmp_path) == []
    again = export(cli, target)
    assert again.code == 0, again.err
    assert "waiting" not in again.err


def test_resume_and_the_refusal_agree_on_what_is_waiting(target: Target) -> None:
    # A partial nothing vouches for (a run killed before its first checkpoint):
    # not waiting for the refusal, and nothing to resume for --resume.
    target.partial.write_bytes(b"half a page")
    with plan(target) as fresh:
        assert fresh.checkpoint is None
    with plan(target, resume=True) as resumed:
        assert resumed.checkpoint is None
        assert resumed.note is not None
        assert "starting a new one" in resumed.note
    # A checkpoint and its partial: waiting for both.
    saved(target, checkpoint_for(target).to_text())
    with pytest.raises(InputError, match="is waiting"):
        plan(target)
    with plan(target, resume=True) as resumed:
        assert resumed.checkpoint is not None


def test_a_failure_at_the_first_page_leaves_nothing_waiting(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "audit.jsonl"
    failed = export(cli, target, "--retries", "0", transport=FailAfter(0))
    assert failed.code == 5
    assert "--resume" not in failed.err
    assert hidden(tmp_path) == []
    assert export(cli, target).code == 0


def test_a_partial_nothing_vouches_for_is_removed_on_failure(target: Target) -> None:
    with PartialFile.open(target, checkpoint_for(target)) as partial:
        partial.write(b"page one\n")
        partial.commit("c_1", 1, checkpoint_for(target).stats)
        # The server went away before the first save:
        partial.discard_unless_saved()
    assert not target.partial.exists()
    assert not target.checkpoint.exists()


def test_a_saved_partial_is_kept_on_failure(target: Target) -> None:
    with PartialFile.open(target, checkpoint_for(target)) as partial:
        partial.write(b"page one\n")
        partial.commit("c_1", 1, checkpoint_for(target).stats)
        partial.save()
        partial.write(b"page t")
        partial.discard_unless_saved()
    assert target.waiting


# 8. The user's environment: names, disks, streams


def test_a_file_name_too_long_is_bad_input_before_any_request(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    result = export(cli, tmp_path / ("x" * 300 + ".csv"))
    assert result.code == 2, result.err
    assert "File name too long" in result.err
    assert "internal error" not in result.err
    assert server.requests == []
    assert hidden(tmp_path) == []


def test_a_name_too_long_only_for_the_checkpoint_is_refused_before_any_request(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    name = "x" * 240 + ".csv"  # the target and its lock fit; the checkpoint's temporary not
    result = export(cli, tmp_path / name)
    assert result.code == 2, result.err
    longest = temporary_for(tmp_path / f".{name}.checkpoint.json", PID_MAX)
    assert f"File name too long ({longest})" in result.err
    assert server.requests == []
    assert hidden(tmp_path) == []


def test_write_atomically_leaves_no_stray_when_the_disk_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(source: object, destination: object) -> None:
        raise OSError(28, os.strerror(28))

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(tmp_path / "a.json", "{}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "/dev/stderr"])
def test_a_standard_stream_as_the_target_points_at_dash(
    cli: Any, server: Sandbox, name: str
) -> None:
    for extra in ([], ["-o", "jsonl"]):
        result: Result = cli("export", name, *extra)
        assert result.code == 2, result.err
        assert "to write to standard output use - with --format" in result.err
    assert server.requests == []


# 9. Damaged state files


def first_pages_then_fail(cli: Any, target: Path) -> dict[str, Any]:
    assert export(cli, target, "--take", "20", transport=FailAfter(3)).code == 5
    return json.loads(target.with_name(f".{target.name}.checkpoint.json").read_text())  # type: ignore[no-any-return]


def test_a_partial_changed_since_its_checkpoint_is_refused_not_blessed(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "audit.jsonl"
    checkpoint = first_pages_then_fail(cli, target)
    assert checkpoint["version"] == 2
    partial = tmp_path / ".audit.jsonl.partial"
    data = bytearray(partial.read_bytes())
    assert hashlib.sha256(data[: checkpoint["bytes"]]).hexdigest() == checkpoint["sha256"]
    data[10] ^= 0x01  # same size, one byte changed in the checkpointed part
    partial.write_bytes(bytes(data))
    server.requests.clear()
    refused = export(cli, target, "--take", "20", "--resume")
    assert refused.code == 2
    assert "has changed since its checkpoint was written" in refused.err
    assert "start over with --force" in refused.err
    assert server.requests == []
    assert not target.exists()
    assert export(cli, target, "--take", "20", "--force").code == 0
    assert read_records(target) == server.records


def test_the_partial_is_checked_again_when_it_is_opened(target: Target) -> None:
    checkpoint = replace(checkpoint_for(target), bytes=3, sha256=hashlib.sha256(b"abc").hexdigest())
    saved(target, checkpoint.to_text(), b"abcdef")
    loaded = Checkpoint.load(target)
    assert loaded is not None
    target.partial.write_bytes(b"abXdef")  # changed after the plan's check
    with pytest.raises(InputError, match="has changed"):
        PartialFile.open(target, checkpoint_for(target), resume_from=loaded)
    target.partial.write_bytes(b"ab")
    with pytest.raises(InputError, match="shorter"):
        PartialFile.open(target, checkpoint_for(target), resume_from=loaded)


def test_a_partial_changed_while_it_is_written_is_never_sealed(target: Target) -> None:
    with PartialFile.open(target, checkpoint_for(target)) as partial:
        partial.write(b"page one\n")
        partial.commit("c_1", 1, checkpoint_for(target).stats)
        partial.save()
        with open(target.partial, "r+b") as other_hand:
            other_hand.write(b"P")
        with pytest.raises(StorageError, match="changed while the export was writing it"):
            partial.seal()
    assert not target.checkpoint.exists()


MORE_WRONG_SHAPES = {
    "a list": "[]",
    "a string": '"checkpoint"',
    "stats null": None,
    "a sha256 that is no hash": None,
    "end and cursor disagree": None,
    "an empty cursor": None,
    "deeply nested": "[" * 100_000 + "]" * 100_000,
    "not UTF-8": b"\xff\xfe{}",
    "records below zero": None,
    "records that are not the sum of their types": None,
    "a countTotal that is not the sum of its types": None,
    "records in no page": None,
}


# Figures that add up: two records of one type.
FIGURES = {
    "records": 2,
    "countTotal": 5,
    "countByType": {"T": 5},
    "recordsByType": {"T": 2},
    "firstCreatedAt": "2026-01-01T00:00:00.000Z",
    "lastCreatedAt": "2026-01-01T00:00:00.001Z",
    "firstCreatedAtMs": 1767225600000,
    "lastCreatedAtMs": 1767225600001,
}


def damaged(target: Target, case: str) -> str | bytes:
    data = json.loads(checkpoint_for(target).to_text())
    changes: dict[str, dict[str, Any]] = {
        "stats null": {"stats": None},
        "a sha256 that is no hash": {"sha256": "abc"},
        "end and cursor disagree": {"end": False},
        "an empty cursor": {"cursor": "", "end": False},
        "records below zero": {"stats": {**data["stats"], "records": -1}},
        "records that are not the sum of their types": {
            "stats": {**FIGURES, "records": 841},
            "pages": 1,
        },
        "a countTotal that is not the sum of its types": {
            "stats": {**FIGURES, "countTotal": -7},
            "pages": 1,
        },
        "records in no page": {"stats": FIGURES, "pages": 0},
    }
    given = MORE_WRONG_SHAPES[case]
    return given if given is not None else json.dumps({**data, **changes[case]})


@pytest.mark.parametrize("case", MORE_WRONG_SHAPES)
def test_a_damaged_checkpoint_is_exit_2_with_how_to_start_over(
    cli: Any, server: Sandbox, tmp_path: Path, case: str
) -> None:
    target = Target(tmp_path / "audit.csv", Format.csv)
    text = damaged(target, case)
    target.partial.write_bytes(b"")
    if isinstance(text, bytes):
        target.checkpoint.write_bytes(text)
    else:
        target.checkpoint.write_text(text)
    result = export(cli, target.path, "--resume")
    assert result.code == 2, result.err
    assert "start over" in result.err
    assert "Traceback" not in result.err
    assert server.requests == []


MANIFESTS = {
    "a list": "[]",
    "a string for a number": None,
    "file null": None,
    "a missing field": None,
    "deeply nested": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("case", MANIFESTS)
def test_a_damaged_manifest_is_exit_6(cli: Any, tmp_path: Path, case: str) -> None:
    target = tmp_path / "audit.csv"
    assert export(cli, target).code == 0
    manifest = tmp_path / "audit.csv.manifest.json"
    data = json.loads(manifest.read_text())
    changed = {
        "a string for a number": {**data, "records": str(data["records"])},
        "file null": {**data, "file": None},
        "a missing field": {k: v for k, v in data.items() if k != "countTotal"},
    }
    given = MANIFESTS[case]
    manifest.write_text(given if given is not None else json.dumps(changed[case]))
    result = cli("verify", str(target))
    assert result.code == 6, result.err
    assert "the export cannot be proven" in result.err


def test_a_manifest_that_is_a_directory_is_exit_6(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "audit.csv"
    target.write_text("id\r\n")
    (tmp_path / "audit.csv.manifest.json").mkdir()
    result = cli("verify", str(target))
    assert result.code == 6
    assert "cannot read the manifest" in result.err


def test_verify_of_a_directory_is_bad_input(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "exports.csv"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    for path in (str(folder), ".", str(tmp_path) + "/"):
        result = cli("verify", path)
        assert result.code == 2, (path, result.err)
        assert "is a directory, not an export" in result.err.splitlines()[0]


def test_figures_that_add_up_are_accepted(target: Target) -> None:
    data = json.loads(checkpoint_for(target).to_text())
    loaded = Checkpoint.from_text(json.dumps({**data, "stats": FIGURES, "pages": 1}))
    assert loaded.stats["records"] == 2
