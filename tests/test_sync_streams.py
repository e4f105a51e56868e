"""`sync --streams 2`: a sync down to the end of the list reads it from both ends at once.

The archive it leaves must be the one a single chain leaves (the same records,
the same JSON, the same offline output byte for byte, a verified chain), the
seam must hold records with equal `createdAt`, usage created meanwhile must be
neither lost nor doubled, and a run stopped before the ends meet must leave a
gap that `usage verify` reports and the next sync closes.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from usage_cli.sandbox import Sandbox
from usage_cli.sandbox.data import arrivals, generate_records
from usage_cli.sandbox.emulator import Emulator, Faults

from .conftest import ANCHOR, TOKEN, Result, run_in_memory, usage_command
from .test_archive_process import TOKEN as PROCESS_TOKEN
from .test_archive_process import finish, start_sync

API = "http://sandbox.test"
NOW_MS = int(ANCHOR.timestamp() * 1000)


def emulator(records: int = 1200, faults: Faults | None = None) -> Emulator:
    return Emulator(
        generate_records(records, seed=13, anchor=ANCHOR, odd=True), token=TOKEN, faults=faults
    )


def sync(transport: httpx.BaseTransport, db: Path, *args: str) -> Result:
    """A sync, from both ends at once unless `args` say --streams: these fakes answer
    fast, where by default a sync reads one chain (see the `Slow` test)."""
    streams = [] if "--streams" in args else ["--streams", "2"]
    words = ["--api-url", API, "--token", TOKEN, "sync", "--db", str(db), *streams, *args]
    return run_in_memory(words, transport=transport)


def offline(db: Path, *args: str) -> Result:
    return run_in_memory([*args, "--db", str(db)])


def verify(db: Path) -> Result:
    return run_in_memory(["verify", str(db)])


def stored(db: Path) -> dict[str, str]:
    """Each stored record's JSON, by id; a record stored twice fails here."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT id, raw FROM records").fetchall()
    found = dict(rows)
    assert len(found) == len(rows)
    return found


def segments(db: Path) -> list[tuple[int | None, int | None, str | None, int]]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT newest, oldest, cursor, bottom FROM segments ORDER BY newest DESC"
        ).fetchall()


def whole(api: Emulator) -> list[tuple[int | None, int | None, str | None, int]]:
    """The segments of an archive that holds `api`'s whole list: one, down to its end."""
    times = [record["createdAt"] for record in api.records]
    return [(max(times), min(times), None, 1)]


def orders(api: Emulator) -> list[str | None]:
    return [seen.param("order") for seen in api.requests]


class Wall(httpx.MockTransport):
    """The emulator, with the `order` chain held at the record `at` (its place in the
    list, newest first) until `opened`: the other end has to come all the way to it.

    A sync that finishes while one end is held there met it; one that never
    meets it fails when the wait runs out.
    """

    def __init__(self, api: Emulator, order: str, at: int) -> None:
        inner = api.transport()
        place = {record["id"]: index for index, record in enumerate(api.records)}
        self.opened = threading.Event()

        def handle(request: httpx.Request) -> httpx.Response:
            params = request.url.params
            cursor = params.get("cursor")
            if params.get("order") == order and cursor is not None:
                past = place[cursor] >= at if order == "desc" else place[cursor] <= at
                if past:
                    assert self.opened.wait(10), "the other end never came"
            return inner.handle_request(request)

        super().__init__(handle)


class Disordered(httpx.MockTransport):
    """An API whose `asc` order is not the reverse of its `desc`: two of the oldest swapped."""

    def __init__(self, api: Emulator) -> None:
        swapped = list(api.records)
        assert swapped[-10]["createdAt"] != swapped[-11]["createdAt"]
        swapped[-10], swapped[-11] = swapped[-11], swapped[-10]
        backwards = Emulator(swapped, token=TOKEN)
        desc, asc = api.transport(), backwards.transport()

        def handle(request: httpx.Request) -> httpx.Response:
            order = request.url.params.get("order")
            return (asc if order == "asc" else desc).handle_request(request)

        super().__init__(handle)


