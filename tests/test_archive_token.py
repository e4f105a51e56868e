"""The token's fingerprint in an archive's runs: salted per archive, and still a warning
when a later sync of a source uses another token, across the upgrade from unsalted."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from usage_cli.sandbox.data import arrivals, generate_records
from usage_cli.sandbox.emulator import Emulator

from .conftest import ANCHOR, Result, run_in_memory

API = "http://sandbox.test"
TOKEN = "tok_fingerprint"
NOW_MS = int(ANCHOR.timestamp() * 1000)
WARNING = "warning: the token differs from the one the last sync of 'sandbox.test' used"


def api() -> Emulator:
    return Emulator(generate_records(150, seed=9, anchor=ANCHOR), token=TOKEN)


def sync(emulator: Emulator, db: Path, token: str = TOKEN) -> Result:
    emulator.token = token
    words = ["--api-url", API, "--token", token, "sync", "--db", str(db), "-q"]
    done = run_in_memory(words, transport=emulator.transport())
    assert done.code == 0, done.err
    return done


def hints(db: Path) -> list[str | None]:
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT token_hint FROM runs ORDER BY id")]


def test_two_archives_synced_with_one_token_keep_different_hints(tmp_path: Path) -> None:
    first, second = tmp_path / "one.db", tmp_path / "two.db"
    sync(api(), first)
    sync(api(), second)
    (one,), (two,) = hints(first), hints(second)
    assert one is not None
    assert two is not None
    assert one != two
    # Neither is the plain sha256 an unsalted hint was, nor holds the token.
    for hint in (one, two):
        assert hashlib.sha256(TOKEN.encode()).hexdigest()[:12] not in hint
        assert TOKEN not in hint


def test_the_same_token_is_quiet_and_another_is_pointed_out(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    emulator = api()
    sync(emulator, db)
    emulator.add(arrivals(10, seed=2, now_ms=NOW_MS + 60_000))
    assert WARNING not in sync(emulator, db).err
    assert hints(db)[0] == hints(db)[1]
    assert WARNING in sync(emulator, db, token="tok_someone_else").err


def test_an_archive_with_unsalted_hints_is_salted_with_no_false_warning(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    emulator = api()
    sync(emulator, db)
    legacy = hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
    with sqlite3.connect(db) as connection:
        # As a version 2 archive is: the plain sha256's first 12 hex digits, no salt.
        connection.execute("UPDATE runs SET token_hint = ?", (legacy,))
        connection.execute("DROP TABLE properties")
        connection.execute("PRAGMA user_version = 2")
    emulator.add(arrivals(10, seed=3, now_ms=NOW_MS + 60_000))
    upgraded = sync(emulator, db)
    assert WARNING not in upgraded.err
    # Compared once, the unsalted hint is gone; the new run's is salted.
    first, second = hints(db)
    assert first is None
    assert second is not None
    assert legacy not in second
    assert WARNING in sync(emulator, db, token="tok_someone_else").err


def test_an_unsalted_hint_of_another_token_is_still_pointed_out(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    emulator = api()
    sync(emulator, db)
    other = hashlib.sha256(b"tok_before").hexdigest()[:12]
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE runs SET token_hint = ?", (other,))
        connection.execute("DROP TABLE properties")
        connection.execute("PRAGMA user_version = 2")
    assert WARNING in sync(emulator, db).err
