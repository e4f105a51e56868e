"""`usage sync` and `--db`: the archive as a real SQLite file, read back as the API reads."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from usage_cli._lock import TargetLock
from usage_cli.archive import Archive, ArchiveReader
from usage_cli.query import Query
from usage_cli.records import UsageRecord
from usage_cli.sandbox.data import arrivals, generate_records
from usage_cli.sandbox.emulator import Emulator
from usage_cli.verify.archive import verify_archive

from .conftest import ANCHOR, Result, run_in_memory

API = "http://sandbox.test"
TOKEN = "tok_archive"
NOW_MS = int(ANCHOR.timestamp() * 1000)


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(generate_records(1200, seed=11, anchor=ANCHOR, odd=True), token=TOKEN)


def online(emulator: Emulator, *args: str, **runtime: Any) -> Result:
    """`usage ARGS` against the emulated API, in-process."""
    words = ["--api-url", API, "--token", TOKEN, *args]
    return run_in_memory(words, transport=emulator.transport(), **runtime)


def offline(db: Path, *args: str, **runtime: Any) -> Result:
    """`usage ARGS --db DB` with no token and no network at all."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"an offline read sent a request: {request.url}")

    return run_in_memory([*args, "--db", str(db)], transport=httpx.MockTransport(refuse), **runtime)


def sync(emulator: Emulator, db: Path, *args: str) -> Result:
    return online(emulator, "sync", "--db", str(db), *args)


@pytest.fixture
def synced(emulator: Emulator, tmp_path: Path) -> Path:
    db = tmp_path / "usage.db"
    done = sync(emulator, db)
    assert done.code == 0, done.err
    return db


def stored_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT id FROM records ORDER BY seq")]


def runs(db: Path) -> list[tuple[str, int, int]]:
    with sqlite3.connect(db) as connection:
        return list(connection.execute("SELECT outcome, added, requests FROM runs ORDER BY id"))


# Syncing --------------------------------------------------------------------


