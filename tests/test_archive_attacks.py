"""What someone who can edit the archive's file (but cannot sync with the token) tries
beyond its rows: the table's own definition, the page hash's boundaries, the indexes
a summary reads alone, triggers. Each edit keeps the chain's head, so `verify
--expect-head` must find it another way."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from usage_cli.archive._seal import write as write_seal

from .conftest import Result, run_in_memory


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, str]:
    """A demo archive and the head its sync printed."""
    db = tmp_path / "usage.db"
    done = run_in_memory(["sync", "--demo", "--db", str(db)], env={})
    assert done.code == 0, done.err
    head = re.search(r"chain head ([0-9a-f]{64})", done.err)
    assert head is not None
    return db, head.group(1)


def verify(db: Path, head: str) -> Result:
    return run_in_memory(["verify", str(db), "--expect-head", head], env={})


def edit(db: Path, *statements: str) -> None:
    connection = sqlite3.connect(db, isolation_level=None)
    try:
        for statement in statements:
            connection.execute(statement)
    finally:
        connection.close()


def test_the_untouched_archive_holds_its_head(archive: tuple[Path, str]) -> None:
    db, head = archive
    done = verify(db, head)
    assert done.code == 0, done.err


def test_a_computed_columns_formula_rewritten(archive: tuple[Path, str]) -> None:
    db, head = archive
    before = run_in_memory(["list", "--db", str(db), "--conversation-id", "conv_12", "--all"])
    assert before.jsonl()
    edit(
        db,
        "PRAGMA writable_schema = ON",
        "UPDATE sqlite_master SET sql = replace(sql, "
        "'conversation_id TEXT GENERATED ALWAYS AS (json_extract(raw, ''$.conversationId''))', "
        "'conversation_id TEXT GENERATED ALWAYS AS (CASE WHEN json_extract(raw, "
        "''$.conversationId'') = ''conv_12'' THEN ''conv_99'' ELSE json_extract(raw, "
        "''$.conversationId'') END)') WHERE name = 'records'",
    )
    # The lie is there to be told...
    after = run_in_memory(["list", "--db", str(db), "--conversation-id", "conv_12", "--all"])
    assert after.jsonl() == []
    # ...and verify tells it.
    done = verify(db, head)
    assert done.code == 6
    assert "the records table was redefined after a sync created it" in done.err


def test_a_row_hidden_inside_the_one_before_it(archive: tuple[Path, str]) -> None:
    """One hash a page: a row's JSON that carries a NUL, the next row's header and JSON
    hashes as the two rows did. A sync never writes a NUL byte."""
    db, head = archive
    connection = sqlite3.connect(db, isolation_level=None)
    try:
        source, run = connection.execute("SELECT source, run FROM records WHERE seq = 6").fetchone()
        connection.execute("BEGIN")
        connection.execute(
            "UPDATE records SET raw = raw || char(0) || ? || char(0) || ? || char(0) || "
            "(SELECT raw FROM records WHERE seq = 6) WHERE seq = 5",
            (str(source), str(run)),
        )
        connection.execute("DELETE FROM records WHERE seq = 6")
        connection.execute("UPDATE records SET seq = -(seq - 1) WHERE seq > 6")
        connection.execute("UPDATE records SET seq = -seq WHERE seq < 0")
        connection.execute("UPDATE runs SET added = added - 1, last_seq = last_seq - 1")
        connection.execute("UPDATE sqlite_sequence SET seq = seq - 1 WHERE name = 'records'")
        write_seal(connection, 1)
        connection.execute("COMMIT")
    finally:
        connection.close()
    done = verify(db, head)
    assert done.code == 6
    assert "row 5 (id " in done.err
    assert "holds a NUL byte" in done.err


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            # Text that is no number stays text in an INTEGER column.
            lambda db: edit(db, "UPDATE records SET source = '1' || char(0) WHERE seq = 3"),
            "its source or run is not a number",
        ),
        (
            lambda db: edit(db, "UPDATE records SET raw = CAST(raw AS BLOB) WHERE seq = 3"),
            "its JSON is not text",
        ),
    ],
    ids=["source as text", "raw as a blob"],
)
def test_a_row_not_shaped_as_a_sync_writes_it(
    archive: tuple[Path, str], change: Callable[[Path], None], said: str
) -> None:
    db, head = archive
    change(db)
    done = verify(db, head)
    assert done.code == 6
    assert said in done.err


def test_an_index_a_summary_reads_swapped_for_a_forged_one(archive: tuple[Path, str]) -> None:
    db, head = archive
    edit(
        db,
        "CREATE TABLE fake AS SELECT source, type, created_at, count, bot_id FROM records",
        "UPDATE fake SET count = count * 10 WHERE type = 'OPENAI_GPT_4O_TOKEN'",
        "CREATE INDEX fake_by_type ON fake (source, type, created_at DESC, count)",
        "PRAGMA writable_schema = ON",
        "UPDATE sqlite_master SET rootpage = (SELECT rootpage FROM sqlite_master "
        "WHERE name = 'fake_by_type') WHERE name = 'records_by_type'",
    )
    done = verify(db, head)
    assert done.code == 6
    assert "the file's pages or indexes do not hold together" in done.err


@pytest.mark.parametrize(
    ("statements", "said"),
    [
        (
            [
                "CREATE TRIGGER quiet AFTER INSERT ON records BEGIN "
                "UPDATE records SET count = 0 WHERE seq = new.seq; END"
            ],
            "a trigger was added ('quiet' on records)",
        ),
        (
            ["CREATE INDEX records_by_task ON records (source, task_id, created_at DESC, count)"],
            "an index was added to the records ('records_by_task')",
        ),
        (
            [
                "DROP INDEX records_by_type",
                "CREATE INDEX records_by_type ON records (source, type, created_at DESC, count) "
                "WHERE type <> 'OPENAI_GPT_4O_TOKEN'",
            ],
            "the index records_by_type was redefined",
        ),
        (
            [
                "DROP VIEW usage_records",
                "DROP VIEW usage_records_whole",
                "ALTER TABLE records DROP COLUMN conversation_id",
            ],
            "the records table was altered: its columns are not the ones a sync creates",
        ),
    ],
    ids=["trigger", "extra index", "index redefined", "column dropped"],
)
def test_what_a_sync_never_creates_is_named(
    archive: tuple[Path, str], statements: list[str], said: str
) -> None:
    db, head = archive
    edit(db, *statements)
    done = verify(db, head)
    assert done.code == 6, done.err
    assert said in done.err
    assert "internal error" not in done.err


def verify_with_the_lock_held(db: Path, head: str) -> Result:
    """`verify` while the archive's sync lock is held, as by a sync (or by hand)."""
    from usage_cli._lock import TargetLock
    from usage_cli.archive._file import lock_path

    lock = TargetLock.acquire(lock_path(db), str(db), doing="sync into")
    try:
        return verify(db, head)
    finally:
        lock.release()


