"""`usage export DIR --partition day --update`: a dataset a daily job adds to, against the
sandbox (records over the 30 days before 2026-01-31)."""

from __future__ import annotations

import gzip
import hashlib
import json
import signal
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from usage_cli.sandbox import Sandbox
from usage_cli.sandbox.emulator import Emulator
from usage_cli.sandbox.server import Faults

from .conftest import (
    ANCHOR,
    TOKEN,
    Result,
    run_in_memory,
    stopped,
    subprocess_env,
    usage_command,
)

Cli = Callable[..., Result]
DAYS = ["2026-01-20", "2026-01-21", "2026-01-22"]


def manifest_file(folder: Path) -> Path:
    return folder.with_name(folder.name + ".manifest.json")


def manifest_of(folder: Path) -> dict[str, Any]:
    return json.loads(manifest_file(folder).read_text())  # type: ignore[no-any-return]


def update(cli: Cli, folder: Path, *args: str, **runtime: Any) -> Result:
    return cli("export", str(folder), "--partition", "day", "--update", "-q", *args, **runtime)


def day(cli: Cli, folder: Path, when: str, *args: str, **runtime: Any) -> Result:
    """The run a daily job makes for the day `when`."""
    return update(cli, folder, "--since", when, "--until", when, *args, **runtime)


def on_days(records: list[dict[str, Any]], days: list[str]) -> list[dict[str, Any]]:
    def of(record: dict[str, Any]) -> str:
        return datetime.fromtimestamp(record["createdAt"] / 1000, UTC).strftime("%Y-%m-%d")

    return [record for record in records if of(record) in days]