class OpaqueCursors(httpx.MockTransport):
    """Cursors that are not record ids: tokens the emulator maps back."""

    def __init__(self, api: Emulator) -> None:
        inner = api.transport()

        def handle(request: httpx.Request) -> httpx.Response:
            cursor = request.url.params.get("cursor")
            if cursor:
                url = request.url.copy_set_param("cursor", cursor.removeprefix("tok-"))
                request = httpx.Request("GET", url, headers=request.headers)
            response = inner.handle_request(request)
            body = json.loads(response.read())
            if body.get("cursor"):
                body["cursor"] = "tok-" + body["cursor"]
            # ASCII escapes: the odd data's lone surrogates go back as they came.
            content = json.dumps(body).encode()
            headers = {"content-type": "application/json"}
            return httpx.Response(response.status_code, content=content, headers=headers)

        super().__init__(handle)


class Failing(httpx.MockTransport):
    """The emulator, but `order` answers 503 from its `after`th request on."""

    def __init__(self, api: Emulator, order: str, after: int) -> None:
        inner = api.transport()
        self.asked = 0

        def handle(request: httpx.Request) -> httpx.Response:
            if request.url.params.get("order") == order:
                self.asked += 1
                if self.asked > after:
                    return httpx.Response(503, json={"message": "down", "code": "GENERIC_ERROR"})
            return inner.handle_request(request)

        super().__init__(handle)


class Lockstep(httpx.MockTransport):
    """`inner`, with the `desc` chain's nth request waiting until the `asc` chain has
    asked n - 1 times (or has ended or failed): the two ends take turns, so where they
    meet does not depend on how a busy machine schedules two threads.

    Call `finish` once the sync is over: a request still waiting is then refused
    rather than answered, so that nothing reaches the emulator after the run.
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        asked = {"asc": 0, "desc": 0}
        turn = threading.Condition()
        over = {"asc": False, "run": False}

        def handle(request: httpx.Request) -> httpx.Response:
            order = request.url.params.get("order", "desc")
            with turn:
                asked[order] += 1
                number = asked[order]
                turn.notify_all()
                if order == "desc":
                    took_turn = turn.wait_for(
                        lambda: asked["asc"] >= number - 1 or over["asc"] or over["run"], 30
                    )
                    # Never quietly back to the machine's scheduling: fail instead.
                    assert took_turn, "the asc chain never took its turn"
                if over["run"]:
                    raise httpx.ConnectError("the run is over", request=request)
            response = inner.handle_request(request)
            if order == "asc" and (response.status_code != 200 or _last(response)):
                with turn:
                    over["asc"] = True
                    turn.notify_all()
            return response

        def finish() -> None:
            with turn:
                over["run"] = True
                turn.notify_all()

        self.finish = finish
        super().__init__(handle)


def _last(response: httpx.Response) -> bool:
    body = json.loads(response.read())
    return not body.get("items") or not body.get("cursor")


def in_turns(inner: httpx.BaseTransport, db: Path, *args: str) -> Result:
    """A sync from both ends whose ends take turns (see `Lockstep`)."""
    turns = Lockstep(inner)
    try:
        return sync(turns, db, *args)
    finally:
        turns.finish()


class TrailSeen(httpx.MockTransport):
    """`inner`, with the `desc` chain's third request on held until the `asc` chain's
    first page is posted: its thread asks for a second one (it may fetch ahead) or
    ends (the page got it dropped). The reader takes pages in the order they are
    posted, so it looks at the trail's first page before the lead could read to the
    list's end, however a busy machine schedules the two threads.
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        asked = {"asc": 0, "desc": 0}
        trail: list[threading.Thread] = []
        seen = threading.Condition()

        def posted() -> bool:
            return asked["asc"] >= 2 or bool(trail and not trail[0].is_alive())

        def handle(request: httpx.Request) -> httpx.Response:
            order = request.url.params.get("order", "desc")
            with seen:
                asked[order] += 1
                if order == "asc" and not trail:
                    trail.append(threading.current_thread())
                seen.notify_all()
                number = asked[order]
            if order == "desc" and number >= 3:
                with seen:
                    # Polled: a thread that ends notifies no one. The bound only ends
                    # a run that would otherwise hang.
                    deadline = time.monotonic() + 60
                    while not posted():
                        assert time.monotonic() < deadline, "the asc chain never posted a page"
                        seen.wait(0.05)
            return inner.handle_request(request)

        super().__init__(handle)


class Slow(httpx.MockTransport):
    """The emulator, each answer `seconds` late: an API across a network."""

    def __init__(self, api: Emulator, seconds: float = 0.02) -> None:
        inner = api.transport()

        def handle(request: httpx.Request) -> httpx.Response:
            time.sleep(seconds)
            return inner.handle_request(request)

        super().__init__(handle)