def test_a_lock_held_by_hand_excuses_no_edit_of_the_bookkeeping(
    archive: tuple[Path, str],
) -> None:
    """A lock held (by anything) once turned the seal and gap checks off."""
    db, head = archive
    edit(db, "UPDATE sources SET label = 'prod' WHERE label = 'demo'")
    done = verify_with_the_lock_held(db, head)
    assert done.code == 6, done.out
    assert "its sources (labels, API, user)" in done.err
    assert "is running" not in done.err + done.out


def test_a_run_marked_running_by_hand_is_caught_by_its_seal(archive: tuple[Path, str]) -> None:
    db, head = archive
    edit(db, "UPDATE runs SET outcome = 'running'")
    done = verify_with_the_lock_held(db, head)
    assert done.code == 6, done.out
    assert "the run's own figures" in done.err


def test_the_row_counter_set_past_the_last_row(archive: tuple[Path, str]) -> None:
    db, head = archive
    edit(db, "UPDATE sqlite_sequence SET seq = 5000 WHERE name = 'records'")
    done = verify(db, head)
    assert done.code == 6
    assert "the archive's row counter says 5,000 where the last row a sync wrote is 1,000" in (
        done.err
    )


def test_half_an_emoji_in_an_id_from_a_hostile_api_is_a_refused_page(tmp_path: Path) -> None:
    from usage_cli.archive import Archive
    from usage_cli.errors import SchemaError
    from usage_cli.records import UsageRecord

    from .test_archive_schema import a_running_run

    db = tmp_path / "usage.db"
    record = UsageRecord({"id": "rec_\ud83d", "type": "T", "count": 1, "createdAt": 1})
    with Archive.open(db, create=True) as archive:
        source = archive.bind_source("s", "http://127.0.0.1:9", None, 1)
        with archive.transaction() as connection:
            run = a_running_run(connection, source.id)
            with pytest.raises(SchemaError, match="half an emoji"):
                archive.insert(connection, source, run, [record])