def test_a_first_sync_stores_every_record_once_and_says_where(
    emulator: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    # One chain: its requests are a fixed count (two streams' depend on timing).
    done = sync(emulator, db, "--streams", "1")
    assert done.code == 0, done.err
    assert f"syncing sandbox.test into {db}" in done.err
    assert f"synced 1,200 new records in 13 requests; {db} holds 1,200 records" in done.err
    assert sorted(stored_ids(db)) == sorted(r["id"] for r in emulator.records)
    assert runs(db) == [("complete", 1200, 13)]
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_second_sync_with_nothing_new_costs_one_request(emulator: Emulator, synced: Path) -> None:
    emulator.requests.clear()
    done = sync(emulator, synced)
    assert done.code == 0, done.err
    assert len(emulator.requests) == 1
    assert "synced 0 new records in 1 request;" in done.err
    assert runs(synced)[-1] == ("complete", 0, 1)


def test_new_records_are_picked_up_by_the_next_sync(emulator: Emulator, synced: Path) -> None:
    newest = emulator.records[0]["createdAt"]
    fresh = arrivals(150, seed=99, now_ms=newest + 3_600_000)
    emulator.add(fresh)
    done = sync(emulator, synced)
    assert done.code == 0, done.err
    assert "synced 150 new records in 2 requests" in done.err
    assert sorted(stored_ids(synced)) == sorted(r["id"] for r in emulator.records)


def test_a_late_record_inside_the_overlap_is_not_missed(emulator: Emulator, synced: Path) -> None:
    # Created five minutes before the newest stored record, listed only now.
    late = arrivals(1, seed=5, now_ms=emulator.records[0]["createdAt"] - 300_000)
    records = sorted(
        [*emulator.records, *late], key=lambda r: (r["createdAt"], r["id"]), reverse=True
    )
    emulator = Emulator(records, token=TOKEN)
    done = sync(emulator, synced)
    assert done.code == 0, done.err
    assert late[0]["id"] in stored_ids(synced)


class FailAfter(httpx.MockTransport):
    """The emulated API for `pages` requests, then a 503 for every retry."""

    def __init__(self, emulator: Emulator, pages: int) -> None:
        inner = emulator.transport()
        self.served = 0

        def handle(request: httpx.Request) -> httpx.Response:
            self.served += 1
            if self.served > pages:
                return httpx.Response(503, json={"message": "down", "code": "GENERIC_ERROR"})
            return inner.handle_request(request)

        super().__init__(handle)


def fail_after(emulator: Emulator, db: Path, pages: int) -> Result:
    """A sync whose API fails after `pages` requests; one chain, so that which
    stretch those pages hold does not depend on two threads' timing."""
    words = ["--api-url", API, "--token", TOKEN, "--retries", "0", "sync", "--db", str(db)]
    return run_in_memory([*words, "--streams", "1"], transport=FailAfter(emulator, pages))


def test_a_failed_sync_keeps_its_pages_and_the_next_one_closes_the_gap(
    emulator: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    failed = fail_after(emulator, db, 4)
    assert failed.code == 5, failed.err
    # Four pages: the batch still open when the API failed is committed with the run's end.
    assert len(stored_ids(db)) == 400
    assert runs(db)[0][0] == "failed"
    check = run_in_memory(["verify", str(db)])
    assert check.code == 6
    assert f"error: {db} is not complete: sandbox.test: a gap below " in check.err
    assert f"hint: run `usage sync --db {db}` (with the same profile) to close it" in check.err

    # Meanwhile, new usage arrives: the next run takes it, then closes the gap.
    emulator.add(arrivals(30, seed=3, now_ms=emulator.records[0]["createdAt"] + 60_000))
    done = sync(emulator, db)
    assert done.code == 0, done.err
    assert "closing 1 gap an interrupted sync left" in done.err
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) == 1230
    assert set(ids) == {r["id"] for r in emulator.records}
    assert run_in_memory(["verify", str(db)]).code == 0


# Reading offline: the same bytes as online ---------------------------------


def test_pages_decoded_in_one_call_or_one_by_one_are_what_json_reads(tmp_path: Path) -> None:
    from usage_cli.archive._read import _decoded

    plain = [json.dumps(r) for r in generate_records(300, seed=5, anchor=ANCHOR, odd=False)]
    odd = [json.dumps(r) for r in generate_records(300, seed=5, anchor=ANCHOR, odd=True)]
    assert any("\\ud" in text for text in odd)  # lone surrogates, as their escapes
    for texts in (plain, odd, plain[:1], []):
        # Flagged odd exactly when the one-call decoder refused the page.
        assert _decoded(texts) == ([json.loads(text) for text in texts], texts is odd)
    # Whole: an archive of records without one reads back byte for byte as online.
    clean = Emulator(generate_records(700, seed=12, anchor=ANCHOR), token=TOKEN)
    db = tmp_path / "clean.db"
    assert sync(clean, db).code == 0
    live = online(clean, "list", "--all", "-o", "jsonl")
    kept = offline(db, "list", "--all", "-o", "jsonl")
    assert kept.code == 0, kept.err
    assert kept.out == live.out


READS = [
    ("list", "--all", "-o", "jsonl"),
    ("list", "--all", "-o", "json"),
    ("list", "--all", "-o", "csv"),
    ("list", "--all", "-o", "csv", "--columns", "id,count,meta.reason,meta.note"),
    ("list", "--limit", "7", "-o", "jsonl"),
    ("list", "--limit", "30", "-o", "table", "--wide"),
    ("list", "--all", "--order", "asc", "-o", "jsonl"),
    ("list", "--all", "--bot-id", "bot_1", "--bot-id", "bot_3", "-o", "jsonl"),
    ("list", "--all", "--type", "OPENAI_GPT_4O_TOKEN", "--order", "asc", "-o", "csv"),
    ("list", "--all", "--meta", "reason=retry", "-o", "jsonl"),
    ("list", "--all", "--meta", "cached=true", "--meta", "reason=task/run", "-o", "jsonl"),
    ("list", "--all", "--since", "2026-01-20", "--until", "2026-01-25T12:00:00Z", "-o", "jsonl"),
    ("list", "--all", "--since", "2026-01-20", "--order", "asc", "-o", "jsonl"),
    # The archive keeps the cut emoji as sent: --exact reads them back as online.
    ("list", "--all", "--exact", "-o", "jsonl"),
    ("list", "--all", "--exact", "--since", "2026-01-20", "-o", "csv"),
    ("list", "--limit", "5", "--cursor", "CURSOR", "-o", "jsonl"),
    ("summary", "--by", "type", "-o", "json"),
    ("summary", "--by", "bot", "--by", "day", "-o", "csv"),
    ("summary", "--by", "week", "--by", "type", "-o", "json", "--top", "5"),
    ("summary", "--by", "hour", "--tz", "Asia/Kolkata", "-o", "json"),
    ("summary", "--by", "day", "--tz", "America/New_York", "--bot-id", "bot_2", "-o", "json"),
    ("summary", "--by", "meta.reason", "--by", "month", "-o", "csv"),
    ("summary", "--by", "conversation", "--since", "2026-01-28", "-o", "json"),
    ("summary", "--by", "type", "-o", "table", "--wide"),
]


@pytest.mark.parametrize("args", READS, ids=[" ".join(args) for args in READS])
def test_reading_the_archive_prints_what_the_api_would(
    emulator: Emulator, synced: Path, args: tuple[str, ...]
) -> None:
    words = [emulator.records[40]["id"] if word == "CURSOR" else word for word in args]
    live = online(emulator, *words, tty="table" in words, width=200)
    kept = offline(synced, *words, tty="table" in words, width=200)
    assert live.code == kept.code == 0, kept.err
    assert kept.out == live.out
    assert kept.out.strip()
    # The command to continue repeats the words typed, which name the source.
    where = (f"--db {synced} ", "--api-url http://sandbox.test ")
    # Online, the token was typed (and is left out of the command): the archive needs none.
    live_err = re.sub(r".*the token option is left out of the line below.*\n", "", live.err)
    assert kept.err.replace(where[0], "") == live_err.replace(where[1], "")
    if "next: " in live.err:
        assert where[0] in kept.err
        assert where[1] in live.err


def test_export_from_the_archive_writes_the_same_file(
    emulator: Emulator, synced: Path, tmp_path: Path
) -> None:
    for name, reader in (("online.csv", online), ("offline.csv", offline)):
        target = str(tmp_path / name)
        done = (
            online(emulator, "export", target, "--since", "2026-01-10")
            if reader is online
            else offline(synced, "export", target, "--since", "2026-01-10")
        )
        assert done.code == 0, done.err
    live, kept = (tmp_path / "online.csv").read_bytes(), (tmp_path / "offline.csv").read_bytes()
    assert kept == live
    assert kept.count(b"\n") > 100
    manifest = json.loads((tmp_path / "offline.csv.manifest.json").read_text())
    assert manifest["api"]["url"] == f"archive:{synced}#sandbox.test"
    assert run_in_memory(["verify", str(tmp_path / "offline.csv")]).code == 0


def test_an_unknown_cursor_is_refused_as_the_api_refuses_it(synced: Path) -> None:
    done = offline(synced, "list", "--cursor", "rec_nope", "-o", "jsonl")
    assert done.code == 4
    assert "the archive has no record 'rec_nope' to continue after" in done.err


# Sources ----------------------------------------------------------------------


def test_sources_share_an_archive_without_mixing(emulator: Emulator, tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    other = Emulator(generate_records(300, seed=12, anchor=ANCHOR), token=TOKEN)
    assert sync(emulator, db).code == 0
    assert sync(other, db, "--source", "staging").code == 0
    assert online(emulator, "--run-as", "user_9", "sync", "--db", str(db)).code == 0
    both = offline(db, "list", "--all", "-o", "jsonl")
    assert both.code == 2
    assert "holds several sources (sandbox.test, sandbox.test+user_9, staging)" in both.err
    assert "hint: pick one with --source NAME" in both.err
    staging = offline(db, "list", "--all", "-o", "jsonl", "--source", "staging")
    assert [r["id"] for r in staging.jsonl()] == [r["id"] for r in other.records]
    # The settings' own source is the default when the archive has several.
    mine = run_in_memory(["--api-url", API, "list", "--all", "-o", "jsonl", "--db", str(db)])
    assert [r["id"] for r in mine.jsonl()] == [r["id"] for r in emulator.records]
    summary = offline(db, "summary", "-o", "json", "--source", "staging")
    assert json.loads(summary.out)["total"]["records"] == 300


def write_profile(token: str | None) -> None:
    """The profile `default`, of the sandbox's API, with `token` in it."""
    config = Path(os.environ["USAGE_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    kept = f'token = "{token}"\n' if token else ""
    config.write_text(f'[profiles.default]\napi_url = "{API}"\n{kept}')
    config.chmod(0o600)


def test_a_profile_made_after_the_first_sync_goes_on_in_the_same_source(
    emulator: Emulator, synced: Path
) -> None:
    # The token the first syncs used: the same account's.
    write_profile(TOKEN)
    again = run_in_memory(
        ["--token", TOKEN, "sync", "--db", str(synced)], transport=emulator.transport()
    )
    assert again.code == 0, again.err
    assert "syncing sandbox.test into" in again.err
    assert "synced 0 new records" in again.err
    sources = sqlite3.connect(synced).execute("SELECT label FROM sources").fetchall()
    assert sources == [("sandbox.test",)]
    # A read named by the profile finds the records its API's source holds.
    named = run_in_memory(["--profile", "default", "summary", "-o", "json", "--db", str(synced)])
    assert named.code == 0, named.err
    assert json.loads(named.out)["total"]["records"] == len(emulator.records)


def test_a_profile_with_another_token_for_the_same_api_gets_a_source_of_its_own(
    synced: Path,
) -> None:
    other = Emulator(generate_records(300, seed=29, anchor=ANCHOR), token="tok_other")
    write_profile("tok_other")
    done = run_in_memory(["sync", "--db", str(synced)], transport=other.transport())
    assert done.code == 0, done.err
    assert "syncing default into" in done.err
    assert "synced 300 new records" in done.err
    assert "token differs" not in done.err
    with sqlite3.connect(synced) as connection:
        held = connection.execute(
            "SELECT label, count(*) FROM records JOIN sources ON sources.id = source "
            "GROUP BY label ORDER BY label"
        ).fetchall()
    assert held == [("default", 300), ("sandbox.test", 1200)]
    assert verify(synced).code == 0
    mine = offline(synced, "summary", "-o", "json")
    assert mine.code == 0, mine.err
    assert json.loads(mine.out)["total"]["records"] == 300


@pytest.mark.parametrize(("token", "reads"), [(TOKEN, True), ("tok_other", False), (None, False)])
def test_a_read_under_a_new_profile_takes_its_apis_source_only_with_its_token(
    emulator: Emulator, synced: Path, token: str | None, reads: bool
) -> None:
    write_profile(token)
    done = offline(synced, "summary", "-o", "json")
    if reads:
        assert done.code == 0, done.err
        assert json.loads(done.out)["total"]["records"] == len(emulator.records)
        return
    # Another account's token, or none to tell: never the first account's records.
    assert done.code == 2
    assert "has no source 'default' (its sources: sandbox.test)" in done.err
    assert done.out == ""


def test_a_source_keeps_the_api_it_was_synced_from(emulator: Emulator, synced: Path) -> None:
    elsewhere = ["--api-url", "http://elsewhere.test", "--token", TOKEN, "sync"]
    clash = run_in_memory(
        [*elsewhere, "--db", str(synced), "--source", "sandbox.test"],
        transport=httpx.MockTransport(no_requests),
    )
    assert clash.code == 2
    assert (
        "error: the archive's source 'sandbox.test' holds records of http://sandbox.test; "
        "this run reads http://elsewhere.test\n"
    ) in clash.err
    assert "hint: sync this API under a name of its own with --source NAME" in clash.err
    # Another API root is another source by default.
    apart = run_in_memory([*elsewhere, "--db", str(synced)], transport=emulator.transport())
    assert apart.code == 0, apart.err
    assert "syncing elsewhere.test into" in apart.err


def test_a_different_token_is_pointed_out(emulator: Emulator, synced: Path) -> None:
    emulator.token = "tok_other"
    done = run_in_memory(
        ["--api-url", API, "--token", "tok_other", "sync", "--db", str(synced)],
        transport=emulator.transport(),
    )
    assert done.code == 0
    assert "warning: the token differs from the one the last sync of 'sandbox.test' used" in (
        done.err
    )
    assert "sync it under its own --source NAME or --profile\n" in done.err


def test_a_different_token_under_a_profile_is_not_told_to_use_a_profile(
    emulator: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    write_profile(TOKEN)
    first = run_in_memory(["sync", "--db", str(db)], transport=emulator.transport())
    assert first.code == 0, first.err
    # The profile's token is replaced by another account's: the profile still names
    # the source, so only --source can keep that account's records apart.
    emulator.token = "tok_other"
    write_profile("tok_other")
    done = run_in_memory(["sync", "--db", str(db)], transport=emulator.transport())
    assert done.code == 0, done.err
    assert (
        "warning: the token differs from the one the last sync of 'default' used; if it "
        "belongs to another account, sync it under a source of its own with --source NAME\n"
    ) in done.err


# Verify ---------------------------------------------------------------------


def tamper(db: Path, sql: str, *params: Any) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute(sql, params)


def verify(db: Path) -> Result:
    return run_in_memory(["verify", str(db)])


def test_verify_passes_an_untouched_archive_and_names_its_head(synced: Path) -> None:
    done = verify(synced)
    assert done.code == 0, done.err
    report = verify_archive(Archive.open(synced))
    assert done.out == (
        f"ok: {synced} is intact (1,200 records from 1 sync run; sources: sandbox.test; "
        f"chain head {report.head.hex()})\n"
    )


def test_verify_catches_an_edited_row(synced: Path) -> None:
    tamper(
        synced, "UPDATE records SET raw = replace(raw, '\"count\":', '\"count\":1') WHERE seq = 17"
    )
    done = verify(synced)
    assert done.code == 6
    assert "row 17 (id " in done.err
    assert "was changed after its sync wrote it" in done.err


def test_verify_catches_an_edited_column(synced: Path) -> None:
    tamper(synced, "UPDATE records SET bot_id = 'bot_x' WHERE seq = 5")
    done = verify(synced)
    assert done.code == 6
    assert "row 5 (id " in done.err
    assert "indexed columns were changed" in done.err


def test_verify_catches_a_deleted_row(synced: Path) -> None:
    tamper(synced, "DELETE FROM records WHERE seq = 300")
    done = verify(synced)
    assert done.code == 6
    assert "1 row deleted before row 301" in done.err
    assert "sync run 1 added 1,200 rows; 1,199 are left (1 deleted)" in done.err


def test_verify_catches_the_newest_rows_deleted(synced: Path) -> None:
    tamper(synced, "DELETE FROM records WHERE seq > 1195")
    done = verify(synced)
    assert done.code == 6
    assert "5 rows deleted from the end of the archive" in done.err


def test_verify_catches_a_row_inserted_outside_a_sync(synced: Path) -> None:
    with sqlite3.connect(synced) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(records)")][1:]
        row = connection.execute(
            f"SELECT {', '.join(columns)} FROM records WHERE seq = 1"
        ).fetchone()
        forged = dict(zip(columns, row, strict=True))
        forged["id"] = "rec_forged"
        forged["raw"] = forged["raw"].replace(row[1], "rec_forged")
        marks = ", ".join("?" for _ in columns)
        connection.execute(
            f"INSERT INTO records ({', '.join(columns)}) VALUES ({marks})", list(forged.values())
        )
    done = verify(synced)
    assert done.code == 6
    assert "row 1201 (id 'rec_forged')" in done.err
    assert "inserted outside a sync" in done.err


def test_verify_refuses_what_is_not_an_archive_or_an_export(tmp_path: Path) -> None:
    stray = tmp_path / "notes.txt"
    stray.write_text("hello")
    done = verify(stray)
    assert done.code == 2


# Bad input: one line, exit 2, nothing written, no request -------------------------


def no_requests(request: httpx.Request) -> httpx.Response:
    raise AssertionError("a request was sent")


def bad(*args: str, **runtime: Any) -> Result:
    done = run_in_memory(
        ["--api-url", API, "--token", TOKEN, *args],
        transport=httpx.MockTransport(no_requests),
        **runtime,
    )
    assert done.code == 2, done.err
    assert done.err.startswith("error: ")
    assert not done.out
    return done


def test_a_file_that_is_not_an_archive_is_refused_untouched(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE t (x)")
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, but long enough to look like one " * 3)
    for path in (other, text):
        before = path.read_bytes()
        for args in (("sync", "--db", str(path)), ("list", "--db", str(path))):
            done = bad(*args)
            assert f"error: {path} is not a usage archive\n" in done.err
        assert path.read_bytes() == before


def test_an_archive_from_a_newer_version_is_refused(synced: Path) -> None:
    tamper(synced, "PRAGMA user_version = 99")
    for args in (("sync", "--db", str(synced)), ("summary", "--db", str(synced))):
        done = bad(*args)
        assert "written by a newer version of usage (archive schema 99" in done.err
    assert verify(synced).code == 2


def test_an_archive_path_that_cannot_be_made_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = bad("sync", "--db", str(blocker / "usage.db"))
    assert f"{blocker} is not a directory, so {blocker / 'usage.db'} cannot be an archive" in (
        done.err
    )
    for folder in (str(tmp_path), "/", "."):
        done = bad("sync", "--db", folder)
        assert f"error: {folder} is a directory, not an archive file" in done.err
    done = bad("sync", "--db", "/dev/null")
    assert "/dev/null is not a regular file: an archive is a SQLite file" in done.err
    done = bad("sync", "--db", str(tmp_path / "typo" / "usage.db"))
    assert f"directory '{tmp_path / 'typo'}' does not exist" in done.err
    for command in ("sync", "list"):
        done = bad(command, "--db", "")
        assert "error: --db needs a path, not an empty one" in done.err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]


def test_reading_a_missing_archive_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    done = bad("list", "--db", str(missing))
    assert f"error: no archive at {missing}" in done.err
    assert f"hint: create it with: usage sync --db {missing}" in done.err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("list", "--db", "DB", "--demo"), "--db and --demo cannot be used together"),
        (("list", "--source", "x"), "--source goes with --db"),
        (("list", "--db", "DB", "--source", "nope"), "--source 'nope': the archive"),
        (("list", "--db", "DB", "--follow"), "--follow reads the live API"),
        (("summary", "--db", "DB", "--by", "colour"), "--by: cannot group by 'colour'"),
        (("sync", "--db", "DB", "--source", " "), "--source must not be empty"),
    ],
)
def test_bad_archive_options(synced: Path, args: tuple[str, ...], message: str) -> None:
    done = bad(*[str(synced) if word == "DB" else word for word in args])
    assert message in done.err


def test_sync_without_a_token_writes_nothing(tmp_path: Path) -> None:
    done = run_in_memory(["sync", "--db", str(tmp_path / "usage.db")])
    assert done.code == 3
    assert "no API token configured" in done.err
    assert list(tmp_path.iterdir()) == []


def test_a_second_sync_into_the_same_archive_is_refused(emulator: Emulator, synced: Path) -> None:
    with TargetLock.acquire(synced.with_name(f".{synced.name}.lock"), str(synced)):
        done = bad("sync", "--db", str(synced))
    assert f"another sync into '{synced}' is running" in done.err


def test_reads_go_on_while_a_sync_writes(emulator: Emulator, synced: Path) -> None:
    writer = sqlite3.connect(synced, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM records WHERE seq > 1000")  # not committed: readers see all
    try:
        done = offline(synced, "list", "--all", "-o", "jsonl")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert done.code == 0
    assert len(done.jsonl()) == 1200


def test_bare_db_means_usage_db_then_the_default(
    emulator: Emulator, synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"USAGE_DB": str(synced)}
    for args in (("list", "--db", "-o", "jsonl"), ("list", "-o", "jsonl", "--db")):
        done = run_in_memory(list(args), env=env)
        assert done.code == 0, done.err
        assert len(done.jsonl()) == 20
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    default = tmp_path / "data" / "usage" / "archive.sqlite3"
    done = run_in_memory(["list", "--db"])
    assert done.code == 2
    assert f"no archive at {default}" in done.err
    # A first sync makes the folders of the default archive.
    done = online(emulator, "sync")
    assert done.code == 0, done.err
    assert f"syncing sandbox.test into {default}" in done.err
    assert len(stored_ids(default)) == 1200


# Summary in SQL: the same groups as counting record by record -------------------


def python_summary(emulator: Emulator, by: tuple[str, ...], zone: Any) -> dict[str, Any]:
    from usage_cli.summary import Summary

    records = [UsageRecord(record) for record in emulator.records]
    return Summary(by, zone=zone).add_all(records).to_dict()


@pytest.mark.parametrize(
    "zone",
    [UTC, ZoneInfo("Asia/Kathmandu"), ZoneInfo("America/St_Johns"), timezone(timedelta(minutes=7))],
    ids=str,
)
@pytest.mark.parametrize(
    "by",
    [
        ("day",),
        ("hour", "type"),
        ("week", "bot"),
        ("month",),
        ("meta.note",),
        ("meta.cached", "type"),
        ("meta.region", "day"),
    ],
    ids=str,
)
def test_sql_groups_match_python_groups(
    emulator: Emulator, synced: Path, zone: Any, by: tuple[str, ...]
) -> None:
    with Archive.open(synced) as archive:
        reader = ArchiveReader(archive, archive.sources()[0])
        grouped = reader.summary(Query(), by, zone)
    # Bucket edges found to the millisecond: exact even 7 minutes off UTC.
    assert grouped is not None
    assert grouped.to_dict() == python_summary(emulator, by, zone)


def test_a_count_beyond_64_bits_is_summed_exactly(tmp_path: Path) -> None:
    records = generate_records(50, seed=2, anchor=ANCHOR)
    records[3]["count"] = 2**70
    emulator = Emulator(records, token=TOKEN)
    db = tmp_path / "usage.db"
    assert sync(emulator, db).code == 0
    live = online(emulator, "summary", "--by", "type", "-o", "json")
    kept = offline(db, "summary", "--by", "type", "-o", "json")
    assert kept.out == live.out
    assert json.loads(kept.out)["total"]["count"] == sum(r["count"] for r in records)
    assert (
        offline(db, "list", "--all", "-o", "jsonl").out
        == online(emulator, "list", "--all", "-o", "jsonl").out
    )


@pytest.mark.parametrize(
    ("words", "filled"),
    [
        (["list", "--db"], ["list", "--db=\x00"]),
        (["list", "--db", "--bot-id", "b"], ["list", "--db=\x00", "--bot-id", "b"]),
        (["list", "--db", "a.db", "--all"], ["list", "--db", "a.db", "--all"]),
        (["export", "-", "--db", "-o", "csv"], ["export", "-", "--db=\x00", "-o", "csv"]),
        (["list", "--db=x.db"], ["list", "--db=x.db"]),
        (["list", "--meta", "k=v", "--", "--db"], ["list", "--meta", "k=v", "--", "--db"]),
    ],
)
def test_a_bare_db_takes_the_empty_value(words: list[str], filled: list[str]) -> None:
    from usage_cli.cli._argv import fill_optional_values

    assert fill_optional_values(words) == filled


def test_a_gap_past_the_apis_horizon_is_closed_with_a_warning(
    emulator: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    failed = fail_after(emulator, db, 2)
    assert failed.code == 5
    # Months later the API has dropped everything older than the 150th record,
    # the record the interrupted sync would have continued after among them.
    kept = emulator.records[:150]
    later = Emulator(kept, token=TOKEN)
    done = sync(later, db)
    assert done.code == 0, done.err
    assert "warning: the API no longer continues the list below " in done.err
    assert set(stored_ids(db)) == {r["id"] for r in emulator.records[:200]}
    check = verify(db)
    assert check.code == 0, check.err


def test_a_meta_key_no_json_path_can_spell_is_left_to_python(synced: Path) -> None:
    with Archive.open(synced) as archive:
        reader = ArchiveReader(archive, archive.sources()[0])
        assert reader.summary(Query(), ('meta.a"b',), UTC) is None
    done = offline(synced, "summary", "--by", 'meta.a"b', "-o", "json")
    assert done.code == 0
    assert json.loads(done.out)["groups"][0]["key"] == {'meta.a"b': None}


def test_a_partitioned_export_from_the_archive_holds_the_same_parts(
    emulator: Emulator, synced: Path, tmp_path: Path
) -> None:
    import gzip

    live = online(emulator, "export", str(tmp_path / "live"), "--partition", "day")
    kept = offline(synced, "export", str(tmp_path / "kept"), "--partition", "day")
    assert live.code == kept.code == 0, kept.err

    def parts(folder: Path) -> dict[str, bytes]:
        return {
            str(part.relative_to(folder)): gzip.decompress(part.read_bytes())
            for part in sorted(folder.rglob("*.jsonl.gz"))
        }

    assert parts(tmp_path / "kept") == parts(tmp_path / "live")
    assert len(parts(tmp_path / "kept")) >= 25
    assert run_in_memory(["verify", str(tmp_path / "kept")]).code == 0


def test_a_first_sync_that_fails_leaves_nothing_and_binds_nothing(
    emulator: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "usage.db"
    # Nothing listens on port 1: the first request fails at once.
    unreachable = ["--api-url", "http://127.0.0.1:1", "--token", TOKEN, "--retries", "0"]
    into_prod = ["sync", "--db", str(db), "--source", "prod"]
    wrong = run_in_memory([*unreachable, *into_prod])
    assert wrong.code == 5
    assert list(tmp_path.iterdir()) == []
    # An archive that holds a source whose first sync failed: the next run may rebind it.
    assert sync(emulator, db).code == 0
    failed = run_in_memory([*unreachable, *into_prod])
    assert failed.code == 5
    assert "every page synced so far" not in failed.err  # nothing of prod was kept
    fixed = online(emulator, "sync", "--db", str(db), "--source", "prod")
    assert fixed.code == 0, fixed.err
    # The same API with a slash at the end is the same source.
    slash = run_in_memory(
        ["--api-url", API + "/", "--token", TOKEN, "sync", "--db", str(db)],
        transport=emulator.transport(),
    )
    assert slash.code == 0, slash.err
    assert "syncing sandbox.test into" in slash.err


def test_a_failed_sync_says_how_to_carry_on(emulator: Emulator, tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    failed = run_in_memory(
        ["--api-url", API, "--token", TOKEN, "--retries", "0", "sync", "--db", str(db)],
        transport=FailAfter(emulator, 3),
    )
    assert failed.code == 5
    assert "hint: every page synced so far is kept; run the same `usage sync` again" in (failed.err)


def test_reading_an_archive_with_a_gap_warns(emulator: Emulator, tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    failed = fail_after(emulator, db, 2)
    assert failed.code == 5
    for args in (("summary", "-o", "json"), ("list", "--all", "-o", "jsonl")):
        done = offline(db, *args)
        assert done.code == 0
        assert "warning: a sync of sandbox.test was interrupted: records from the start to " in (
            done.err
        )
        assert f"hint: run `usage sync --db {db}` to finish it" in done.err
    assert "warning" not in sync(emulator, db).err
    assert "warning" not in offline(db, "summary", "-o", "json").err


def test_run_as_reads_only_its_own_source(emulator: Emulator, synced: Path) -> None:
    done = run_in_memory(["--run-as", "user_9", "summary", "--db", str(synced)])
    assert done.code == 2
    assert "has no source 'api.chatbotkit.com+user_9' (its sources: sandbox.test)" in done.err


def test_verify_of_nothing_says_so(tmp_path: Path) -> None:
    done = verify(tmp_path / "nope.db")
    assert done.code == 2
    assert f"error: nothing to verify at '{tmp_path / 'nope.db'}': no such file or folder" in (
        done.err
    )


def test_a_bare_db_that_swallowed_the_target_says_so(tmp_path: Path) -> None:
    done = run_in_memory(["export", "--db", str(tmp_path / "out.csv")])
    assert done.code == 2
    assert "Missing argument 'PATH'" in done.err
    assert "hint: --db takes the word after it as the archive: put it after PATH" in done.err


def test_a_list_younger_than_the_overlap_stays_one_stretch(tmp_path: Path) -> None:
    # The overlap never ends inside such a list: each run reads it to its end,
    # and the stretch it reads holds the one stored before.
    api = Emulator(arrivals(250, seed=8, now_ms=NOW_MS), token=TOKEN)
    db = tmp_path / "usage.db"
    for _ in range(2):
        done = sync(api, db, "--streams", "1")
        assert done.code == 0, done.err
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM segments").fetchone()[0] == 1
    check = verify(db)
    assert check.code == 0, check.err
    assert "no records between" not in check.out + check.err


@pytest.mark.parametrize("db", [[], ["--db"]])
def test_sync_demo_never_writes_the_default_archive(tmp_path: Path, db: list[str]) -> None:
    default = tmp_path / "default" / "usage.db"
    result = run_in_memory(["sync", "--demo", *db], env={"USAGE_DB": str(default)})
    assert result.code == 2
    assert result.err.startswith("error: usage sync --demo needs an archive of its own")
    assert "($USAGE_DB names your own archive, not a demo's)" in result.err
    assert not default.exists()
    assert not default.parent.exists()


def test_a_meta_grouping_under_an_sqlite_before_3_38_reads_the_same(
    emulator: Emulator, synced: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    words = ("summary", "--by", "meta.reason", "--by", "month", "-o", "csv")
    fast = offline(synced, *words)
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 37, 2))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.37.2")
    folded = offline(synced, *words)
    assert fast.code == folded.code == 0, folded.err
    assert folded.out == fast.out == online(emulator, *words).out


def test_no_sql_needs_an_sqlite_newer_than_the_floor() -> None:
    """The archive is read down to SQLite 3.31 (`SQLITE_NEEDED`): no `->`, `->>` or
    `iif` in the package's SQL but the one `->` asked only from 3.38 on."""
    import ast

    import usage_cli

    allowed = {("archive/_read.py", "raw -> ?")}
    found = []
    root = Path(usage_cli.__file__).parent
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                newer = " ->" in text or "iif(" in text.lower() or "unixepoch(" in text
                where = (path.relative_to(root).as_posix(), text)
                if newer and where not in allowed:
                    found.append(where)
    # SQL, not a docstring's `a -> b`: it names the records' columns or JSON functions.
    sql = [(name, text) for name, text in found if re.search(r"\braw\b|\bjson|\bcount\b", text)]
    assert sql == []