# The same archive as one chain ---------------------------------------------


READS = [
    ("list", "--all", "-o", "jsonl"),
    ("list", "--all", "--order", "asc", "-o", "csv"),
    ("summary", "--by", "type", "--by", "day", "-o", "json"),
]


@pytest.mark.parametrize(
    ("records", "max_take"),
    [(0, None), (1, None), (100, None), (101, None), (250, 7), (1200, None), (1200, 33)],
)
def test_two_streams_store_exactly_what_one_stores(
    tmp_path: Path, records: int, max_take: int | None
) -> None:
    api = emulator(records, Faults(max_take=max_take))
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    assert sync(api.transport(), one, "--streams", "1").code == 0
    assert set(orders(api)) <= {"desc"}  # one chain never reads from the far end
    api.requests.clear()
    done = in_turns(api.transport(), two)  # --streams 2
    assert done.code == 0, done.err
    if records > 100:
        assert set(orders(api)) == {"asc", "desc"}
    assert stored(two) == stored(one)
    assert len(stored(two)) == records
    if records:
        assert segments(two) == segments(one) == whole(api)
        for args in READS:
            assert offline(two, *args).out == offline(one, *args).out
    check = verify(two)
    assert check.code == 0, check.err
    # The run's figures count every request both chains made.
    with sqlite3.connect(two) as connection:
        outcome, added, requests = connection.execute(
            "SELECT outcome, added, requests FROM runs"
        ).fetchone()
    assert (outcome, added) == ("complete", records)
    assert len(api.requests) - 2 <= requests <= len(api.requests)


def test_the_two_ends_meet_about_halfway(tmp_path: Path) -> None:
    api = emulator(2000)
    db = tmp_path / "usage.db"
    done = in_turns(api.transport(), db)
    assert done.code == 0, done.err
    asked = orders(api)
    # One chain asks 21 times; two meet after about half each (plus a meeting
    # page, and at most two read ahead on each side).
    assert asked.count("desc") < 21
    assert asked.count("asc") >= 2
    assert len(asked) <= 21 + 2 * 3
    assert segments(db) == whole(api)


def tied(records: int) -> list[dict[str, Any]]:
    """`records` records all created in the same millisecond: every seam is a tie."""
    made = generate_records(records, seed=17, anchor=ANCHOR)
    for record in made:
        record["createdAt"] = record["updatedAt"] = NOW_MS - 60_000
    # The list's order among equals (the emulator serves them as given; `asc`
    # is the exact reverse, as the platform's orders are).
    return sorted(made, key=lambda r: r["id"], reverse=True)


@pytest.mark.parametrize(
    ("held", "at"), [("desc", 1), ("desc", 150), ("desc", 449), ("asc", 0), ("asc", 300)]
)
@pytest.mark.parametrize("max_take", [None, 7, 30])
def test_a_seam_among_records_created_in_the_same_millisecond_loses_and_doubles_none(
    tmp_path: Path, held: str, at: int, max_take: int | None
) -> None:
    api = Emulator(tied(450), token=TOKEN, faults=Faults(max_take=max_take))
    db = tmp_path / "usage.db"
    wall = Wall(api, held, at)
    try:
        done = sync(wall, db)
    finally:
        wall.opened.set()
    assert done.code == 0, done.err
    assert "one end only" not in done.err
    assert set(stored(db)) == {record["id"] for record in api.records}
    assert segments(db) == [(NOW_MS - 60_000, NOW_MS - 60_000, None, 1)]
    assert verify(db).code == 0


# Usage created while it runs ------------------------------------------------


class Growing(httpx.MockTransport):
    """The emulator, with new usage (created now) arriving every `every` requests."""

    def __init__(self, api: Emulator, every: int = 3, count: int = 40) -> None:
        inner = api.transport()
        self.calls = 0
        self._lock = threading.Lock()

        def handle(request: httpx.Request) -> httpx.Response:
            with self._lock:
                self.calls += 1
                step = self.calls
            if step % every == 0:
                api.add(arrivals(count, seed=step, now_ms=NOW_MS + step * 1000))
            return inner.handle_request(request)

        super().__init__(handle)