def test_a_view_made_again_under_another_case_with_the_version_set_back(
    archive: tuple[Path, str],
) -> None:
    """SQLite matches names whatever their case, and a version set back by hand once
    turned the views' check off."""
    db, head = archive
    edit(
        db,
        "DROP VIEW usage_records",
        'CREATE VIEW "USAGE_RECORDS" AS SELECT id, type, count * 2 AS count FROM records',
        "PRAGMA user_version = 2",
    )
    connection = sqlite3.connect(db)
    doubled = connection.execute("SELECT sum(count) FROM usage_records").fetchone()[0]
    honest = connection.execute("SELECT sum(count) FROM records").fetchone()[0]
    connection.close()
    assert doubled == 2 * honest  # the lie a SQL tool would read
    done = verify(db, head)
    assert done.code == 6
    assert "usage_records was redefined after a sync created it" in done.err


def test_an_index_added_with_the_version_set_back(archive: tuple[Path, str]) -> None:
    db, head = archive
    edit(
        db,
        'CREATE INDEX "Records_By_Type " ON records (source, type, created_at DESC, count)',
        "PRAGMA user_version = 3",
    )
    done = verify(db, head)
    assert done.code == 6
    assert "an index was added to the records ('Records_By_Type ')" in done.err


@pytest.mark.parametrize("seals", ["sealed again", "seals cleared"])
def test_a_source_renamed_and_its_seal_remade_or_cleared_misses_the_kept_head(
    archive: tuple[Path, str], seals: str
) -> None:
    """The seal has no secret: the kept head binds it, so the bookkeeping as the last
    sync left it is proven too, not the records alone."""
    db, head = archive
    connection = sqlite3.connect(db, isolation_level=None)
    try:
        connection.execute("UPDATE sources SET label = 'prod' WHERE label = 'demo'")
        if seals == "sealed again":
            write_seal(connection, 1)
        else:
            connection.execute("UPDATE runs SET seal = NULL")
    finally:
        connection.close()
    done = verify(db, head)
    assert done.code == 6, done.out
    assert "is none this archive's runs printed" in done.err


def test_a_head_of_the_records_alone_still_proves_them_and_says_so(
    archive: tuple[Path, str],
) -> None:
    db, head = archive
    connection = sqlite3.connect(db)
    (records_head,) = connection.execute(
        "SELECT chain FROM records WHERE chain IS NOT NULL ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    connection.close()
    assert records_head.hex() != head  # what a sync prints binds the seal too
    done = verify(db, records_head.hex())
    assert done.code == 0, done.err
    assert "it proves the records, not the bookkeeping" in done.err + done.out


def test_the_head_of_an_empty_archive_proves_nothing(archive: tuple[Path, str]) -> None:
    db, _ = archive
    done = verify(db, "0" * 64)
    assert done.code == 6


def test_verify_while_a_sync_commits_finds_nothing_edited(tmp_path: Path) -> None:
    """Every read of a verify is one snapshot: a batch a sync commits meanwhile (its rows,
    the row counter, the stretches, the seal) is seen whole or not at all."""
    import threading

    from usage_cli.sandbox import Sandbox
    from usage_cli.sandbox.server import Faults

    from .conftest import TOKEN

    db = tmp_path / "usage.db"
    with Sandbox(records=6000, seed=4, token=TOKEN, faults=Faults(latency=0.01)) as server:
        words = ["--api-url", server.url, "--token", TOKEN, "sync", "--db", str(db), "-q"]
        syncing = threading.Thread(target=run_in_memory, args=(words,))
        syncing.start()
        try:
            import time

            seen: list[Result] = []
            deadline = time.monotonic() + 120
            while (syncing.is_alive() or not seen) and time.monotonic() < deadline:
                if db.exists():
                    done = run_in_memory(["verify", str(db)], env={})
                    seen.append(done)
                    # A sync reading now has its stretch open, as it should: no other word.
                    assert "edited" not in done.err, done.err
                    assert "row counter" not in done.err, done.err
        finally:
            syncing.join()
    assert len(seen) >= 2
    assert run_in_memory(["verify", str(db)], env={}).code == 0
