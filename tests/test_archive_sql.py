"""The archive in SQL tools: the views, and every recipe of docs/archive.md's SQL section.

Each recipe is taken from the doc itself and run against a real synced archive
(two sources, so that a recipe that forgets the source shows it), with the
`sqlite3` shell, `sqlite-utils` and DuckDB where they are installed; what it
prints must be what `usage summary --db` says of the same records.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import shlex
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from usage_cli.archive._store import RELATION_COLUMNS, SCHEMA_VERSION, VIEWS
from usage_cli.columns import iso_ms
from usage_cli.sandbox import Sandbox
from usage_cli.sandbox.data import generate_records
from usage_cli.sandbox.emulator import Emulator, Faults

from .conftest import ANCHOR, Result, run_in_memory
from .conftest import TOKEN as STREAMS_TOKEN
from .docs_scene import ROOT, blocks
from .test_archive_process import TOKEN as PROCESS_TOKEN
from .test_archive_process import start_sync
from .test_sync_streams import emulator as streams_emulator
from .test_sync_streams import read_only, stop_midway, tied
from .test_sync_streams import sync as streams_sync

API = "http://sandbox.test"
TOKEN = "tok_sql"
SECTION = "Reading the archive with SQL"
SOURCES = ("alpha", "beta")

needs_sqlite3 = pytest.mark.skipif(shutil.which("sqlite3") is None, reason="no sqlite3 shell")


def sync(api: Emulator, db: Path, *args: str) -> Result:
    words = ["--api-url", API, "--token", TOKEN, "sync", "--db", str(db), *args]
    return run_in_memory(words, transport=api.transport())


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`usage.db` (as the recipes name it) holding two sources of different records."""
    folder = tmp_path_factory.mktemp("sql")
    db = folder / "usage.db"
    for seed, label in enumerate(SOURCES, start=31):
        api = Emulator(generate_records(700, seed=seed, anchor=ANCHOR), token=TOKEN)
        done = sync(api, db, "--source", label, "-q")
        assert done.code == 0, done.err
    return db


def summary(db: Path, source: str, *by: str) -> dict[tuple[Any, ...], tuple[int, int]]:
    """`usage summary --db DB --source SOURCE --by ...`: (records, count) by group."""
    words = ["summary", "--db", str(db), "--source", source, "--tz", "UTC", "-o", "json"]
    for word in by:
        words += ["--by", word]
    done = run_in_memory(words)
    assert done.code == 0, done.err
    groups = json.loads(done.out)["groups"]
    return {
        tuple(group["key"][word] for word in by): (group["records"], group["count"])
        for group in groups
    }


def everything(db: Path, *by: str) -> dict[tuple[Any, ...], tuple[int, int]]:
    """`summary` for each source, the source first in each group's key."""
    return {
        (source, *key): figures
        for source in SOURCES
        for key, figures in summary(db, source, *by).items()
    }


def recipes(tool: str) -> list[str]:
    """The lines of the doc's SQL section that run `tool`, as shown."""
    found = [
        line
        for language, lines in blocks(ROOT / "docs" / "archive.md", {SECTION})
        if language == "sh"
        for line in lines
        if line.startswith(f"{tool} ")
    ]
    assert found, f"the SQL section shows no {tool} recipe"
    return found


def duckdb_statements() -> list[str]:
    """The statements of the doc's DuckDB session, without its prompts."""
    session = next(
        lines
        for language, lines in blocks(ROOT / "docs" / "archive.md", {"DuckDB"})
        if language == "text"
    )
    text = " ".join(line.removeprefix("D ").strip() for line in session if line != "$ duckdb")
    return [statement.strip() for statement in text.split(";") if statement.strip()]


def rows_of(output: str) -> list[list[str]]:
    """The sqlite3 shell's list mode: a row a line, `|` between columns."""
    return [line.split("|") for line in output.splitlines()]


