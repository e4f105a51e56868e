"""An archive's head, kept elsewhere after a sync, against a later copy (`verify --expect-head`).

The adversary (or a careless restore) edits the real SQLite file: puts back an
older copy, drops the newest run, or rewrites the history with a chain
recomputed the way sync computes it (the chain has no secret). Without an
anchor an archive rolled back or rewritten whole still verifies, as the docs
say; against the head a sync printed, none of them does.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from usage_cli.archive import Archive
from usage_cli.archive import _seal as seal
from usage_cli.archive._store import GENESIS, SCHEMA_VERSION, link
from usage_cli.sandbox.data import arrivals, generate_records
from usage_cli.sandbox.emulator import Emulator

from .conftest import ANCHOR, Result, run_in_memory
from .test_archive import API, TOKEN, FailAfter, offline, sync
from .test_archive_sql import indexes

NOW_MS = int(ANCHOR.timestamp() * 1000)
HEAD = re.compile(r"chain head ([0-9a-f]{64})")


def head_said(done: Result) -> str:
    """The head a sync (on stderr) or a verify (on stdout) printed."""
    found = HEAD.search(done.err + done.out)
    assert found, done.err + done.out
    return found.group(1)


def verify(db: Path, *args: str) -> Result:
    return run_in_memory(["verify", str(db), *args])


@pytest.fixture
def api() -> Emulator:
    return Emulator(generate_records(300, seed=21, anchor=ANCHOR), token=TOKEN)


def two_runs(api: Emulator, db: Path) -> tuple[str, str, Path]:
    """Two syncs into `db`, with a copy of the file between them: each run's head, the copy."""
    first = sync(api, db)
    assert first.code == 0, first.err
    older = db.with_name("older.db")
    shutil.copy(db, older)
    api.add(arrivals(120, seed=3, now_ms=NOW_MS + 60_000))
    second = sync(api, db)
    assert second.code == 0, second.err
    return head_said(first), head_said(second), older