def test_records_created_while_it_runs_are_neither_lost_nor_doubled(tmp_path: Path) -> None:
    api = emulator(1200)
    before = [record["id"] for record in api.records]
    db = tmp_path / "usage.db"
    done = sync(Growing(api), db)
    assert done.code == 0, done.err
    assert len(api.records) > 1200  # it did grow meanwhile
    got = set(stored(db))
    # The snapshot: every record that existed at the start, and of the newer
    # ones a block at the top of the list as it is now (none half read).
    now = [record["id"] for record in api.records]
    assert set(before) <= got
    top = min(now.index(record_id) for record_id in got)
    assert got == set(now[top:])
    # The next sync takes the rest, and nothing twice.
    rest = sync(api.transport(), db)
    assert rest.code == 0, rest.err
    assert set(stored(db)) == set(now)
    assert len(segments(db)) == 1
    assert verify(db).code == 0


# Stopped before the ends meet -------------------------------------------------


class StopMidway(httpx.MockTransport):
    """The emulator; the `desc` chain's `at`th request waits until the `asc` chain has
    asked its `at`th, then Ctrl-C: each end has stored pages, and they have not met.

    The `asc` chain's requests after its `at`th are never answered (they fail once
    `done` is set, after the run): however the threads are scheduled, the trail
    has stored at most `at` pages when the interrupt reaches the reader.
    """

    def __init__(self, api: Emulator, at: int = 3) -> None:
        inner = api.transport()
        asked = {"asc": 0, "desc": 0}
        trail_ahead = threading.Event()
        self.done = threading.Event()
        lock = threading.Lock()

        def handle(request: httpx.Request) -> httpx.Response:
            order = request.url.params.get("order", "desc")
            with lock:
                asked[order] += 1
                count = asked[order]
            if order == "asc" and count > at:
                self.done.wait(30)
                raise httpx.ConnectError("the run is over", request=request)
            if order == "asc" and count == at:
                trail_ahead.set()
            if order == "desc" and count == at:
                assert trail_ahead.wait(10), "the trail never got going"
                raise KeyboardInterrupt
            return inner.handle_request(request)

        super().__init__(handle)


def stop_midway(api: Emulator, db: Path) -> Result:
    """A sync into `db` that Ctrl-C stops with both ends begun (see `StopMidway`)."""
    midway = StopMidway(api)
    try:
        return sync(midway, db)
    finally:
        midway.done.set()


def test_a_run_stopped_before_the_ends_meet_leaves_a_gap_the_next_one_closes(
    tmp_path: Path,
) -> None:
    api = emulator(1200)
    db = tmp_path / "usage.db"
    stopped = stop_midway(api, db)
    assert stopped.code == 130, stopped.err
    ids = set(stored(db))
    newest_first = [record["id"] for record in api.records]
    # The two newest pages, and at least the two oldest, nothing in between.
    assert set(newest_first[:200]) <= ids
    assert set(newest_first[-200:]) <= ids
    assert not ids & set(newest_first[400:800])
    top, bottom = segments(db)
    # The lead's is open: its cursor goes on down.
    assert top[2] is not None
    assert not top[3]
    # The trail's goes up from the end of the list.
    assert bottom[2] is None
    assert bottom[3]
    assert bottom[1] == api.records[-1]["createdAt"]

    check = verify(db)
    assert check.code == 6
    assert "a gap below " in check.err
    assert "that the API can still fill" in check.err
    read = offline(db, "summary", "-o", "json")
    assert "may be missing from the archive" in read.err

    api.requests.clear()
    done = sync(api.transport(), db)
    assert done.code == 0, done.err
    assert "closing 1 gap an interrupted sync left" in done.err
    # The gap is closed from its top by one chain, as any gap is, down to the
    # trail's stretch (less the overlap): never the trail's whole stretch again.
    assert orders(api).count("desc") < 12
    assert set(stored(db)) == set(newest_first)
    assert segments(db) == whole(api)
    assert verify(db).code == 0


def test_a_stopped_run_over_a_list_created_in_one_millisecond_is_finished(
    tmp_path: Path,
) -> None:
    # Both stretches then share their newest `createdAt`: the open one is still
    # the one above, and the next run closes the gap between them.
    api = Emulator(tied(1200), token=TOKEN)
    db = tmp_path / "usage.db"
    assert stop_midway(api, db).code == 130
    assert [segment[3] for segment in segments(db)] == [0, 1]
    done = sync(api.transport(), db)
    assert done.code == 0, done.err
    assert set(stored(db)) == {record["id"] for record in api.records}
    assert segments(db) == [(NOW_MS - 60_000, NOW_MS - 60_000, None, 1)]
    assert verify(db).code == 0


