"""`export --streams 2`: the list read from both ends at once, stopping where they meet.

The output must be the single chain's, byte for byte; these tests hold the
meeting to that through odd page sizes, a list that grows meanwhile, faults on
either end, interruption and resume.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from usage_cli.client import Client, RetryPolicy
from usage_cli.pages import PageSource, RecordStream
from usage_cli.pages_meet import meet_batches
from usage_cli.query import Order, Query
from usage_cli.sandbox.data import arrivals, generate_records
from usage_cli.sandbox.emulator import Emulator, Faults

from .conftest import ANCHOR, TOKEN, Result, run_in_memory
from .test_export import manifest_of

NOW_MS = int(ANCHOR.timestamp() * 1000)
OFFLINE = "http://127.0.0.1:9"  # never reached: the transport answers


def emulator(records: int = 250, faults: Faults | None = None) -> Emulator:
    return Emulator(generate_records(records, seed=5, anchor=ANCHOR), token=TOKEN, faults=faults)


def client(transport: httpx.BaseTransport, retries: int = 5) -> Client:
    return Client(
        token=TOKEN,
        api_url=OFFLINE,
        transport=transport,
        retry=RetryPolicy(retries=retries),
        sleep=lambda _: None,
    )


def export(
    transport: httpx.BaseTransport, target: Path | str, *args: str, **runtime: Any
) -> Result:
    base = ["--api-url", OFFLINE, "--token", TOKEN, "export", str(target)]
    return run_in_memory([*base, *args], transport=transport, **runtime)


def ids_of(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def orders_asked(api: Emulator) -> set[str | None]:
    return {seen.param("order") for seen in api.requests}


# The meeting, in the core ------------------------------------------------


def batches_of(source: PageSource, trail: PageSource | None, query: Query) -> list[Any]:
    batches = (
        RecordStream(source, query).batches()
        if trail is None
        else meet_batches(source, lambda: trail, query)
    )
    return [([record.id for record in batch.records], batch.cursor) for batch in batches]


def test_the_far_ends_records_set_aside_count_as_read_until_written() -> None:
    api = emulator(1000)
    query = Query(take=10)
    aside: list[tuple[int, int]] = [(0, 0)]
    read: list[int] = []  # written so far plus set aside, after each batch
    written = 0
    with client(api.transport()) as lead, client(api.transport()) as trail:
        for batch in meet_batches(
            lead, lambda: trail, query, on_aside=lambda r, p: aside.append((r, p))
        ):
            written += len(batch.records)
            read.append(written + aside[-1][0])
    assert written == 1000
    assert max(records for records, _ in aside) > 0  # the far end read something
    assert aside[-1] == (0, 0)  # and all of it was written in the end
    assert read == sorted(read)  # the count of what was read never goes back
    assert all(pages == -(-records // 10) for records, pages in aside)


@pytest.mark.parametrize(
    ("records", "take", "max_take"),
    [
        *[(0, 10, None), (1, 10, None), (10, 10, None), (11, 10, None), (99, 7, None)],
        *[(200, 100, None), (201, 100, None), (250, 3, None), (250, 100, 33), (97, 1, None)],
    ],
)
@pytest.mark.parametrize("order", [Order.desc, Order.asc])
def test_the_meeting_gives_one_chains_pages_whatever_the_boundaries(
    records: int, take: int, max_take: int | None, order: Order
) -> None:
    api = emulator(records, Faults(max_take=max_take))
    query = replace(Query(), order=order, take=take)
    with client(api.transport()) as one:
        alone = batches_of(one, None, query)
    with client(api.transport()) as lead, client(api.transport()) as trail:
        met = batches_of(lead, trail, query)
    # The same records in the same pages (no duplicate from the overlap, none lost)...
    assert [ids for ids, _ in met] == [ids for ids, _ in alone]
    everything = [record["id"] for record in api.records]
    assert [i for ids, _ in met for i in ids] == (
        everything if order is Order.desc else everything[::-1]
    )
    # ... and each page's cursor continues exactly after it, as a checkpoint's must.
    for position, (_, cursor) in enumerate(met):
        if cursor is None:
            assert position == len(met) - 1
            continue
        with client(api.transport()) as rest:
            after = [r.id for r in RecordStream(rest, replace(query, cursor=cursor))]
        assert after == [i for ids, _ in met[position + 1 :] for i in ids]


def test_both_ends_are_read_and_about_half_the_requests_each() -> None:
    api = emulator(1000)
    with client(api.transport()) as lead, client(api.transport()) as trail:
        batches_of(lead, trail, Query())
    asked = [seen.param("order") for seen in api.requests]
    # Ten pages and the end: one chain asks 11 times; two meet after about half each.
    assert asked.count("desc") >= 2
    assert asked.count("asc") >= 2
    assert len(asked) <= 11 + 2 * 2  # the meeting page, and at most two pages ahead each


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


def test_orders_that_are_not_mirror_images_fall_back_to_one_chain() -> None:
    api = emulator(250)
    notes: list[str] = []
    query = replace(Query(), take=10)
    with client(Disordered(api)) as lead, client(Disordered(api)) as trail:
        met = [
            r.id
            for b in meet_batches(lead, lambda: trail, query, on_note=notes.append)
            for r in b.records
        ]
    assert met == [record["id"] for record in api.records]
    assert notes == ["reading from one end only: the API's two orders are not mirror images here"]


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
            return httpx.Response(response.status_code, json=body)

        super().__init__(handle)


def test_cursors_that_are_not_ids_fall_back_to_one_chain() -> None:
    api = emulator(250)
    notes: list[str] = []
    with client(OpaqueCursors(api)) as lead, client(OpaqueCursors(api)) as trail:
        met = [
            r.id
            for b in meet_batches(lead, lambda: trail, Query(), on_note=notes.append)
            for r in b.records
        ]
    assert met == [record["id"] for record in api.records]
    assert notes == ["reading from one end only: the API's cursors are not record ids"]


def test_a_window_or_a_start_cursor_is_refused_by_the_core() -> None:
    api = emulator(10)
    with client(api.transport()) as one:
        for query in (replace(Query(), since=ANCHOR), replace(Query(), cursor="x")):
            with pytest.raises(ValueError, match="both ends"):
                list(meet_batches(one, lambda: one, query))


# The export, byte for byte -------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a.csv", "a.jsonl", "a.json", "a.csv.gz", "a.jsonl.gz", "a.json.gz"]
)
@pytest.mark.parametrize("order", ["desc", "asc"])
def test_two_streams_write_the_single_chains_file_in_every_format(
    tmp_path: Path, name: str, order: str
) -> None:
    api = emulator(250)
    files = {}
    for streams in ("1", "2"):
        target = tmp_path / streams / name
        target.parent.mkdir()
        args = ("--take", "7", "--order", order, "--streams", streams)
        api.requests.clear()
        result = export(api.transport(), target, *args)
        assert result.code == 0, result.err
        assert orders_asked(api) == ({order} if streams == "1" else {"asc", "desc"})
        files[streams] = target
    one, two = files["1"], files["2"]
    assert two.read_bytes() == one.read_bytes()
    made = [manifest_of(path) for path in (one, two)]
    for manifest in made:
        # When each ran (the window of a whole list ends at its start): nothing else differs.
        del manifest["startedAt"], manifest["finishedAt"], manifest["window"]
    assert made[0] == made[1]  # the file's hash, the figures, the pages, the query


class Slow(httpx.MockTransport):
    """The emulator, each answer `seconds` late: an API across a network."""

    def __init__(self, api: Emulator, seconds: float = 0.02) -> None:
        inner = api.transport()

        def handle(request: httpx.Request) -> httpx.Response:
            time.sleep(seconds)
            return inner.handle_request(request)

        super().__init__(handle)


def test_by_default_a_whole_list_is_read_from_both_ends_once_pages_come_slowly(
    tmp_path: Path,
) -> None:
    api = emulator(250)
    assert export(Slow(api), tmp_path / "all.jsonl", "--take", "10").code == 0
    assert orders_asked(api) == {"asc", "desc"}
    # The far end began after the near end's first three pages (the first connects).
    first_asc = next(i for i, seen in enumerate(api.requests) if seen.param("order") == "asc")
    assert first_asc >= 3
    assert ids_of(tmp_path / "all.jsonl") == [r["id"] for r in api.records]
    api.requests.clear()
    # Standard output too: the far end is set aside, then follows.
    out = export(Slow(api), "-", "-o", "jsonl", "--take", "10")
    assert out.code == 0
    assert orders_asked(api) == {"asc", "desc"}
    assert [json.loads(line)["id"] for line in out.out.splitlines()] == ids_of(
        tmp_path / "all.jsonl"
    )


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("records", [31, 35, 39, 60])
def test_a_switch_near_the_end_meets_without_a_false_note(
    tmp_path: Path, order: str, records: int
) -> None:
    api = emulator(records)
    target = tmp_path / "a.csv"
    done = export(Slow(api), target, "--take", "10", "--order", order)
    assert done.code == 0, done.err
    assert "one end only" not in done.err
    assert orders_asked(api) == {"asc", "desc"}
    assert target.read_bytes() == reference(
        api, tmp_path, "a.csv", "--take", "10", "--order", order
    )


def test_by_default_a_fast_api_is_read_as_one_chain_and_a_window_always_is(
    tmp_path: Path,
) -> None:
    api = emulator(250)
    # Three pages answered in well under 15 ms each: a second connection would cost
    # more than it saves.
    assert export(api.transport(), tmp_path / "all.jsonl").code == 0
    assert orders_asked(api) == {"desc"}
    api.requests.clear()
    assert export(Slow(api), tmp_path / "week.jsonl", "--since", "7d", "--take", "10").code == 0
    assert orders_asked(api) == {"desc"}
    api.requests.clear()
    # Asked for, two streams begin at once, however fast the API.
    assert (
        export(api.transport(), tmp_path / "two.jsonl", "--take", "10", "--streams", "2").code == 0
    )
    assert orders_asked(api) == {"asc", "desc"}
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "all.jsonl").read_bytes()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--streams", "3"], "--streams takes 1 or 2, not 3"),
        (["--streams", "0"], "--streams takes 1 or 2, not 0"),
        (["--streams", "-1"], "--streams takes 1 or 2, not -1"),
        (["--streams", "two"], "'two' is not a valid int"),
        (["--streams", "2", "--since", "7d"], "cannot be used with a --since/--until window"),
        (["--streams", "2", "--until", "2026-01-01"], "a --since/--until window"),
        (["--streams", "2", "--partition", "day"], "a --partition export reads one"),
        (["--streams", "2", "--db", "x.db"], "--db reads the local archive"),
    ],
)
def test_a_bad_streams_is_exit_2_before_any_request(
    tmp_path: Path, args: list[str], said: str
) -> None:
    api = emulator(10)
    target = tmp_path / ("out" if "--partition" in args else "a.jsonl")
    result = export(api.transport(), target, *args)
    assert result.code == 2, result.err
    assert said in result.err
    assert api.requests == []
    assert len(result.err.strip().splitlines()) <= 2  # one line, and a hint at most


# A list that grows meanwhile -----------------------------------------------


class Growing(httpx.MockTransport):
    """The emulator, with new usage (created now) arriving every `every` requests."""

    def __init__(self, api: Emulator, every: int = 3, count: int = 15) -> None:
        inner = api.transport()
        self.calls = 0
        self.before = [record["id"] for record in api.records]

        def handle(request: httpx.Request) -> httpx.Response:
            self.calls += 1
            if self.calls % every == 0:
                step = self.calls
                api.add(arrivals(count, seed=step, now_ms=NOW_MS + step * 1000))
            return inner.handle_request(request)

        super().__init__(handle)


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_records_created_while_it_runs_are_neither_lost_nor_doubled(
    tmp_path: Path, order: str
) -> None:
    api = emulator(400)
    growing = Growing(api)
    target = tmp_path / "a.jsonl"
    result = export(growing, target, "--take", "9", "--order", order, "--streams", "2")
    assert result.code == 0, result.err
    got = ids_of(target)
    assert len(got) == len(set(got))  # no record twice
    newest_first = got if order == "desc" else got[::-1]
    # The snapshot: every record that existed at the start, and of the newer ones
    # exactly those up to the newest on the first `desc` page; one block of the
    # list as it is now, down to its oldest record.
    now = [record["id"] for record in api.records]
    top = now.index(newest_first[0])
    assert newest_first == now[top:]
    assert set(growing.before) <= set(got)
    assert top <= now.index(growing.before[0])
    assert len(api.records) > 400  # it did grow meanwhile


# Faults, interruption and resume ------------------------------------------


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


def reference(api: Emulator, tmp_path: Path, name: str, *args: str) -> bytes:
    target = tmp_path / "reference" / name
    target.parent.mkdir(exist_ok=True)
    assert export(api.transport(), target, "--streams", "1", *args).code == 0
    return target.read_bytes()


def test_a_failing_far_end_is_dropped_and_the_export_still_completes(tmp_path: Path) -> None:
    api = emulator(250)
    target = tmp_path / "a.csv"
    result = export(
        Failing(api, "asc", after=2), target, "--take", "10", "--retries", "2", "--streams", "2"
    )
    assert result.code == 0, result.err
    assert "reading from one end only: the other end failed (the API failed" in result.err
    assert target.read_bytes() == reference(api, tmp_path, "a.csv", "--take", "10")


def test_a_failing_near_end_is_exit_5_and_resumes_to_the_same_file(tmp_path: Path) -> None:
    api = emulator(250)
    target = tmp_path / "a.csv.gz"
    failed = export(
        Failing(api, "desc", after=4), target, "--take", "10", "--retries", "1", "--streams", "2"
    )
    assert failed.code == 5, failed.err
    assert "rerun with --resume" in failed.err
    assert not target.exists()
    checkpoint = json.loads((tmp_path / ".a.csv.gz.checkpoint.json").read_text())
    assert checkpoint["stats"]["records"] == 40  # the near end's four pages
    resumed = export(api.transport(), target, "--take", "10", "--resume")
    assert resumed.code == 0, resumed.err
    assert target.read_bytes() == reference(api, tmp_path, "a.csv.gz", "--take", "10")


class Interrupting(httpx.MockTransport):
    """The emulator, and Ctrl-C at the `at`th request (in whichever stream asks it)."""

    def __init__(self, api: Emulator, at: int) -> None:
        inner = api.transport()
        self.calls = 0

        def handle(request: httpx.Request) -> httpx.Response:
            self.calls += 1
            if self.calls == at:
                raise KeyboardInterrupt
            return inner.handle_request(request)

        super().__init__(handle)


@pytest.mark.parametrize(("first", "then"), [("2", "2"), ("2", "1"), ("1", "2")])
def test_an_interrupted_export_resumes_with_either_count_to_the_same_file(
    tmp_path: Path, first: str, then: str
) -> None:
    api = emulator(250)
    target = tmp_path / "a.jsonl.gz"
    args = ("--take", "10", "--order", "asc")
    stopped = export(Interrupting(api, at=9), target, *args, "--streams", first)
    assert stopped.code == 130, stopped.err
    assert not target.exists()
    # The checkpoint holds the near end's pages only: the far end's are read again.
    resumed = export(api.transport(), target, *args, "--resume", "--streams", then)
    assert resumed.code == 0, resumed.err
    assert target.read_bytes() == reference(api, tmp_path, "a.jsonl.gz", *args)
    assert not list(tmp_path.glob(".usage-spill-*"))