def hashes(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under `folder`: its sha256 and mtime (untouched, not just rewritten alike)."""
    return {
        path.relative_to(folder).as_posix(): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def dataset(cli: Cli, tmp_path: Path) -> Path:
    """Three days, added one run at a time."""
    target = tmp_path / "usage"
    for when in DAYS:
        done = day(cli, target, when)
        assert done.code == 0, done.err
    return target


def test_three_days_added_one_at_a_time_make_one_set(
    cli: Cli, server: Sandbox, dataset: Path
) -> None:
    expected = on_days(server.records, DAYS)
    manifest = manifest_of(dataset)
    assert manifest["records"] == len(expected)
    assert manifest["countTotal"] == sum(record["count"] for record in expected)
    assert [entry["folder"] for entry in manifest["partitions"]] == [f"date={d}" for d in DAYS]
    for entry, when in zip(manifest["partitions"], DAYS, strict=True):
        assert entry["window"]["since"] == f"{when}T00:00:00.000Z"
        assert entry["window"]["until"] == f"{when}T23:59:59.999Z"
        assert entry["records"] == len(on_days(server.records, [when]))
    assert "window" not in manifest  # a dataset's windows are its partitions'
    verified = cli("verify", str(dataset))
    assert verified.code == 0, verified.err
    assert "3 partitions read whole (0 empty)" in verified.out
    duckdb = pytest.importorskip("duckdb")
    read = duckdb.sql(
        f"SELECT count(*), sum(count) FROM read_json_auto('{dataset}/**/*', "
        "hive_partitioning = true)"
    ).fetchall()[0]
    assert read == (manifest["records"], manifest["countTotal"])


def test_rerunning_a_day_replaces_it_and_leaves_the_others_as_they_were(
    cli: Cli, server: Sandbox, dataset: Path
) -> None:
    before = manifest_of(dataset)
    files = hashes(dataset)
    done = day(cli, dataset, DAYS[1])
    assert done.code == 0, done.err
    after = manifest_of(dataset)
    assert after["records"] == before["records"]  # replaced, never doubled
    assert after["parts"] == before["parts"]  # the same records give the same bytes
    now = hashes(dataset)
    for path, (digest, mtime) in files.items():
        if not path.startswith(f"date={DAYS[1]}/"):
            assert now[path] == (digest, mtime), path  # untouched
    assert cli("verify", str(dataset)).code == 0


def test_a_window_over_several_days_writes_each_and_keeps_the_rest(
    cli: Cli, server: Sandbox, dataset: Path
) -> None:
    files = hashes(dataset)
    done = update(cli, dataset, "--since", "2026-01-22", "--until", "2026-01-24")
    assert done.code == 0, done.err
    days = [*DAYS, "2026-01-23", "2026-01-24"]
    manifest = manifest_of(dataset)
    assert manifest["records"] == len(on_days(server.records, days))
    assert [e["folder"] for e in manifest["partitions"]] == [f"date={d}" for d in days]
    now = hashes(dataset)
    assert all(now[path] == files[path] for path in files if "2026-01-22" not in path)
    assert cli("verify", str(dataset)).code == 0


def test_a_day_with_no_records_is_read_and_listed_empty(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "usage"
    assert day(cli, target, DAYS[0]).code == 0
    done = day(cli, target, "2026-03-01")  # after the sandbox's last record
    assert done.code == 0, done.err
    empty = manifest_of(target)["partitions"][-1]
    assert empty["folder"] == "date=2026-03-01"
    assert empty["records"] == 0
    assert not (target / "date=2026-03-01").exists()
    verified = cli("verify", str(target))
    assert verified.code == 0, verified.err
    assert "2 partitions read whole (1 empty)" in verified.out


def test_a_day_that_is_empty_now_loses_its_folder(cli: Cli, server: Sandbox, dataset: Path) -> None:
    files = hashes(dataset)
    # The API no longer lists that day's records (the same query, the same API root).
    rest = [record for record in server.records if record not in on_days(server.records, DAYS[:1])]
    done = day(cli, dataset, DAYS[0], transport=Emulator(rest, token=TOKEN).transport())
    assert done.code == 0, done.err
    assert not (dataset / f"date={DAYS[0]}").exists()
    assert manifest_of(dataset)["partitions"][0]["records"] == 0
    assert manifest_of(dataset)["records"] == len(on_days(server.records, DAYS[1:]))
    now = hashes(dataset)
    assert now == {path: value for path, value in files.items() if DAYS[0] not in path}
    verified = cli("verify", str(dataset))
    assert verified.code == 0, verified.err
    assert "(1 empty)" in verified.out


def test_a_partition_edited_afterwards_is_named_by_verify(cli: Cli, dataset: Path) -> None:
    name = manifest_of(dataset)["parts"][1]["path"]
    lines = gzip.decompress((dataset / name).read_bytes()).splitlines()
    (dataset / name).write_bytes(gzip.compress(b"\n".join(lines[1:]) + b"\n", mtime=0))
    result = cli("verify", str(dataset))
    assert result.code == 6
    assert f"{name}: sha256 is" in result.err
    assert f"{name.split('/')[0]}: its parts hold {len(lines) - 1} records" in result.err


def _tamper(part: Path) -> None:
    # One byte changed, the size kept: only the sha256 tells.
    data = bytearray(part.read_bytes())
    data[-1] ^= 1
    part.write_bytes(bytes(data))


KEPT_DAMAGE: list[tuple[Callable[[Path], object], Callable[[int], str]]] = [
    (_tamper, lambda size: "has another sha256 than the manifest's"),
    (Path.unlink, lambda size: "is missing"),
    (
        lambda part: part.write_bytes(part.read_bytes() + b"\n"),
        lambda size: f"is {size + 1:,} bytes, the manifest says {size:,}",
    ),
]


@pytest.mark.parametrize(("damage", "said"), KEPT_DAMAGE, ids=["edited", "deleted", "grown"])
def test_an_update_refuses_to_vouch_again_for_a_kept_part_that_changed(
    cli: Cli,
    server: Sandbox,
    dataset: Path,
    damage: Callable[[Path], object],
    said: Callable[[int], str],
) -> None:
    part = manifest_of(dataset)["parts"][0]
    name = part["path"]
    assert name.startswith(f"date={DAYS[0]}/")
    damage(dataset / name)
    files, manifest = hashes(dataset), manifest_file(dataset).read_bytes()
    server.requests.clear()
    refused = day(cli, dataset, DAYS[2])
    assert refused.code == 2
    error, hint = refused.err.splitlines()
    assert error == (
        f"error: --update {dataset}: a part it keeps does not match the manifest it would "
        f"publish again: {name} {said(part['bytes'])}"
    )
    assert hint == (
        f"hint: usage verify {dataset} names each difference; re-read it (--update "
        f"--since {DAYS[0]} --until {DAYS[0]}), or start the dataset over with --force"
    )
    assert server.requests == []
    assert hashes(dataset) == files
    assert manifest_file(dataset).read_bytes() == manifest
    # What the hint says mends it: the partition read again replaces the changed part.
    mended = day(cli, dataset, DAYS[0])
    assert mended.code == 0, mended.err
    assert cli("verify", str(dataset)).code == 0


def test_a_changed_part_inside_the_window_is_simply_replaced(cli: Cli, dataset: Path) -> None:
    name = manifest_of(dataset)["parts"][-1]["path"]
    assert name.startswith(f"date={DAYS[2]}/")
    _tamper(dataset / name)
    done = day(cli, dataset, DAYS[2])
    assert done.code == 0, done.err
    assert cli("verify", str(dataset)).code == 0


def test_a_partition_the_manifest_says_was_not_read_whole_is_named(cli: Cli, dataset: Path) -> None:
    manifest = manifest_of(dataset)
    manifest["partitions"][0]["window"]["sinceMs"] += 1
    manifest_file(dataset).write_text(json.dumps(manifest))
    result = cli("verify", str(dataset))
    assert result.code == 6
    assert f"date={DAYS[0]}: not wholly inside the window it was read in" in result.err


# --- refused, exit 2, before any request ------------------------------------------------


EXAMPLE = "use --window day, or --since and --until on whole UTC days"
EDGES = [
    (["--since", "2026-01-20T12:00:00Z", "--until", "2026-01-21"], "date=2026-01-20", EXAMPLE),
    (
        ["--since", "2026-01-20", "--until", "2026-01-21T06:00:00Z"],
        "date=2026-01-21",
        "use --until 2026-01-21 (the last whole UTC day the window reaches), or --window day",
    ),
    (["--since", "2026-01-20"], "when this export began", "use --until "),
    (["--window", "hour"], "inside date=", EXAMPLE),
    ([], "--update needs a window of whole partitions", EXAMPLE),
]


@pytest.mark.parametrize(("args", "fragment", "hint"), EDGES, ids=[" ".join(a) for a, *_ in EDGES])
def test_a_window_that_cuts_a_partition_is_refused_before_any_request(
    cli: Cli, server: Sandbox, dataset: Path, args: list[str], fragment: str, hint: str
) -> None:
    files = hashes(dataset)
    server.requests.clear()
    result = update(cli, dataset, *args)
    assert result.code == 2, result.err
    lines = result.err.splitlines()
    assert len(lines) == 2, result.err  # the error and its hint, no note before them
    assert fragment in lines[0]
    assert lines[1].startswith(f"hint: {hint}")
    assert server.requests == []
    assert hashes(dataset) == files


# A job run at 10:00 UTC on 2026-12-07, in a zone whose day is already the 8th.
MORNING = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
TODAY = [
    (
        ["--until", "2026-12-07"],
        "day",
        "use --until 2026-12-06 (the last whole UTC day before this export began), or --window day",
    ),
    (
        ["--tz", "Pacific/Kiritimati", "--until", "2026-12-08"],
        "day",
        "use --until 2026-12-06 (the last whole UTC day before this export began), or --window day",
    ),
    (
        ["--until", "2026-12-07"],
        "month",
        "use --until 2026-11-30 (the last whole UTC month before this export began), "
        "or --window month",
    ),
]


@pytest.mark.parametrize(("args", "partition", "hint"), TODAY)
def test_an_until_of_today_is_refused_with_the_until_that_works(
    cli: Cli, server: Sandbox, tmp_path: Path, args: list[str], partition: str, hint: str
) -> None:
    words = ["export", str(tmp_path / "set"), "--partition", partition, "--update"]
    refused = cli(*words, "--since", "2026-11-01", *args, now=lambda: MORNING)
    assert refused.code == 2
    assert refused.err.splitlines()[1] == f"hint: {hint}"
    assert server.requests == []
    # The value the hint names is taken as it is written, --tz and all.
    value = hint.split()[2]
    done = cli(*words, "--since", "2026-11-01", *args[:-1], value, now=lambda: MORNING)
    assert done.code == 0, done.err


def test_a_window_of_today_alone_is_told_when_it_will_be_whole(
    cli: Cli, server: Sandbox, tmp_path: Path
) -> None:
    words = ["export", str(tmp_path / "set"), "--partition", "day", "--update"]
    refused = cli(*words, "--since", "2026-12-07", "--until", "2026-12-07", now=lambda: MORNING)
    assert refused.code == 2
    assert refused.err.splitlines()[1] == (
        "hint: date=2026-12-07 is whole from 2026-12-08T00:00:00.000Z: run it then, "
        "or use --window day for the last whole day"
    )


def test_a_month_dataset_takes_whole_months(cli: Cli, server: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "months"
    words = ["export", str(target), "--partition", "month", "--update", "--until", "2026-01-31"]
    cut = cli(*words, "--since", "2026-01-05")
    assert cut.code == 2
    assert "inside month=2026-01" in cut.err
    done = cli(*words, "--since", "2026-01-01")
    assert done.code == 0, done.err
    assert manifest_of(target)["records"] == len(server.records)
    assert cli("verify", str(target)).code == 0


BAD = [
    (["--type", "CHATBOTKIT_TASK_RUN"], "a dataset is one query, and this run differs: --type"),
    (["-o", "csv"], "-o csv (was jsonl)"),
    (["--exact"], "--exact (not used then, used now)"),
    (["--force"], "and --force replaces it: give one or the other"),
    (["--chain", "x.manifest.json"], "--update goes without --chain"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_run_unlike_the_dataset_is_refused(
    cli: Cli, server: Sandbox, dataset: Path, args: list[str], fragment: str
) -> None:
    before = manifest_of(dataset)
    server.requests.clear()
    result = day(cli, dataset, DAYS[0], *args)
    assert result.code == 2, result.err
    assert fragment in result.err.splitlines()[0]
    assert server.requests == []
    assert manifest_of(dataset) == before


def test_update_needs_partition_and_a_dataset(cli: Cli, server: Sandbox, tmp_path: Path) -> None:
    alone = cli("export", str(tmp_path / "x"), "--update", "--window", "day")
    assert alone.code == 2
    assert "goes with --partition" in alone.err
    whole = tmp_path / "whole"
    assert cli("export", str(whole), "--partition", "day").code == 0
    refused = day(cli, whole, DAYS[0])
    assert refused.code == 2
    assert "was exported whole" in refused.err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    refused = day(cli, mine, DAYS[0])
    assert refused.code == 2
    assert "a folder but no dataset" in refused.err
    assert (mine / "notes.txt").read_text() == "mine\n"


def test_a_signed_update_signs_the_new_manifest(cli: Cli, dataset: Path, tmp_path: Path) -> None:
    key = tmp_path / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci@example.com", "-f", str(key)],
        check=True,
    )
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"ci@example.com {key.with_suffix('.pub').read_text()}")
    done = day(cli, dataset, DAYS[2], "--sign", str(key))
    assert done.code == 0, done.err
    assert manifest_file(dataset).with_name("usage.manifest.json.sig").is_file()
    verified = cli("verify", str(dataset), "--signers", str(allowed))
    assert verified.code == 0, verified.err
    assert "signed by ci@example.com" in verified.out
    # An unsigned run after it leaves no stale signature beside the new manifest.
    assert day(cli, dataset, DAYS[1]).code == 0
    assert not manifest_file(dataset).with_name("usage.manifest.json.sig").exists()


# --- the installed command, stopped for real ----------------------------------------------


@pytest.fixture(scope="module")
def slow() -> Iterator[Sandbox]:
    with Sandbox(
        records=600, seed=11, token=TOKEN, anchor=ANCHOR, faults=Faults(latency=0.02)
    ) as server:
        yield server


def slow_cli(server: Sandbox) -> Cli:
    def invoke(*args: str) -> Result:
        return run_in_memory(["--api-url", server.url, "--token", TOKEN, *args])

    return invoke


def started(server: Sandbox, target: Path) -> subprocess.Popen[str]:
    """An update of two weeks, 10 records a page: held by the sandbox mid-run."""
    server.requests.clear()
    return subprocess.Popen(
        [
            *usage_command(),
            "export",
            str(target),
            "--partition",
            "day",
            "--update",
            "--since",
            "2026-01-05",
            "--until",
            "2026-01-19",
            "--take",
            "10",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(CHATBOTKIT_API_URL=server.url, CHATBOTKIT_API_TOKEN=TOKEN),
    )


@pytest.fixture
def first_week(slow: Sandbox, tmp_path: Path) -> Path:
    target = tmp_path / "usage"
    done = update(slow_cli(slow), target, "--since", "2026-01-01", "--until", "2026-01-09")
    assert done.code == 0, done.err
    return target


def test_a_second_update_at_once_is_refused_and_an_interrupted_one_changes_nothing(
    slow: Sandbox, first_week: Path
) -> None:
    before, files = manifest_of(first_week), hashes(first_week)
    with slow.hold(after=8) as held:
        process = started(slow, first_week)
        held.wait()
        second = day(slow_cli(slow), first_week, "2026-01-10")
        assert second.code == 2
        assert "another export" in second.err
        assert f"lock .{first_week.name}.lock" in second.err
        err = stopped(process, signal.SIGINT)
    assert process.returncode == 130, err
    assert f"{first_week} was left as it was" in err
    assert manifest_of(first_week) == before
    assert hashes(first_week) == files
    assert sorted(p.name for p in first_week.parent.iterdir()) == ["usage", "usage.manifest.json"]


def test_a_killed_update_leaves_the_previous_set_verifiable(
    slow: Sandbox, first_week: Path
) -> None:
    cli = slow_cli(slow)
    before, files = manifest_of(first_week), hashes(first_week)
    with slow.hold(after=8) as held:
        process = started(slow, first_week)
        held.wait()
        process.kill()
        process.communicate(timeout=30)
    assert (first_week.parent / ".usage.partial").is_dir()  # left by the kill, hidden
    verified = cli("verify", str(first_week))
    assert verified.code == 0, verified.err
    assert manifest_of(first_week) == before
    assert hashes(first_week) == files
    # The next run clears what the killed one left, and adds its days.
    again = update(cli, first_week, "--since", "2026-01-05", "--until", "2026-01-19")
    assert again.code == 0, again.err
    assert sorted(p.name for p in first_week.parent.iterdir()) == ["usage", "usage.manifest.json"]
    assert len(manifest_of(first_week)["partitions"]) == 19
    assert cli("verify", str(first_week)).code == 0


def test_links_planted_beside_a_dataset_are_never_followed(cli: Cli, dataset: Path) -> None:
    victims = dataset.parent / "victims"
    victims.mkdir()
    (victims / "keep.txt").write_text("secret\n")
    # Where the partitions replaced wait before they go, and where the new ones are built.
    (dataset.parent / ".usage.old").symlink_to(victims)
    (dataset.parent / ".usage.partial").symlink_to(victims)
    done = day(cli, dataset, DAYS[1])
    assert done.code == 0, done.err
    assert sorted(p.name for p in victims.iterdir()) == ["keep.txt"]
    assert cli("verify", str(dataset)).code == 0


def test_help_and_tab_completion_name_update(cli: Cli) -> None:
    from .test_completion import bash_complete

    assert "--update" in bash_complete("usage export out --partition day --upd")
    result = cli("export", "--help")
    assert result.code == 0
    assert "--update" in result.out


def test_an_update_killed_while_swapping_its_days_in_is_finished_by_the_next_run(
    cli: Cli, server: Sandbox, dataset: Path
) -> None:
    # What an update of DAYS[2] and a new day leaves when killed past its commit point,
    # with DAYS[2] already moved aside: made from a copy that ran to the end.
    import shutil

    done = dataset.with_name("done")
    shutil.copytree(dataset, done)
    shutil.copy(manifest_file(dataset), manifest_file(done))
    assert update(cli, done, "--since", DAYS[2], "--until", "2026-01-23").code == 0
    building = dataset.with_name(".usage.partial")
    building.mkdir()
    shutil.copytree(done / "date=2026-01-23", building / "date=2026-01-23")
    (dataset.with_name(".usage.old")).mkdir()
    (dataset / f"date={DAYS[2]}").rename(dataset.with_name(".usage.old") / f"date={DAYS[2]}")
    shutil.copytree(done / f"date={DAYS[2]}", dataset / f"date={DAYS[2]}")
    manifest_file(dataset).unlink()
    shutil.copy(manifest_file(done), dataset.with_name(".usage.manifest.json.pending"))
    incomplete = cli("verify", str(dataset))
    assert incomplete.code == 6
    assert "is incomplete" in incomplete.err
    again = day(cli, dataset, DAYS[0])
    assert again.code == 0, again.err
    assert manifest_of(dataset)["parts"] == manifest_of(done)["parts"]
    assert cli("verify", str(dataset)).code == 0
    assert sorted(p.name for p in dataset.parent.iterdir()) == sorted(
        ["done", "done.manifest.json", "usage", "usage.manifest.json"]
    )


def test_a_datasets_mended_strings_are_every_partitions(tmp_path: Path) -> None:
    """`strings.mended` counts the half emoji of the whole set, not of the last run."""
    with Sandbox(records=1_500, seed=9, token=TOKEN, anchor=ANCHOR, odd_data=True) as odd:

        def run_day(when: str) -> dict[str, Any]:
            base = ["--api-url", odd.url, "--token", TOKEN]
            done = run_in_memory(
                [
                    *base,
                    "export",
                    str(tmp_path / "usage"),
                    "--partition",
                    "day",
                    "--update",
                    "-q",
                    "--since",
                    when,
                    "--until",
                    when,
                ]
            )
            assert done.code == 0, done.err
            return manifest_of(tmp_path / "usage")

        def text_of(folder: Path) -> str:
            return "".join(
                gzip.decompress(part.read_bytes()).decode() for part in folder.rglob("*.gz")
            )

        for when in DAYS:
            manifest = run_day(when)
        partitions = manifest["partitions"]
        assert all("stringsMended" in entry for entry in partitions)
        total = manifest["strings"]["mended"]
        assert total == sum(entry["stringsMended"] for entry in partitions)
        # Each mended string of the odd data is one U+FFFD in the parts' text.
        assert total == text_of(tmp_path / "usage").count("\ufffd") > 0
        assert run_day(DAYS[1])["strings"]["mended"] == total  # a rerun never doubles it
        # What a run says is its own count: the day's, not the dataset's.
        base = ["--api-url", odd.url, "--token", TOKEN]
        said = run_in_memory(
            [
                *base,
                "export",
                str(tmp_path / "usage"),
                "--partition",
                "day",
                "--update",
                "--since",
                DAYS[1],
                "--until",
                DAYS[1],
            ]
        ).err
        day_count = next(e["stringsMended"] for e in partitions if e["folder"].endswith(DAYS[1]))
        assert 0 < day_count < total
        assert f"note: {day_count} string" in said
    assert run_in_memory(["verify", str(tmp_path / "usage")]).code == 0


def test_update_refuses_a_folder_reached_through_a_link(
    cli: Cli, server: Sandbox, dataset: Path, tmp_path: Path
) -> None:
    """A dataset is updated where it is: through a link, its earlier days would be left
    behind the link while the new manifest still lists them."""
    real = tmp_path / "real"
    dataset.rename(real)
    Path(f"{dataset}.manifest.json").rename(f"{real}.manifest.json")
    dataset.symlink_to(real)
    before = hashes(real)
    server.requests.clear()
    result = day(cli, dataset, DAYS[0])
    assert result.code == 2, result.err
    assert "is a link" in result.err.splitlines()[0]
    assert server.requests == []
    assert dataset.is_symlink()
    assert hashes(real) == before