def test_a_gap_a_one_stream_run_left_is_finished_from_both_ends(tmp_path: Path) -> None:
    api = emulator(1200)
    db = tmp_path / "usage.db"
    stopped = sync(StopAfterPages(api, 3), db, "--streams", "1")
    assert stopped.code == 130
    assert len(stored(db)) == 300
    api.requests.clear()
    done = sync(api.transport(), db)
    assert done.code == 0, done.err
    # The open segment is read on from its cursor down to the end: both ends.
    assert "asc" in orders(api)
    assert set(stored(db)) == {record["id"] for record in api.records}
    assert segments(db) == whole(api)
    assert verify(db).code == 0


class StopAfterPages(httpx.MockTransport):
    """The emulator for `pages` requests, then Ctrl-C."""

    def __init__(self, api: Emulator, pages: int) -> None:
        inner = api.transport()
        self.calls = 0

        def handle(request: httpx.Request) -> httpx.Response:
            self.calls += 1
            if self.calls > pages:
                raise KeyboardInterrupt
            return inner.handle_request(request)

        super().__init__(handle)


# The far end dropped --------------------------------------------------------


def test_a_failing_far_end_is_dropped_and_its_stretch_kept(tmp_path: Path) -> None:
    api = emulator(1200)
    db = tmp_path / "usage.db"
    done = in_turns(Failing(api, "asc", after=4), db, "--retries", "0")
    assert done.code == 0, done.err
    assert "reading from one end only: the other end failed (" in done.err
    assert set(stored(db)) == {record["id"] for record in api.records}
    assert segments(db) == whole(api)
    # The trail's four pages were kept: the near end stopped at them, past the
    # overlap (one chain asks 13 times; this one 8 pages, a page of overlap and
    # at most two read ahead).
    assert orders(api).count("desc") <= 11
    assert verify(db).code == 0


@pytest.mark.parametrize(
    ("api_of", "why"),
    [
        (Disordered, "the API's two orders are not mirror images here"),
        (OpaqueCursors, "the API's cursors are not record ids"),
    ],
    ids=["disordered", "opaque-cursors"],
)
def test_an_api_the_two_ends_cannot_meet_in_falls_back_to_one_chain(
    tmp_path: Path, api_of: Any, why: str
) -> None:
    api = emulator(1200)
    db = tmp_path / "usage.db"
    done = sync(TrailSeen(api_of(api)), db)
    assert done.code == 0, done.err
    assert f"reading from one end only: {why}" in done.err
    assert set(stored(db)) == {record["id"] for record in api.records}
    assert segments(db) == whole(api)
    assert verify(db).code == 0


def test_quiet_keeps_the_note_to_itself(tmp_path: Path) -> None:
    api = emulator(300)
    done = sync(Disordered(api), tmp_path / "usage.db", "-q")
    assert done.code == 0
    assert done.err == ""


# The option ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("3", "--streams takes 1 or 2, not 3"),
        ("0", "--streams takes 1 or 2, not 0"),
        ("two", "'two' is not a valid int"),
    ],
)
def test_a_bad_streams_is_exit_2_before_any_request(tmp_path: Path, value: str, said: str) -> None:
    api = emulator(10)
    db = tmp_path / "usage.db"
    done = sync(api.transport(), db, "--streams", value)
    assert done.code == 2, done.err
    assert said in done.err
    assert api.requests == []
    assert not db.exists()