def shell(db: Path, line: str) -> list[list[str]]:
    done = subprocess.run(
        shlex.split(line), cwd=db.parent, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"{line}\n{done.stderr}"
    return rows_of(done.stdout)


def figures(rows: list[list[Any]], keys: int) -> dict[tuple[Any, ...], tuple[int, int]]:
    return {tuple(row[:keys]): (int(row[-2]), int(row[-1])) for row in rows}


# The views ----------------------------------------------------------------------------


def test_the_views_hold_every_record_once_with_its_source_and_json(archive: Path) -> None:
    with sqlite3.connect(archive) as db:
        stored = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        viewed = db.execute(
            "SELECT source, id, created_at, type, count, raw, meta, bot_id FROM usage_records"
        ).fetchall()
        whole = db.execute("SELECT COUNT(*) FROM usage_records_whole").fetchone()[0]
        stretches = db.execute("SELECT source, gap_below FROM usage_stretches").fetchall()
    assert len(viewed) == stored == whole == 1400
    assert {row[0] for row in viewed} == set(SOURCES)
    for _, id_, created_at, type_, count, raw, meta, bot_id in viewed:
        record = json.loads(raw)
        assert (record["id"], record["createdAt"], record["type"]) == (id_, created_at, type_)
        assert (record["count"], record.get("botId")) == (count, bot_id)
        assert (None if meta is None else json.loads(meta)) == record.get("meta")
    # A sync run to its end leaves each source one stretch, with no gap.
    assert sorted(stretches) == [(source, 0) for source in SOURCES]


def test_the_iso_time_is_exact_to_the_millisecond() -> None:
    # Through the float of `created_at / 1000.0`: every millisecond of a few
    # seconds, across a leap day and a year's end, and times spread from 1970 to
    # the year 9999, each as `-o csv` writes it.
    spread = random.Random(5)
    times = [
        *range(1_709_164_799_000, 1_709_164_801_000),  # 2024-02-28T23:59:59 on
        *range(1_735_689_599_000, 1_735_689_600_500),  # 2024's last second on
        *(spread.randrange(0, 253_402_300_800_000) for _ in range(20_000)),
        0,
        253_402_300_799_999,
    ]
    select = VIEWS["usage_records"].split("AS created_at_iso")[0].split("AS created_at, ")[-1]
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE records (created_at INTEGER)")
        db.executemany("INSERT INTO records VALUES (?)", [(t,) for t in times])
        found = db.execute(f"SELECT created_at, {select} FROM records").fetchall()
    wrong = [(t, iso) for t, iso in found if iso != iso_ms(t)]
    assert not wrong, wrong[:5]


def test_mid_way_through_a_first_sync_from_both_ends_the_whole_view_holds_whole_stretches(
    tmp_path: Path,
) -> None:
    api = streams_emulator(1200)
    db = tmp_path / "usage.db"
    assert stop_midway(api, db).code == 130
    with sqlite3.connect(db) as connection:
        stretches = connection.execute(
            "SELECT newest, oldest, gap_below FROM usage_stretches ORDER BY newest DESC"
        ).fetchall()
        raw = connection.execute("SELECT created_at FROM records").fetchall()
        whole = connection.execute("SELECT created_at FROM usage_records_whole").fetchall()
    # The lead's stretch from the top, open below; the trail's from the end of the list.
    (top_newest, top_oldest, top_gap), (low_newest, low_oldest, low_gap) = stretches
    assert (top_gap, low_gap) == (1, 0)
    inside = [t for (t,) in whole]
    assert inside
    # Only whole milliseconds: strictly within each open edge.
    assert all(top_oldest < t <= top_newest or low_oldest <= t < low_newest for t in inside)
    # The raw table holds the records at the edges too: the last one each end read.
    edges = [t for (t,) in raw if t in (top_oldest, low_newest)]
    assert edges
    assert len(raw) == len(inside) + len(edges)
    assert not any(t in (top_oldest, low_newest) for t in inside)

    # Once the ends meet, the views hold every record, in one stretch.
    assert streams_sync(api.transport(), db, "-q").code == 0
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM usage_records_whole").fetchone()[0] == 1200
        assert connection.execute("SELECT gap_below FROM usage_stretches").fetchall() == [(0,)]


def test_a_reader_beside_a_running_first_sync_sees_whole_stretches_only(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    with Sandbox(
        records=4000, seed=23, token=PROCESS_TOKEN, anchor=ANCHOR, faults=Faults(latency=0.02)
    ) as server:
        # Held after ten pages, far from where the ends would meet (as in
        # test_sync_streams): the sync is running, with a gap between its ends.
        with server.hold(after=10) as held:
            process = start_sync(server, db)
            try:
                held.wait()
                deadline = time.monotonic() + 30
                while len(read_only(db, "SELECT 1 FROM usage_stretches")) < 2 or (
                    len(read_only(db, "SELECT 1 FROM records")) < 600
                ):
                    assert process.poll() is None, "the sync ended before it was held"
                    assert time.monotonic() < deadline, "the sync wrote nothing"
                    time.sleep(0.01)
                # One read transaction: a page still being committed cannot fall
                # between the reads.
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
                    connection.execute("BEGIN")
                    outcomes = connection.execute("SELECT outcome FROM runs").fetchall()
                    stretches = connection.execute(
                        "SELECT newest, oldest, gap_below FROM usage_stretches ORDER BY newest DESC"
                    ).fetchall()
                    raw = [t for (t,) in connection.execute("SELECT created_at FROM usage_records")]
                    whole = [
                        t
                        for (t,) in connection.execute("SELECT created_at FROM usage_records_whole")
                    ]
                    connection.execute("COMMIT")
            finally:
                held.release()
                done = process.communicate(timeout=60)
        assert process.returncode == 0, done[1]
    assert outcomes == [("running",)]
    (top_newest, top_oldest, top_gap), (low_newest, low_oldest, low_gap) = stretches
    assert (top_gap, low_gap) == (1, 0)
    # The raw view shows the edges of the gap too; the whole view only what lies
    # strictly inside the stretches known whole.
    assert any(t in (top_oldest, low_newest) for t in raw)
    assert all(top_oldest < t <= top_newest or low_oldest <= t < low_newest for t in whole)
    assert len(whole) == sum(1 for t in raw if t not in (top_oldest, low_newest))
    # Once the run ends, every record is whole.
    everything = read_only(db, "SELECT COUNT(*) FROM usage_records_whole")
    assert everything == [(4000,)]


def test_a_list_created_in_one_millisecond_is_not_whole_until_the_ends_meet(
    tmp_path: Path,
) -> None:
    # Both stretches lie in one millisecond that borders the gap: none of it is whole.
    api = Emulator(tied(1200), token=STREAMS_TOKEN)
    db = tmp_path / "usage.db"
    assert stop_midway(api, db).code == 130
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM records").fetchone()[0] > 0
        assert connection.execute("SELECT COUNT(*) FROM usage_records_whole").fetchone()[0] == 0


# The doc's recipes ----------------------------------------------------------------------


@needs_sqlite3
def test_the_sqlite3_recipes_say_what_usage_summary_says(archive: Path) -> None:
    by_type, by_day, by_reason, stretches = recipes("sqlite3")
    assert figures(shell(archive, by_type), 2) == everything(archive, "type")
    assert figures(shell(archive, by_day), 2) == everything(archive, "day")
    # NULL, which the shell prints as nothing, is no reason: `summary`'s null.
    reasons = {
        (source, reason or None): counted
        for (source, reason), counted in figures(shell(archive, by_reason), 2).items()
    }
    assert reasons == everything(archive, "meta.reason")
    found = shell(archive, stretches)
    assert [row[0] for row in found] == list(SOURCES)
    for source, oldest, newest, gap in found:
        words = ["summary", "--db", str(archive), "--source", source, "-o", "json"]
        total = json.loads(run_in_memory(words).out)["total"]
        assert (oldest, newest, gap) == (total["firstCreatedAt"], total["lastCreatedAt"], "0")


@pytest.mark.skipif(shutil.which("sqlite-utils") is None, reason="no sqlite-utils")
def test_the_sqlite_utils_recipe_says_what_usage_summary_says(archive: Path) -> None:
    (line,) = recipes("sqlite-utils")
    done = subprocess.run(
        shlex.split(line), cwd=archive.parent, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    rows = [
        [row["source"], row["type"], row["records"], row["total"]]
        for row in json.loads(done.stdout)
    ]
    assert figures(rows, 2) == everything(archive, "type")


def duckdb_with_sqlite() -> Iterator[Any]:
    """A DuckDB connection with its sqlite extension, or a skip: the extension is
    downloaded on first use, and a machine with no network has none."""
    duckdb = pytest.importorskip("duckdb")
    connection = duckdb.connect()
    try:
        packaged = importlib.util.find_spec("duckdb_ext")
        if packaged is not None and packaged.submodule_search_locations:
            # The extension as a PyPI package ships it (duckdb-ext-sqlite), for
            # the DuckDB version of the same number.
            folder = Path(next(iter(packaged.submodule_search_locations))) / "extensions"
            connection.execute(f"SET extension_directory = '{folder}'")
        connection.execute("LOAD sqlite")
    except duckdb.Error as error:
        connection.close()
        pytest.skip(f"DuckDB's sqlite extension is not installed: {error}")
    try:
        yield connection
    finally:
        connection.close()


def test_the_duckdb_recipes_say_what_usage_summary_says(
    archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements = duckdb_statements()
    assert statements[:2] == ["INSTALL sqlite", "LOAD sqlite"]
    by_type, attach, by_reason = statements[2:]
    monkeypatch.chdir(archive.parent)  # the recipes name `usage.db`, as a shell there would
    for connection in duckdb_with_sqlite():
        assert figures(connection.execute(by_type).fetchall(), 2) == everything(archive, "type")
        connection.execute(attach)
        reasons = {
            (source, reason): total
            for source, reason, total in connection.execute(by_reason).fetchall()
        }
        assert reasons == {
            key: total for key, (_, total) in everything(archive, "meta.reason").items()
        }


# Verify holds the views to the SQL a sync creates ------------------------------------


def verify(db: Path) -> Result:
    return run_in_memory(["verify", str(db)])


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (
            "DROP VIEW usage_records; CREATE VIEW usage_records AS "
            "SELECT * FROM records WHERE type != 'OPENAI_GPT_4O_TOKEN'",
            "usage_records was redefined after a sync created it",
        ),
        (
            "DROP VIEW usage_records_whole; CREATE TABLE usage_records_whole (source TEXT)",
            "usage_records_whole was redefined after a sync created it",
        ),
        ("DROP VIEW usage_stretches", "the view usage_stretches was dropped"),
    ],
)
def test_a_view_redefined_or_dropped_by_hand_fails_verify(
    archive: Path, tmp_path: Path, edit: str, said: str
) -> None:
    db = tmp_path / "usage.db"
    shutil.copyfile(archive, db)
    assert verify(db).code == 0
    with sqlite3.connect(db) as connection:
        connection.executescript(edit)
    checked = verify(db)
    assert checked.code == 6
    assert said in checked.out + checked.err


def indexes(db: Path) -> set[str]:
    with sqlite3.connect(db) as connection:
        return {
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records' "
                "AND sql IS NOT NULL"
            )
        }


def test_a_schema_3_archive_verifies_and_loses_the_relation_indexes_on_its_next_sync(
    tmp_path: Path,
) -> None:
    api = Emulator(generate_records(300, seed=3, anchor=ANCHOR), token=TOKEN)
    db = tmp_path / "usage.db"
    assert sync(api, db, "-q").code == 0
    three = {"records_by_time", "records_by_type", "records_by_bot_id"}
    assert indexes(db) == three
    from .test_archive_schema import as_schema_4  # (it imports this module)

    as_schema_4(db)  # every relation stored, a chain value on every row
    with sqlite3.connect(db) as connection:
        # As a version 3 archive is: an index for each of the nine relations, and
        # the time's without the id.
        connection.execute("DROP INDEX records_by_time")
        connection.execute("CREATE INDEX records_by_time ON records (source, created_at, count)")
        for _, column in RELATION_COLUMNS:
            connection.execute(
                f"CREATE INDEX IF NOT EXISTS records_by_{column} "
                f"ON records (source, {column}, created_at, count)"
            )
        connection.execute("PRAGMA user_version = 3")
    old = verify(db)
    assert old.code == 0, old.err
    head = old.out.split("chain head ")[1][:64]
    listed = run_in_memory(["list", "--db", str(db), "--all", "-o", "jsonl"]).out
    assert sync(api, db, "-q").code == 0
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert indexes(db) == three
    # The rows and their chain are as they were; reads give the same bytes.
    again = run_in_memory(["verify", str(db), "--expect-head", head])
    assert again.code == 0, again.err
    assert run_in_memory(["list", "--db", str(db), "--all", "-o", "jsonl"]).out == listed


def test_an_archive_from_before_the_views_verifies_and_gains_them_on_its_next_sync(
    tmp_path: Path,
) -> None:
    api = Emulator(generate_records(300, seed=3, anchor=ANCHOR), token=TOKEN)
    db = tmp_path / "usage.db"
    assert sync(api, db, "-q").code == 0
    from .test_archive_schema import as_schema_4  # (it imports this module)

    as_schema_4(db)  # every relation stored, a chain value on every row
    with sqlite3.connect(db) as connection:
        # As a version 2 archive is: no views, no properties, the time index
        # without the id.
        for name in VIEWS:
            connection.execute(f"DROP VIEW {name}")
        connection.execute("DROP TABLE properties")
        connection.execute("DROP INDEX records_by_time")
        connection.execute("CREATE INDEX records_by_time ON records (source, created_at, count)")
        connection.execute("PRAGMA user_version = 2")
    old = verify(db)
    assert old.code == 0, old.err
    head = old.out.split("chain head ")[1][:64]
    assert sync(api, db, "-q").code == 0
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        made = dict(connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'"))
        assert connection.execute("SELECT COUNT(*) FROM usage_records_whole").fetchone()[0] == 300
    assert made == VIEWS
    # The chain and its seals are as they were: the views are no part of them.
    again = run_in_memory(["verify", str(db), "--expect-head", head])
    assert again.code == 0, again.err


def test_the_python_recipe_reads_half_an_emoji_as_usage_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archive keeps the cut emoji as sent; Python's sqlite3 cannot decode what
    SQLite's JSON functions make of it, and the recipe's text_factory can."""
    from .conftest import run_in_memory as run

    with Sandbox(records=200, seed=4, token=STREAMS_TOKEN, odd_data=True) as odd:
        done = run(
            [
                "--api-url",
                odd.url,
                "--token",
                STREAMS_TOKEN,
                "sync",
                "--db",
                str(tmp_path / "usage.db"),
                "-q",
            ]
        )
        assert done.code == 0, done.err
    query = "SELECT json_extract(meta, '$.note') FROM usage_records"
    with sqlite3.connect(tmp_path / "usage.db") as plain, pytest.raises(sqlite3.OperationalError):
        plain.execute(query).fetchall()
    text = (ROOT / "docs" / "archive.md").read_text(encoding="utf-8")
    [recipe] = re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {}
    exec(compile(recipe, "docs/archive.md", "exec"), scope)
    assert ("cut emoji \ufffd",) in scope["rows"]
