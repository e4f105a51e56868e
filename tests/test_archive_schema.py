"""Schema 5: relations computed from `raw`, one chain value a page, and the indexes a
first sync builds at its end; what `verify` still catches, and the migration from 4."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from usage_cli.archive import Archive
from usage_cli.archive._seal import write as write_seal
from usage_cli.archive._store import (
    _TIME_INDEX,
    GENESIS,
    RELATION_COLUMNS,
    SCHEMA_VERSION,
    SQLITE_NEEDED,
    VIEWS,
    _migrate,
    link,
)
from usage_cli.records import UsageRecord
from usage_cli.sandbox.data import arrivals, generate_records
from usage_cli.sandbox.emulator import Emulator

from .conftest import ANCHOR, Result, run_in_memory
from .test_archive import TOKEN, fail_after, offline, stored_ids, sync
from .test_archive_sql import indexes

INDEXES = {"records_by_time", "records_by_type", "records_by_bot_id"}


def a_running_run(db: sqlite3.Connection, source: int) -> int:
    """A run row as a sync starts one, for an insert made by hand (in `db`'s transaction)."""
    run = db.execute(
        "INSERT INTO runs (source, started_at, outcome, tool_version) "
        "VALUES (?, 0, 'running', 'test')",
        (source,),
    ).lastrowid
    assert run is not None
    return run


def verify(db: Path, *args: str) -> Result:
    return run_in_memory(["verify", str(db), *args])


def api() -> Emulator:
    return Emulator(generate_records(1200, seed=11, anchor=ANCHOR, odd=True), token=TOKEN)


def test_each_page_keeps_one_chain_value_and_the_relations_are_computed(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    emulator = api()
    assert sync(emulator, db, "--streams", "1").code == 0
    with sqlite3.connect(db) as connection:
        chained = [
            row[0] for row in connection.execute("SELECT seq FROM records WHERE chain IS NOT NULL")
        ]
        hidden = {row[1]: row[6] for row in connection.execute("PRAGMA table_xinfo(records)")}
        relations = connection.execute(
            "SELECT id, " + ", ".join(column for _, column in RELATION_COLUMNS) + " FROM records"
        ).fetchall()
        assert connection.execute("PRAGMA page_size").fetchone()[0] == 16384
    # 12 pages of 100: the last row of each carries the chain.
    assert chained == [100 * n for n in range(1, 13)]
    assert {column for column, kind in hidden.items() if kind} == {
        column for _, column in RELATION_COLUMNS if column != "bot_id"
    }
    sent = {r["id"]: r for r in emulator.records}
    for record_id, *values in relations:
        assert values == [sent[record_id][field] for field, _ in RELATION_COLUMNS]
    assert indexes(db) == INDEXES
    assert verify(db).code == 0


def test_a_computed_relation_cannot_be_edited(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    assert sync(api(), db).code == 0
    with (
        sqlite3.connect(db) as connection,
        pytest.raises(sqlite3.OperationalError, match="generated column"),
    ):
        connection.execute("UPDATE records SET conversation_id = 'conv_x' WHERE seq = 5")


def test_verify_names_the_page_whose_json_was_changed_where_no_column_shows_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "usage.db"
    assert sync(api(), db, "--streams", "1").code == 0
    with sqlite3.connect(db) as connection:
        first, last = connection.execute(
            "SELECT (SELECT id FROM records WHERE seq = 201), "
            "(SELECT id FROM records WHERE seq = 300)"
        ).fetchone()
        # A relation no column stores: only the chain sees it.
        connection.execute(
            "UPDATE records SET raw = json_set(raw, '$.taskId', 'task_forged') WHERE seq = 217"
        )
    done = verify(db)
    assert done.code == 6
    assert (
        f"a row of rows 201-300 (ids {first!r} to {last!r}) was changed after its sync wrote it"
    ) in done.err
    assert "indexed columns" not in done.err


def test_verify_catches_two_rows_of_a_page_swapped(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    assert sync(api(), db, "--streams", "1").code == 0
    columns = "id, created_at, type, count, bot_id, raw"
    with sqlite3.connect(db) as connection:
        one = connection.execute(f"SELECT {columns} FROM records WHERE seq = 110").fetchone()
        two = connection.execute(f"SELECT {columns} FROM records WHERE seq = 120").fetchone()
        assign = ", ".join(f"{column} = ?" for column in columns.split(", "))
        connection.execute(f"UPDATE records SET {assign} WHERE seq = 110", two)
        connection.execute(f"UPDATE records SET {assign} WHERE seq = 120", one)
    done = verify(db)
    assert done.code == 6
    assert "a row of rows 101-200" in done.err
    assert "or two of them swapped" in done.err


def test_verify_catches_a_chain_value_taken_off_a_row(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    assert sync(api(), db, "--streams", "1").code == 0
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE records SET chain = NULL WHERE seq = 500")
    done = verify(db)
    assert done.code == 6
    # Two pages read as one, whose value is neither's.
    assert "a row of rows 401-600" in done.err


def test_verify_catches_rows_added_after_the_last_chain_value(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    assert sync(api(), db, "--streams", "1").code == 0
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE records SET chain = NULL WHERE seq = 1200")
        connection.execute("UPDATE runs SET head = NULL")
    done = verify(db)
    assert done.code == 6
    assert "row 1101 (id " in done.err
    assert "no chain value ends them" in done.err


def test_a_first_sync_stopped_reads_right_without_its_indexes_and_the_next_builds_them(
    tmp_path: Path,
) -> None:
    emulator = api()
    db = tmp_path / "usage.db"
    failed = fail_after(emulator, db, 4)
    assert failed.code == 5, failed.err
    assert len(stored_ids(db)) == 400
    # The type's and the bot's indexes wait for the run's end, which never came.
    assert indexes(db) == {"records_by_time"}
    reads = [
        ("summary", "--by", "bot", "--by", "type"),
        ("list", "--bot-id", "bot_1", "--all", "-o", "jsonl"),
        ("list", "--type", "OPENAI_GPT_4O_TOKEN", "--all", "-o", "jsonl"),
        ("list", "--conversation-id", "conv_7", "--all", "-o", "jsonl"),
    ]
    without = [offline(db, *read) for read in reads]
    assert all(done.code == 0 for done in without)
    # The same reads with the indexes give the same bytes.
    copy = tmp_path / "copy.db"
    with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with sqlite3.connect(copy) as connection:
        connection.execute(
            "CREATE INDEX records_by_type ON records (source, type, created_at DESC, count)"
        )
        connection.execute(
            "CREATE INDEX records_by_bot_id ON records (source, bot_id, created_at DESC, count)"
        )
    assert [offline(copy, *read).out for read in reads] == [done.out for done in without]
    # `verify` finds the gap, and nothing wrong.
    check = verify(db)
    assert check.code == 6
    assert "is not complete" in check.err
    assert "fails its check" not in check.err

    # The next sync closes the gap, then builds what the first left.
    emulator.add(arrivals(30, seed=3, now_ms=emulator.records[0]["createdAt"] + 60_000))
    done = sync(emulator, db)
    assert done.code == 0, done.err
    assert indexes(db) == INDEXES
    assert len(stored_ids(db)) == 1230
    assert verify(db).code == 0


def test_a_second_sync_keeps_the_indexes_it_finds(tmp_path: Path) -> None:
    emulator = api()
    db = tmp_path / "usage.db"
    assert sync(emulator, db).code == 0
    with sqlite3.connect(db) as connection:
        made = dict(connection.execute("SELECT name, rootpage FROM sqlite_master"))
    emulator.add(arrivals(30, seed=3, now_ms=emulator.records[0]["createdAt"] + 60_000))
    assert sync(emulator, db).code == 0
    with sqlite3.connect(db) as connection:
        assert dict(connection.execute("SELECT name, rootpage FROM sqlite_master")) == made


# Schema 4 -> 5 ----------------------------------------------------------------

_SCHEMA_4_RECORDS = (
    "CREATE TABLE records (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    "source INTEGER NOT NULL REFERENCES sources (id), id TEXT NOT NULL, "
    "created_at INTEGER NOT NULL, type TEXT NOT NULL, count INTEGER, "
    + ", ".join(f"{column} TEXT" for _, column in RELATION_COLUMNS)
    + ", raw TEXT NOT NULL, run INTEGER NOT NULL REFERENCES runs (id), chain BLOB NOT NULL)"
)


def as_schema_4(db: Path) -> None:
    """Make a schema 5 archive what schema 4 made of the same sync: every relation
    stored, a chain value on every row (each row's link alone), the runs sealed."""
    fields = ", ".join(f"json_extract(raw, '$.{field}')" for field, _ in RELATION_COLUMNS)
    names = ", ".join(column for _, column in RELATION_COLUMNS)
    with sqlite3.connect(db, isolation_level=None) as connection:
        connection.execute("BEGIN")
        for name in VIEWS:
            connection.execute(f"DROP VIEW {name}")
        for index in INDEXES:
            connection.execute(f"DROP INDEX {index}")
        connection.execute("ALTER TABLE records RENAME TO five")
        connection.execute(_SCHEMA_4_RECORDS)
        chain = GENESIS
        rows = connection.execute("SELECT seq, source, raw, run FROM five ORDER BY seq").fetchall()
        for seq, source, raw, run in rows:
            chain = link(chain, source, run, raw)
            connection.execute(
                f"INSERT INTO records (seq, source, id, created_at, type, count, {names}, raw, "
                f"run, chain) SELECT seq, source, id, created_at, type, count, {fields}, raw, "
                "run, ? FROM five WHERE seq = ?",
                (chain, seq),
            )
            connection.execute("UPDATE runs SET head = ? WHERE last_seq = ?", (chain, seq))
        connection.execute("DROP TABLE five")
        connection.execute(
            "CREATE INDEX records_by_time ON records (source, created_at DESC, id DESC, count)"
        )
        for column in ("type", "bot_id"):
            connection.execute(
                f"CREATE INDEX records_by_{column} ON records (source, {column}, created_at DESC, "
                "count)"
            )
        for statement in VIEWS.values():
            connection.execute(statement)
        for (run,) in connection.execute("SELECT id FROM runs ORDER BY id").fetchall():
            write_seal(connection, run)
        connection.execute("PRAGMA user_version = 4")
        connection.execute("COMMIT")


def test_a_schema_4_archive_verifies_then_its_next_sync_makes_it_schema_5(tmp_path: Path) -> None:
    emulator = api()
    db = tmp_path / "usage.db"
    assert sync(emulator, db, "--streams", "1").code == 0
    as_schema_4(db)
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(chain) FROM records").fetchone()[0] == 1200
    old = verify(db)
    assert old.code == 0, old.err
    head = old.out.split("chain head ")[1][:64]
    listed = offline(db, "list", "--all", "-o", "jsonl").out
    by_task = offline(db, "summary", "--by", "task", "--by", "conversation").out

    emulator.add(arrivals(150, seed=4, now_ms=emulator.records[0]["createdAt"] + 60_000))
    done = sync(emulator, db, "--streams", "1")
    assert done.code == 0, done.err
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        hidden = {row[1]: row[6] for row in connection.execute("PRAGMA table_xinfo(records)")}
        # The old rows keep a value each; the new ones, one a page.
        assert connection.execute("SELECT COUNT(chain) FROM records").fetchone()[0] == 1202
        assert (
            dict(connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'"))
            == VIEWS
        )
        assert (
            connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()[
                0
            ]
            == 1350
        )
    assert [column for column, kind in hidden.items() if kind] == [
        column for _, column in RELATION_COLUMNS if column != "bot_id"
    ]
    assert indexes(db) == INDEXES
    # The chain goes on from the old head: the kept head is on it, every row verifies.
    again = verify(db, "--expect-head", head)
    assert again.code == 0, again.err
    assert "it extends the expected head by 1 sync run" in again.out
    newest = offline(db, "list", "--all", "-o", "jsonl").out
    assert newest.endswith(listed)
    assert len(newest.splitlines()) == 1350
    # What the relations said before the migration, they say after it, for the old rows.
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM records WHERE seq > 1200")
    assert offline(db, "summary", "--by", "task", "--by", "conversation").out == by_task


def test_a_schema_4_archive_whose_rows_were_edited_fails_verify_and_is_not_migrated(
    tmp_path: Path,
) -> None:
    db = tmp_path / "usage.db"
    emulator = api()
    assert sync(emulator, db).code == 0
    as_schema_4(db)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE records SET conversation_id = 'conv_x' WHERE seq = 9")
        connection.execute(
            "UPDATE records SET raw = json_set(raw, '$.taskId', 'task_x') WHERE seq = 30"
        )
    before = verify(db)
    assert before.code == 6
    assert "row 9 (id " in before.err
    assert "indexed columns were changed" in before.err
    assert "row 30 (id " in before.err
    assert "was changed after its sync wrote it" in before.err
    kept = db.read_bytes()
    # The migration would drop the stored copy that differs, and verify then say ok:
    # the sync refuses, and leaves the file as it was.
    refused = sync(emulator, db)
    assert refused.code == 6
    assert "row 9 (id " in refused.err
    assert "not migrated to archive schema 5" in refused.err
    assert f"usage verify {db}" in refused.err
    assert "syncing" not in refused.err
    assert db.read_bytes() == kept
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 4
    after = verify(db)
    assert after.code == 6
    assert after.err == before.err


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ("CREATE INDEX by_task ON records (task_id)", "the index 'by_task' on the records"),
        (
            "CREATE TRIGGER keep AFTER INSERT ON records BEGIN SELECT 1; END",
            "a trigger was added ('keep' on records)",
        ),
        (
            "DROP VIEW usage_records; CREATE VIEW usage_records AS SELECT 1",
            "the view usage_records was redefined",
        ),
        (
            # The type's index swapped for one of forged counts: the rebuild would
            # make it anew from the rows.
            "CREATE TABLE fake AS SELECT source, type, created_at, count, bot_id FROM records;"
            "UPDATE fake SET count = count * 10;"
            "CREATE INDEX fake_by_type ON fake (source, type, created_at DESC, count);"
            "PRAGMA writable_schema = ON;"
            "UPDATE sqlite_master SET rootpage = (SELECT rootpage FROM sqlite_master "
            "WHERE name = 'fake_by_type') WHERE name = 'records_by_type';",
            "the records' pages or indexes do not hold together",
        ),
    ],
    ids=["index", "trigger", "view", "forged index"],
)
def test_a_schema_4_archive_edited_where_the_migration_rebuilds_is_not_migrated(
    tmp_path: Path, edit: str, named: str
) -> None:
    db = tmp_path / "usage.db"
    emulator = api()
    assert sync(emulator, db).code == 0
    as_schema_4(db)
    with sqlite3.connect(db) as connection:
        connection.executescript(edit)
    before = verify(db)
    assert before.code == 6
    kept = db.read_bytes()
    # The rebuild would drop the index or trigger, step 3 make the view anew: verify
    # would then say ok. The sync refuses instead, and changes nothing.
    refused = sync(emulator, db)
    assert refused.code == 6
    assert named in refused.err
    assert "not migrated to archive schema 5" in refused.err
    assert db.read_bytes() == kept
    assert verify(db).err == before.err


def test_a_schema_4_archive_with_json_sqlite_cannot_read_is_not_migrated(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    emulator = api()
    assert sync(emulator, db).code == 0
    as_schema_4(db)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE records SET raw = '{broken' WHERE seq = 5")
    refused = sync(emulator, db)
    assert refused.code == 6
    assert "row 5 (id " in refused.err
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 4


def test_the_migration_drops_an_index_whose_name_needs_quoting(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    emulator = api()
    assert sync(emulator, db).code == 0
    as_schema_4(db)
    # An index a user added in a SQL tool: its name is the file's, any text at all.
    # Schema 3 (verify holds indexes to a sync's from 4 on) migrates with it.
    with sqlite3.connect(db) as connection:
        connection.execute('CREATE INDEX "by task""; --" ON records (task_id)')
        # The time index as schema 3 had it, so that the file is schema 3 by its
        # structure too (a version set back alone turns no check off).
        connection.execute("DROP INDEX records_by_time")
        connection.execute("CREATE INDEX records_by_time ON records (source, created_at, id)")
        connection.execute("PRAGMA user_version = 3")
    done = sync(emulator, db)
    assert done.code == 0, done.err
    assert indexes(db) == INDEXES
    assert verify(db).code == 0


def test_the_migration_builds_the_time_index_once(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    assert sync(api(), db).code == 0
    as_schema_4(db)
    # The time index as schema 3 had it: schema 4's step would make it anew.
    with sqlite3.connect(db) as connection:
        connection.execute("DROP INDEX records_by_time")
        connection.execute("CREATE INDEX records_by_time ON records (source, created_at, id)")
        connection.execute("PRAGMA user_version = 3")
    made: list[str] = []
    connection = sqlite3.connect(db, isolation_level=None)
    try:
        connection.set_trace_callback(made.append)
        connection.execute("BEGIN IMMEDIATE")
        _migrate(connection, str(db))
        connection.execute("COMMIT")
    finally:
        connection.close()
    assert [s for s in made if s.startswith("CREATE INDEX records_by_time")] == [_TIME_INDEX]
    assert indexes(db) == INDEXES
    assert verify(db).code == 0


def test_the_migration_is_said_before_it_starts_unless_quiet(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    emulator = api()
    assert sync(emulator, db).code == 0
    quiet = tmp_path / "quiet.db"
    quiet.write_bytes(db.read_bytes())
    as_schema_4(db)
    as_schema_4(quiet)
    done = sync(emulator, db)
    assert done.code == 0, done.err
    said = done.err.splitlines()
    assert said[0] == f"migrating {db} to archive schema 5 (about 25 s a million records)..."
    assert said[1].startswith("syncing ")
    assert sync(emulator, quiet, "-q").err == ""
    # A schema 5 archive is not migrated again, and says nothing of it.
    assert "migrating" not in sync(emulator, db).err


def test_a_page_of_more_values_than_sqlite_binds_is_one_block(tmp_path: Path) -> None:
    sent = [UsageRecord(raw) for raw in generate_records(250, seed=5, anchor=ANCHOR)]
    chains = []
    for name, limit in (("lowered.db", 100), ("default.db", None)):
        with Archive.open(tmp_path / name, create=True) as archive:
            if limit is not None:
                # 100 values a statement: 11 rows an insert, 97 ids a look-up.
                archive.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
            source = archive.add_source("s", "https://api.test/v1", None, 0)
            with archive.transaction() as db:
                run = a_running_run(db, source.id)
                added, last, chain = archive.insert(db, source, run, sent)
                # The same page again: every id is found, across the look-ups.
                assert archive.insert(db, source, run, sent) == (0, None, None)
            rows = archive.connection.execute(
                "SELECT seq, raw, chain FROM records ORDER BY seq"
            ).fetchall()
        assert (added, last) == (250, 250)
        assert [seq for seq, _, value in rows if value is not None] == [250]
        assert chain == rows[-1][2] == link(GENESIS, source.id, run, *(raw for _, raw, _ in rows))
        chains.append(chain)
    assert chains[0] == chains[1]


@pytest.mark.parametrize("version", [(3, 30, 1), (3, 24, 0)])
def test_an_sqlite_too_old_is_refused_as_input_not_as_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: tuple[int, int, int]
) -> None:
    db = tmp_path / "usage.db"
    emulator = api()
    assert sync(emulator, db).code == 0
    monkeypatch.setattr(sqlite3, "sqlite_version_info", version)
    monkeypatch.setattr(sqlite3, "sqlite_version", ".".join(map(str, version)))
    said = f"this Python's SQLite is {sqlite3.sqlite_version}; an archive needs SQLite 3.31.0"
    for done in (
        verify(db),
        offline(db, "list"),
        sync(emulator, db),
        sync(emulator, tmp_path / "new.db"),
    ):
        assert done.code == 2, done.err
        assert said in done.err
        assert "damaged" not in done.err
    assert not (tmp_path / "new.db").exists()


def test_the_sqlite_needed_opens_an_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", SQLITE_NEEDED)
    assert sync(api(), tmp_path / "usage.db").code == 0


def test_an_sqlite_without_its_json_functions_is_refused_as_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before 3.38 the JSON functions were a build option: a build without them would
    read every archive as damaged."""
    db = tmp_path / "usage.db"
    assert sync(api(), db).code == 0
    real = sqlite3.connect

    def connect(path: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection: sqlite3.Connection = real(path, *args, **kwargs)
        if path == ":memory:":

            def missing(*_: Any) -> None:
                raise sqlite3.OperationalError("no such function: json_extract")

            connection.create_function("json_extract", -1, missing)
        return connection

    monkeypatch.setattr(sqlite3, "connect", connect)
    done = verify(db)
    assert done.code == 2, done.err
    assert "with its JSON functions" in done.err