def test_by_default_a_fast_api_is_synced_as_one_chain_and_a_slow_one_from_both_ends(
    tmp_path: Path,
) -> None:
    words = ["--api-url", API, "--token", TOKEN, "sync", "--db"]
    # Three pages, each answered in a microsecond by this run's clock: no second
    # connection, however busy the machine is.
    small = emulator(250)
    ticks = itertools.count()
    default = run_in_memory(
        [*words, str(tmp_path / "default.db")],
        transport=small.transport(),
        monotonic=lambda: next(ticks) / 1e6,
    )
    assert default.code == 0, default.err
    assert {seen.param("order") for seen in small.requests} == {"desc"}
    # The same fast API by a clock on which every page takes 20 ms: the far end begins.
    clocked = emulator(1200)
    slow_ticks = itertools.count()
    by_clock = run_in_memory(
        [*words, str(tmp_path / "by-clock.db")],
        transport=clocked.transport(),
        monotonic=lambda: next(slow_ticks) * 0.02,
    )
    assert by_clock.code == 0, by_clock.err
    assert {seen.param("order") for seen in clocked.requests} == {"asc", "desc"}
    api = emulator(1200)  # 13 pages at 20 ms: the far end has time to begin after the third
    one = sync(api.transport(), tmp_path / "one.db", "--streams", "1")
    assert one.code == 0, one.err
    api.requests.clear()
    slow = run_in_memory([*words, str(tmp_path / "slow.db")], transport=Slow(api))
    assert slow.code == 0, slow.err
    assert {seen.param("order") for seen in api.requests} == {"asc", "desc"}
    assert stored(tmp_path / "one.db") == stored(tmp_path / "slow.db")
    assert len(stored(tmp_path / "default.db")) == 250


def test_one_stream_sends_no_asc_request_to_a_real_server(tmp_path: Path) -> None:
    with Sandbox(records=700, seed=3, token=TOKEN, anchor=ANCHOR) as server:
        words = ["--api-url", server.url, "--token", TOKEN, "sync", "--db"]
        one = run_in_memory([*words, str(tmp_path / "one.db"), "--streams", "1"])
        assert one.code == 0, one.err
        assert {seen.param("order") for seen in server.requests} == {"desc"}
        server.requests.clear()
        two = run_in_memory([*words, str(tmp_path / "two.db"), "--streams", "2"])
        assert two.code == 0, two.err
        assert {seen.param("order") for seen in server.requests} == {"asc", "desc"}
    assert stored(tmp_path / "one.db") == stored(tmp_path / "two.db")


# As a process: killed, and against a sandbox that grows ---------------------


def read_only(db: Path, sql: str) -> list[Any]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
            return connection.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []  # not created yet


def test_a_sync_killed_before_the_ends_meet_is_finished_by_the_next(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    with Sandbox(
        records=4000, seed=23, token=PROCESS_TOKEN, anchor=ANCHOR, faults=Faults(latency=0.02)
    ) as server:
        # Held after ten pages, twenty short of where the ends would meet: it is
        # surely killed before they do, however busy the machine.
        with server.hold(after=10) as held:
            process = start_sync(server, db)
            held.wait()
            deadline = time.monotonic() + 30
            # Both ends have stored a page or more each: two segments, one at the bottom.
            while len(read_only(db, "SELECT id FROM segments WHERE bottom = 1")) < 1 or (
                len(read_only(db, "SELECT id FROM records")) < 600
            ):
                assert process.poll() is None, "the sync ended before it could be killed"
                assert time.monotonic() < deadline, "the sync wrote nothing"
                time.sleep(0.01)
            process.kill()
            process.wait(timeout=10)
        assert len(read_only(db, "SELECT id FROM segments")) == 2
        check = subprocess.run(
            [*usage_command(), "verify", str(db)], capture_output=True, text=True, timeout=60
        )
        assert check.returncode == 6, check.stderr
        assert "that the API can still fill" in check.stderr

        done = finish(server, db)
        assert done.returncode == 0, done.stderr
        assert "closing 1 gap an interrupted sync left" in done.stderr
        assert set(stored(db)) == {record["id"] for record in server.records}
    check = subprocess.run(
        [*usage_command(), "verify", str(db)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stderr


def test_a_sandbox_growing_during_a_two_stream_sync_is_followed(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    with Sandbox(
        records=3000,
        seed=4,
        token=PROCESS_TOKEN,
        grow=9,
        grow_every=0.05,
        faults=Faults(latency=0.02),
    ) as server:
        before = {record["id"] for record in server.records}
        first = finish(server, db)
        assert first.returncode == 0, first.stderr
        assert before <= set(stored(db))
        meanwhile = {record["id"] for record in server.records}
        assert len(meanwhile) > 3000 + 9  # it grew during the first sync
        second = finish(server, db)
        assert second.returncode == 0, second.stderr
    # Whatever existed when the second began is stored, once (`stored` checks).
    assert meanwhile <= set(stored(db))
    assert len(read_only(db, "SELECT id FROM segments")) == 1
    check = subprocess.run(
        [*usage_command(), "verify", str(db)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stderr