def test_a_sync_prints_the_head_verify_prints(api: Emulator, tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    done = sync(api, db)
    assert done.code == 0
    checked = verify(db)
    assert checked.code == 0
    assert head_said(done) == head_said(checked)
    assert f"--expect-head` prove that a later copy of {db}" in done.err


def test_quiet_sync_says_nothing_and_verify_still_prints_the_head(
    api: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    assert sync(api, db, "-q").err == ""
    assert HEAD.search(verify(db).out)


def test_the_newest_head_and_an_earlier_runs_head_both_hold(api: Emulator, tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    first, second = two_runs(api, db)[:2]
    newest = verify(db, "--expect-head", second)
    assert newest.code == 0, newest.err
    assert "the expected head is its head" in newest.out
    earlier = verify(db, "--expect-head", first.upper())  # hex in either case
    assert earlier.code == 0, earlier.err
    assert "it extends the expected head by 1 sync run" in earlier.out


def test_a_rollback_to_an_older_copy_fails_against_the_kept_head(
    api: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    _, kept, older = two_runs(api, db)
    shutil.copy(older, db)  # yesterday's copy put back
    assert verify(db).code == 0  # alone, the older copy is a consistent archive
    rolled = verify(db, "--expect-head", kept)
    assert rolled.code == 6
    assert "is none this archive's runs printed: it was rolled back" in rolled.err


def test_the_newest_run_deleted_fails_alone_and_against_the_kept_head(
    api: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    _, kept, _ = two_runs(api, db)
    with sqlite3.connect(db) as connection:
        newest = connection.execute("SELECT MAX(id) FROM runs").fetchone()[0]
        connection.execute("DELETE FROM records WHERE run = ?", (newest,))
        connection.execute("DELETE FROM runs WHERE id = ?", (newest,))
    # The stretches still say the deleted run's records were synced (so no later sync
    # would fetch them again): run 1's seal no longer matches them.
    alone = verify(db)
    assert alone.code == 6
    assert (
        f"the archive's bookkeeping was edited after sync run {newest - 1} sealed it: "
        "the stretches its syncs covered"
    ) in alone.err
    dropped = verify(db, "--expect-head", kept)
    assert dropped.code == 6
    assert "lost its newest runs" in dropped.err


def test_a_history_rewritten_with_a_recomputed_chain_fails_against_the_kept_head(
    api: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    _, kept, _ = two_runs(api, db)
    with sqlite3.connect(db) as connection:
        # The forger raises one old record's count and recomputes every link after it,
        # and each run's head, exactly as sync would have.
        first_seq = connection.execute("SELECT MIN(seq) FROM records").fetchone()[0]
        raw = connection.execute("SELECT raw FROM records WHERE seq = ?", (first_seq,)).fetchone()
        forged = re.sub(r'"count":\d+', '"count":999999999', raw[0], count=1)
        connection.execute(
            "UPDATE records SET raw = ?, count = 999999999 WHERE seq = ?", (forged, first_seq)
        )
        chain = GENESIS
        rows = connection.execute("SELECT seq, source, run, raw FROM records ORDER BY seq")
        for seq, source, run, text in rows.fetchall():
            chain = link(chain, source, run, text)
            connection.execute("UPDATE records SET chain = ? WHERE seq = ?", (chain, seq))
            connection.execute("UPDATE runs SET head = ? WHERE last_seq = ?", (chain, seq))
        # And every run's seal, in order, as sync writes it: the seal has no secret.
        for (run,) in connection.execute("SELECT id FROM runs ORDER BY id").fetchall():
            seal.write(connection, run)
    assert verify(db).code == 0  # a consistent forgery, unanchored
    assert '"count":999999999' in offline(db, "list", "--all", "-o", "jsonl").out
    rewritten = verify(db, "--expect-head", kept)
    assert rewritten.code == 6
    assert "its records or its bookkeeping (sources, stretches) were rewritten" in rewritten.err


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ("xyz", "is not a sha256 (64 hex digits)"),
        ("ab" * 31, "is not a sha256 (64 hex digits)"),
    ],
)
def test_a_bad_expected_head_is_exit_2(
    api: Emulator, tmp_path: Path, head: str, message: str
) -> None:
    db = tmp_path / "usage.db"
    assert sync(api, db, "-q").code == 0
    done = verify(db, "--expect-head", head)
    assert done.code == 2
    assert message in done.err


def test_expect_head_on_an_export_file_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n")
    done = verify(tmp_path / "a.csv", "--expect-head", "ab" * 32)
    assert done.code == 2
    assert "--expect-head goes with --chain (a series' newest manifest) or an archive" in done.err


# Untrusted text in the file ---------------------------------------------------------


def test_a_label_planted_in_the_file_reaches_no_terminal_unescaped(
    api: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    assert sync(api, db, "-q").code == 0
    planted = "evil\x1b]0;pwned\x07\x1b[2J\nok: forged line"
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE sources SET label = ?", (planted,))
        # And a gap, so that the label is also in a note and a warning.
        connection.execute("UPDATE segments SET bottom = 0, cursor = 'x'")
    checked = verify(db)
    read = offline(db, "list", "--limit", "1", "-o", "jsonl")
    for said in (checked.out, checked.err, read.err):
        assert "\x1b" not in said
        assert "\x07" not in said
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J\\nok: forged line: a gap below" in checked.err
    assert "a sync of evil\\x1b]0;pwned" in read.err
    assert "\nok: forged line" not in checked.err + read.err


@pytest.mark.parametrize("name", ["a\nb", "tab\there", "bell\x07", "esc\x1b[31m"])
def test_a_source_name_with_control_characters_is_refused_before_any_request(
    api: Emulator, tmp_path: Path, name: str
) -> None:
    done = sync(api, tmp_path / "usage.db", "--source", name)
    assert done.code == 2
    assert "--source must be printable text" in done.err
    assert api.requests == []
    assert not (tmp_path / "usage.db").exists()


# Damaged files and read-only media ------------------------------------------------------


def test_an_archive_with_a_page_overwritten_is_exit_6_not_a_crash(
    api: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    assert sync(api, db, "-q").code == 0
    data = bytearray(db.read_bytes())
    # A page of the records themselves, which verify reads row by row.
    held = data.find(f'"id":"{api.records[len(api.records) // 2]["id"]}"'.encode())
    assert held > 0
    middle = held // 4096 * 4096
    data[middle : middle + 4096] = bytes((index * 131 + 7) % 256 for index in range(4096))
    db.write_bytes(bytes(data))
    checked = verify(db)
    assert checked.code == 6, checked.err
    assert "the archive is damaged: database disk image is malformed" in checked.err
    assert "unexpected internal error" not in checked.err


def test_a_truncated_archive_is_exit_6_not_a_missing_manifest(
    api: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    assert sync(api, db, "-q").code == 0
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])
    checked = verify(db)
    assert checked.code == 6, checked.err
    assert "the archive is damaged" in checked.err
    assert "manifest" not in checked.err


def test_a_read_only_archive_is_read_verified_and_exported_but_not_synced(
    api: Emulator, read_only: tuple[Path, Path], tmp_path: Path
) -> None:
    source, mounted = read_only
    assert sync(api, source / "usage.db", "-q").code == 0
    db = mounted / "usage.db"
    with pytest.raises(OSError, match="Read-only file system"):
        (mounted / "probe").write_text("x")
    listed = offline(db, "list", "--all", "-o", "jsonl")
    assert listed.code == 0, listed.err
    assert len(listed.out.splitlines()) == 300
    summed = offline(db, "summary", "--by", "type", "-o", "json")
    assert summed.code == 0, summed.err
    exported = offline(db, "export", str(tmp_path / "out.jsonl"))
    assert exported.code == 0, exported.err
    checked = verify(db)
    assert checked.code == 0, checked.err
    assert head_said(checked) == head_said(verify(source / "usage.db"))
    refused = sync(api, db)
    assert refused.code == 2
    assert f"cannot sync into {db}: Read-only file system" in refused.err
    assert "can be read (--db) and verified, not synced" in refused.err
    assert sorted(path.name for path in source.iterdir()) == ["usage.db"]


# The bookkeeping is sealed -----------------------------------------------------------


def test_a_gap_relabelled_as_the_end_of_the_list_is_caught(tmp_path: Path) -> None:
    # A sync stopped midway leaves a gap verify rightly reports (exit 6, "the API can
    # still fill"); one flag, edited, used to turn that into exit 0 and a gap no later
    # sync fills.
    api = Emulator(generate_records(1200, seed=11, anchor=ANCHOR), token=TOKEN)
    db = tmp_path / "usage.db"
    words = ["--api-url", API, "--token", TOKEN, "--retries", "0", "sync", "--db", str(db)]
    stopped = run_in_memory([*words, "--streams", "1"], transport=FailAfter(api, 4))
    assert stopped.code == 5
    gap = verify(db)
    assert gap.code == 6
    assert "that the API can still fill" in gap.err
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE segments SET bottom = 1, cursor = NULL WHERE bottom = 0")
    hidden = verify(db)
    assert hidden.code == 6
    assert (
        "the archive's bookkeeping was edited after sync run 1 sealed it: "
        "the stretches its syncs covered"
    ) in hidden.err


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ("UPDATE sources SET label = 'someone-else'", "its sources (labels, API, user)"),
        ("UPDATE sources SET api_url = 'http://elsewhere'", "its sources (labels, API, user)"),
        ("UPDATE runs SET outcome = 'failed' WHERE id = 2", "the run's own figures"),
        ("UPDATE segments SET oldest = oldest - 86400000", "the stretches its syncs covered"),
        ("UPDATE runs SET seal = NULL WHERE id = 1", "the runs before it"),
    ],
)
def test_an_edit_to_the_bookkeeping_is_named(
    api: Emulator, tmp_path: Path, edit: str, named: str
) -> None:
    db = tmp_path / "usage.db"
    two_runs(api, db)
    assert verify(db).code == 0
    with sqlite3.connect(db) as connection:
        connection.execute(edit)
    edited = verify(db)
    assert edited.code == 6
    assert f"edited after sync run 2 sealed it: {named}" in edited.err


def test_a_seal_rewritten_by_hand_or_removed_is_caught(api: Emulator, tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    two_runs(api, db)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE runs SET seal = 'not json' WHERE id = 2")
    assert "sync run 2's seal was changed" in verify(db).err
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE runs SET seal = NULL WHERE id = 2")
    unsealed = verify(db)
    assert unsealed.code == 6
    assert "sync run 2 has no seal, though run 1 before it has" in unsealed.err


def test_an_archive_made_before_seals_verifies_with_a_note_and_is_sealed_by_its_next_sync(
    api: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    assert sync(api, db, "-q").code == 0
    with sqlite3.connect(db) as connection:
        # As a version 1 archive is: no seal column.
        connection.execute("ALTER TABLE runs DROP COLUMN seal")
        connection.execute("ALTER TABLE runs DROP COLUMN signature")
        connection.execute("PRAGMA user_version = 1")
    old = verify(db)
    assert old.code == 0, old.err
    assert "ran before syncs sealed their bookkeeping" in old.err
    api.add(arrivals(50, seed=5, now_ms=NOW_MS + 60_000))
    assert sync(api, db, "-q").code == 0
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    sealed = verify(db)
    assert sealed.code == 0, sealed.err
    assert "sealed their bookkeeping" not in sealed.err
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE segments SET bottom = 0")
    assert verify(db).code == 6


# Signed runs ---------------------------------------------------------------------------

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    made = {}
    for name, comment in (("ci", "ci@example.com"), ("intruder", "intruder@example.com")):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", folder / name],
            check=True,
        )
        made[name] = folder / name
    made["allowed"] = folder / "allowed_signers"
    made["allowed"].write_text(f"ci@example.com {(folder / 'ci.pub').read_text()}")
    return made


@needs_ssh_keygen
def test_signed_runs_name_their_signer(
    api: Emulator, tmp_path: Path, keys: dict[str, Path]
) -> None:
    db = tmp_path / "usage.db"
    first = sync(api, db, "--sign", str(keys["ci"]))
    assert first.code == 0, first.err
    assert "signed sync run 1 with ci" in first.err
    api.add(arrivals(40, seed=8, now_ms=NOW_MS + 60_000))
    assert sync(api, db, "--sign", str(keys["ci"]), "-q").code == 0
    checked = verify(db, "--signers", str(keys["allowed"]))
    assert checked.code == 0, checked.err
    assert "runs signed by ci@example.com" in checked.out


@needs_ssh_keygen
def test_a_forged_run_appended_after_the_signed_ones_fails_the_signers_check(
    api: Emulator, tmp_path: Path, keys: dict[str, Path]
) -> None:
    db = tmp_path / "usage.db"
    assert sync(api, db, "--sign", str(keys["ci"]), "-q").code == 0
    with sqlite3.connect(db) as connection:
        # A run and a record, chained and sealed exactly as a sync would: no secret stops it.
        last_seq, chain = connection.execute(
            "SELECT seq, chain FROM records ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        raw = (
            '{"id":"rec_forged","type":"OPENAI_GPT_4O_TOKEN","count":999999999,'
            f'"createdAt":{NOW_MS},"updatedAt":{NOW_MS}}}'
        )
        run = connection.execute(
            "INSERT INTO runs (source, started_at, ended_at, outcome, added, first_seq, "
            "last_seq, tool_version) VALUES (1, ?, ?, 'complete', 1, ?, ?, 'forged')",
            (NOW_MS, NOW_MS, last_seq + 1, last_seq + 1),
        ).lastrowid
        assert run is not None
        forged = link(bytes(chain), 1, run, raw)
        connection.execute(
            "INSERT INTO records (seq, source, id, created_at, type, count, raw, run, chain) "
            "VALUES (?, 1, 'rec_forged', ?, 'OPENAI_GPT_4O_TOKEN', 999999999, ?, ?, ?)",
            (last_seq + 1, NOW_MS, raw, run, forged),
        )
        connection.execute("UPDATE runs SET head = ? WHERE id = ?", (forged, run))
        seal.write(connection, run)
    assert verify(db).code == 0  # unsigned, the forgery is consistent
    signed = verify(db, "--signers", str(keys["allowed"]))
    assert signed.code == 6
    assert f"sync run {run} (started" in signed.err
    assert "is not signed: it, and any run after the newest signed one, could be forged" in (
        signed.err
    )


@needs_ssh_keygen
def test_a_run_signed_by_a_key_not_allowed_or_a_signature_moved_is_caught(
    api: Emulator, tmp_path: Path, keys: dict[str, Path]
) -> None:
    db = tmp_path / "usage.db"
    assert sync(api, db, "--sign", str(keys["intruder"]), "-q").code == 0
    stranger = verify(db, "--signers", str(keys["allowed"]))
    assert stranger.code == 6
    assert "sync run 1 is signed by a key that" in stranger.err
    # A good signature copied onto another run does not vouch for it.
    other = tmp_path / "other.db"
    assert sync(api, other, "--sign", str(keys["ci"]), "-q").code == 0
    api.add(arrivals(20, seed=9, now_ms=NOW_MS + 60_000))
    assert sync(api, other, "-q").code == 0
    with sqlite3.connect(other) as connection:
        connection.execute(
            "UPDATE runs SET signature = (SELECT signature FROM runs WHERE id = 1) WHERE id = 2"
        )
    moved = verify(other, "--signers", str(keys["allowed"]))
    assert moved.code == 6
    assert "the signature of sync run 2 does not verify" in moved.err


def test_signing_with_a_key_that_is_not_there_is_refused_before_any_request(
    api: Emulator, tmp_path: Path
) -> None:
    done = sync(api, tmp_path / "usage.db", "--sign", str(tmp_path / "no-such-key"))
    assert done.code == 2
    assert "no such key file" in done.err
    assert api.requests == []


@needs_ssh_keygen
def test_an_unsigned_run_before_a_signed_one_is_covered_and_said(
    api: Emulator, tmp_path: Path, keys: dict[str, Path]
) -> None:
    db = tmp_path / "usage.db"
    key = str(keys["ci"])
    assert sync(api, db, "--sign", key, "-q").code == 0
    api.add(arrivals(30, seed=12, now_ms=NOW_MS + 60_000))
    assert sync(api, db, "-q").code == 0  # a run without --sign
    api.add(arrivals(30, seed=13, now_ms=NOW_MS + 120_000))
    assert sync(api, db, "--sign", key, "-q").code == 0
    checked = verify(db, "--signers", str(keys["allowed"]))
    assert checked.code == 0, checked.err
    assert "note: sync run 2 is not signed (a run killed, or synced without --sign)" in (
        checked.err
    )


@needs_ssh_keygen
def test_a_signed_first_sync_stopped_while_indexing_is_complete_signed_and_says_its_head(
    api: Emulator, tmp_path: Path, keys: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def stopped(archive: Archive, *, repack: bool = False) -> None:
        # Ctrl-C reaches Python between two of the build's statements.
        with archive.transaction() as db:
            db.execute("REINDEX records_by_time")
            raise KeyboardInterrupt

    monkeypatch.setattr(Archive, "build_indexes", stopped)
    db = tmp_path / "usage.db"
    key = str(keys["ci"])
    done = sync(api, db, "--sign", key, "-o", "json")
    assert done.code == 130
    assert "signed sync run 1 with ci" in done.err
    assert "synced 300 new records in " in done.err
    # 300 records index in a blink: no note of it (one comes from 100,000 on).
    assert "building the indexes" not in done.err
    head = head_said(done)
    assert (
        "error: interrupted while indexing the archive; the sync itself is complete and kept "
        "(sync run 1, signed, 300 new records)\n"
        "hint: the next `usage sync` builds the indexes; reads meanwhile give the same "
        "answers, only slower\n"
    ) in done.err
    assert "every page synced so far" not in done.err
    assert done.out == ""  # a run stopped writes no document, as one that fails
    assert indexes(db) == {"records_by_time"}
    checked = verify(db, "--signers", str(keys["allowed"]), "--expect-head", head)
    assert checked.code == 0, checked.err
    assert "runs signed by ci@example.com" in checked.out

    monkeypatch.undo()
    again = sync(api, db, "--sign", key, "-q")
    assert again.code == 0, again.err
    assert indexes(db) == {"records_by_time", "records_by_type", "records_by_bot_id"}
    assert verify(db, "--signers", str(keys["allowed"]), "--expect-head", head).code == 0


def ssh_keygen_signing_as(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sign: str) -> None:
    """An ssh-keygen first on PATH that checks keys as the real one does, and runs the
    shell words `sign` when asked to sign."""
    tools = tmp_path / "bin"
    tools.mkdir()
    fake = tools / "ssh-keygen"
    real = shutil.which("ssh-keygen")
    fake.write_text(
        f'#!/bin/sh\ncase "$*" in\n  *"-Y sign"*) {sign} ;;\n  *) exec {real} "$@" ;;\nesac\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")


@needs_ssh_keygen
def test_a_sync_stopped_while_signing_is_complete_and_says_it_is_unsigned(
    api: Emulator, tmp_path: Path, keys: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Asked to sign (a security key's touch awaited, say), it is stopped by a Ctrl-C:
    # SIGINT to this process.
    ssh_keygen_signing_as(tmp_path, monkeypatch, "kill -INT $PPID; sleep 10")
    db = tmp_path / "usage.db"
    done = sync(api, db, "--sign", str(keys["ci"]))
    assert done.code == 130
    assert (
        "error: interrupted while signing sync run 1; the sync itself is complete and kept, "
        "unsigned\nhint: `usage verify --signers` will say sync run 1 is not signed"
    ) in done.err
    assert verify(db).code == 0


@needs_ssh_keygen
def test_a_signature_that_fails_leaves_the_head_said(
    api: Emulator, tmp_path: Path, keys: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ssh_keygen_signing_as(tmp_path, monkeypatch, 'echo "agent refused" >&2; exit 1')
    db = tmp_path / "usage.db"
    done = sync(api, db, "--sign", str(keys["ci"]))
    assert done.code != 0
    head = head_said(done)
    assert "synced 300 new records in " in done.err
    assert verify(db, "--expect-head", head).code == 0
