"""Chained and signed exports, checked with the real `ssh-keygen`, as an auditor would."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from usage_cli.errors import InputError
from usage_cli.sandbox import Sandbox

from .conftest import TOKEN, Result, run_in_memory

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")

DAYS = ["2026-01-25", "2026-01-26", "2026-01-27", "2026-01-28", "2026-01-29"]


def keygen(path: Path, comment: str, passphrase: str = "") -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f", str(path)],
        check=True,
    )
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    auditor = keygen(folder / "auditor", "ci@example.com")
    intruder = keygen(folder / "intruder", "intruder@example.com")
    allowed = folder / "allowed_signers"
    allowed.write_text(f"ci@example.com {(folder / 'auditor.pub').read_text()}")
    return {"auditor": auditor, "intruder": intruder, "allowed": allowed}


def export(server: Sandbox, *args: str) -> Result:
    return run_in_memory(["--api-url", server.url, "--token", TOKEN, "export", *args, "-q"])


def daily(server: Sandbox, folder: Path, key: Path | None, days: list[str] = DAYS) -> list[Path]:
    """One chained (and signed) export a day, as a daily CI job makes them."""
    files: list[Path] = []
    for day in days:
        target = folder / f"usage-{day}.jsonl"
        args = [str(target), "--since", day, "--until", f"{day}T23:59:59.999Z"]
        if files:
            args += ["--chain", f"{files[-1]}.manifest.json"]
        if key is not None:
            args += ["--sign", str(key)]
        done = export(server, *args)
        assert done.code == 0, done.err
        files.append(target)
    return files


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify(*args: str | Path) -> Result:
    return run_in_memory(["verify", *(str(arg) for arg in args)])


@pytest.fixture
def series(server: Sandbox, tmp_path: Path, keys: dict[str, Path]) -> list[Path]:
    return daily(server, tmp_path, keys["auditor"])


def remove(export_file: Path) -> None:
    for path in export_file.parent.glob(f"{export_file.name}*"):
        path.unlink()


def test_five_daily_chained_signed_exports_verify_clean(
    series: list[Path], keys: dict[str, Path]
) -> None:
    folder = series[0].parent
    done = verify("--chain", folder, "--signers", keys["allowed"])
    assert done.code == 0, done.err
    head = f"{series[-1]}.manifest.json"
    assert done.out == (
        "ok: a series of 5 exports from 2026-01-25T00:00:00.000Z to 2026-01-29T23:59:59.999Z, "
        f"{sum(len(path.read_text().splitlines()) for path in series):,} records, no gap, no "
        "overlap, no record twice; every manifest signed by ci@example.com; head "
        f"{Path(head).name} sha256 {sha256(Path(head))}\n"
    )
    # In any order, as files, manifests or both.
    shuffled: list[str | Path] = [
        series[3],
        f"{series[0]}.manifest.json",
        series[4],
        series[1],
        series[2],
    ]
    assert verify("--chain", *shuffled, "--expect-head", sha256(Path(head))).code == 0


def test_each_manifest_records_its_window_and_link(series: list[Path]) -> None:
    first = json.loads(Path(f"{series[0]}.manifest.json").read_text())
    second = json.loads(Path(f"{series[1]}.manifest.json").read_text())
    assert "chain" not in first
    assert second["chain"] == {
        "previous": sha256(Path(f"{series[0]}.manifest.json")),
        "previousName": f"{series[0].name}.manifest.json",
    }
    assert second["window"] == {
        "since": "2026-01-26T00:00:00.000Z",
        "until": "2026-01-26T23:59:59.999Z",
        "sinceMs": int(datetime(2026, 1, 26, tzinfo=UTC).timestamp() * 1000),
        "untilMs": int(datetime(2026, 1, 27, tzinfo=UTC).timestamp() * 1000) - 1,
    }
    records = [json.loads(line) for line in series[1].read_text().splitlines()]
    oldest = min(records, key=lambda r: (r["createdAt"], r["id"]))
    newest = max(records, key=lambda r: (r["createdAt"], r["id"]))
    assert (second["firstId"], second["firstCreatedAtMs"]) == (oldest["id"], oldest["createdAt"])
    assert (second["lastId"], second["lastCreatedAtMs"]) == (newest["id"], newest["createdAt"])


def test_a_missing_export_in_the_middle_is_a_broken_link(series: list[Path]) -> None:
    remove(series[2])
    done = verify("--chain", series[0].parent)
    assert done.code == 6
    assert (
        f"a link is broken after {series[1].name}: {series[3].name} names the export before it "
        f"({series[2].name}.manifest.json" in done.err
    )
    assert "1 day of records in no export" in done.err


def test_a_deleted_manifest_is_a_broken_series_named_or_found_in_a_folder(
    series: list[Path],
) -> None:
    Path(f"{series[2]}.manifest.json").unlink()
    for given in ([series[0].parent], series):
        done = verify("--chain", *given)
        assert done.code == 6, done.err
        assert f"{series[2].name} has no manifest: it cannot be proven" in done.err
    mistyped = verify("--chain", *series[:2], series[0].parent / "nothing.jsonl")
    assert mistyped.code == 2
    assert "no manifest at" in mistyped.err


def test_two_missing_exports_in_a_row_are_caught(series: list[Path]) -> None:
    remove(series[1])
    remove(series[2])
    done = verify("--chain", series[0].parent)
    assert done.code == 6
    assert f"{series[3].name} names the export before it ({series[2].name}" in done.err
    assert (
        f"a gap between {series[0].name} (to 2026-01-25T23:59:59.999Z) and {series[3].name} "
        "(from 2026-01-28T00:00:00.000Z): 2 days of records in no export"
    ) in done.err


def test_a_swapped_pair_is_caught(series: list[Path]) -> None:
    one, two = series[1], series[2]
    one_bytes, two_bytes = one.read_bytes(), two.read_bytes()
    one.write_bytes(two_bytes)
    two.write_bytes(one_bytes)
    done = verify("--chain", series[0].parent)
    assert done.code == 6
    assert f"{one.name}: sha256 is {hashlib.sha256(two_bytes).hexdigest()}" in done.err
    assert f"{two.name}: sha256 is {hashlib.sha256(one_bytes).hexdigest()}" in done.err
    assert f"{one.name} and {two.name} are swapped: each holds the records the other's" in (
        done.err
    )


def test_a_file_copied_over_another_is_named(series: list[Path]) -> None:
    one, two = series[1], series[2]
    two.write_bytes(one.read_bytes())
    done = verify("--chain", series[0].parent)
    assert done.code == 6
    assert f"{two.name} holds the records written as {one.name}" in done.err
    assert "swapped" not in done.err


def test_a_pair_renamed_with_their_manifests_is_caught(series: list[Path]) -> None:
    one, two = series[1], series[2]
    for path in (one, Path(f"{one}.manifest.json"), Path(f"{one}.manifest.json.sig")):
        path.rename(path.with_name(path.name.replace(one.name, "swap")))
    for path in (two, Path(f"{two}.manifest.json"), Path(f"{two}.manifest.json.sig")):
        path.rename(path.with_name(path.name.replace(two.name, one.name)))
    for path in one.parent.glob("swap*"):
        path.rename(path.with_name(path.name.replace("swap", two.name)))
    done = verify("--chain", series[0].parent)
    assert done.code == 6
    assert f"{one.name} was written as {two.name}" in done.err
    assert f"{two.name} was written as {one.name}" in done.err
    first, second = sorted((one.name, two.name))
    assert f"{first} and {second} are swapped, each with its manifest" in done.err


def test_one_file_renamed_with_its_manifest_verifies_alone_with_a_note(
    series: list[Path],
) -> None:
    first = series[0]
    moved = first.with_name("kept-" + first.name)
    first.rename(moved)
    Path(f"{first}.manifest.json").rename(Path(f"{moved}.manifest.json"))
    done = verify(moved)
    assert done.code == 0
    assert f"note: {moved.name} was written as {first.name} (renamed, with its manifest)" in (
        done.err
    )
    assert done.out.startswith(f"ok: {moved} matches its manifest")
    untouched = verify(series[1])
    assert untouched.code == 0
    assert "written as" not in untouched.err


def rewrite(export_file: Path) -> None:
    """Edit a record, then write its manifest again to match, as a forger would."""
    lines = export_file.read_text().splitlines()
    record = json.loads(lines[0])
    record["count"] += 1000
    lines[0] = json.dumps(record, separators=(",", ":"))
    export_file.write_text("\n".join(lines) + "\n")
    manifest_file = Path(f"{export_file}.manifest.json")
    manifest = json.loads(manifest_file.read_text())
    data = export_file.read_bytes()
    manifest["file"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    manifest["countTotal"] += 1000
    manifest["countByType"][record["type"]] += 1000
    manifest_file.write_text(json.dumps(manifest, indent=2) + "\n")


def test_an_edited_export_with_its_manifest_rewritten_breaks_the_next_link(
    series: list[Path],
) -> None:
    rewrite(series[2])
    assert verify(series[2]).code == 0  # alone, the forgery holds
    done = verify("--chain", series[0].parent)
    assert done.code == 6
    assert f"a link is broken after {series[2].name}: {series[3].name} names" in done.err


def test_the_newest_export_needs_the_head_anchor(series: list[Path]) -> None:
    head = sha256(Path(f"{series[-1]}.manifest.json"))
    rewrite(series[-1])
    # Nothing after the newest can show it was rewritten: only the anchor can.
    assert verify("--chain", series[0].parent).code == 0
    done = verify("--chain", series[0].parent, "--expect-head", head)
    assert done.code == 6
    assert f"the expected head {head[:12]}… is not among the manifests" in done.err


def test_a_dropped_newest_export_is_caught_by_the_head_anchor(series: list[Path]) -> None:
    head = sha256(Path(f"{series[-1]}.manifest.json"))
    remove(series[-1])
    done = verify("--chain", series[0].parent, "--expect-head", head)
    assert done.code == 6
    assert f"(the newest here is {series[3].name}" in done.err


def test_an_older_anchor_is_fine_when_newer_exports_follow(series: list[Path]) -> None:
    anchor = sha256(Path(f"{series[2]}.manifest.json"))
    done = verify("--chain", series[0].parent, "--expect-head", anchor)
    assert done.code == 0, done.err
    assert f"note: 2 newer export(s) follow the expected head ({series[2].name})" in done.err


def test_a_manifest_signed_by_a_key_not_allowed_is_caught(
    series: list[Path], keys: dict[str, Path]
) -> None:
    manifest = Path(f"{series[1]}.manifest.json")
    Path(f"{manifest}.sig").unlink()
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-Y",
            "sign",
            "-f",
            str(keys["intruder"]),
            "-n",
            "usage-audit",
            str(manifest),
        ],
        check=True,
        capture_output=True,
    )
    done = verify("--chain", series[0].parent, "--signers", keys["allowed"])
    assert done.code == 6
    assert f"{manifest} is signed by a key that {keys['allowed']} does not allow" in done.err


def test_a_signed_manifest_changed_afterwards_is_caught(
    series: list[Path], keys: dict[str, Path]
) -> None:
    manifest = Path(f"{series[0]}.manifest.json")
    manifest.write_text(manifest.read_text().replace('"pages"', '"pages" ', 1))
    done = verify(series[0], "--signers", keys["allowed"])
    assert done.code == 6
    assert f"the signature of {manifest} does not verify: the manifest was changed since" in (
        done.err
    )


def test_a_single_signed_export_names_its_signer(series: list[Path], keys: dict[str, Path]) -> None:
    done = verify(series[0], "--signers", keys["allowed"])
    assert done.code == 0, done.err
    assert done.out.endswith("; signed by ci@example.com)\n")


def test_naming_the_manifest_verifies_its_export(series: list[Path], keys: dict[str, Path]) -> None:
    manifest = Path(f"{series[0]}.manifest.json")
    done = verify(manifest, "--signers", keys["allowed"])
    assert done.code == 0, done.err
    assert done.out.startswith(f"ok: {series[0]} matches its manifest (")
    assert done.out.endswith("; signed by ci@example.com)\n")
    series[0].write_bytes(series[0].read_bytes() + b"\n")
    broken = verify(manifest)
    assert broken.code == 6
    assert f"{series[0]} does not match its manifest" in broken.err


def test_an_unsigned_manifest_fails_a_signers_check(
    server: Sandbox, tmp_path: Path, keys: Any
) -> None:
    files = daily(server, tmp_path, None, DAYS[:2])
    done = verify("--chain", *files, "--signers", keys["allowed"])
    assert done.code == 6
    assert f"{files[0]}.manifest.json is not signed" in done.err


def test_window_day_tiles_time_run_after_run(server: Sandbox, tmp_path: Path) -> None:
    files: list[Path] = []
    for day in (26, 27, 28):
        now = datetime(2026, 1, day, 6, 15, tzinfo=UTC)
        target = tmp_path / f"d{day}.csv"
        args = ["--api-url", server.url, "--token", TOKEN, "export", str(target), "--window", "day"]
        if files:
            args += ["--chain", f"{files[-1]}.manifest.json"]
        done = run_in_memory(args, now=lambda moment=now: moment)
        assert done.code == 0, done.err
        files.append(target)
    window = json.loads(Path(f"{files[0]}.manifest.json").read_text())["window"]
    assert (window["since"], window["until"]) == (
        "2026-01-25T00:00:00.000Z",
        "2026-01-25T23:59:59.999Z",
    )
    assert verify("--chain", *files).code == 0


def test_a_chained_series_of_partitioned_exports(
    server: Sandbox, tmp_path: Path, keys: dict[str, Path]
) -> None:
    first, second = tmp_path / "w1", tmp_path / "w2"
    assert (
        export(
            server,
            str(first),
            "--partition",
            "day",
            "--since",
            "2026-01-01",
            "--until",
            "2026-01-14T23:59:59.999Z",
            "--sign",
            str(keys["auditor"]),
        ).code
        == 0
    )
    done = export(
        server,
        str(second),
        "--partition",
        "day",
        "--since",
        "2026-01-15",
        "--until",
        "2026-01-28T23:59:59.999Z",
        "--chain",
        str(first.with_name(first.name + ".manifest.json")),
        "--sign",
        str(keys["auditor"]),
    )
    assert done.code == 0, done.err
    checked = verify("--chain", second, first, "--signers", keys["allowed"])
    assert checked.code == 0, checked.err
    assert "a series of 2 exports from 2026-01-01T00:00:00.000Z" in checked.out


# Bad input: one line, exit 2, before any request ------------------------------------


def refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError("a request was sent")


def bad(*args: str, **runtime: Any) -> Result:
    done = run_in_memory(
        ["--token", TOKEN, *args], transport=httpx.MockTransport(refuse), **runtime
    )
    assert done.code == 2, done.err
    assert done.err.startswith("error: ")
    return done


def test_a_chain_that_would_leave_a_gap_or_an_overlap_is_refused(series: list[Path]) -> None:
    previous = f"{series[-1]}.manifest.json"
    folder = series[0].parent
    gap = bad("export", str(folder / "next.csv"), "--since", "2026-01-31", "--chain", previous)
    assert "so this one must start at 2026-01-30T00:00:00.000Z, not at 2026-01-31" in gap.err
    assert gap.err.splitlines()[0].endswith("the series would have a gap")
    overlap = bad("export", str(folder / "next.csv"), "--since", "2026-01-29", "--chain", previous)
    assert overlap.err.splitlines()[0].endswith("the series would have an overlap")
    assert not (folder / "next.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "x.csv", "--chain", "missing.csv.manifest.json"], "--chain missing.csv"),
        (["export", "x.csv", "--chain", "notes.txt"], "--chain notes.txt: not a manifest"),
        (["export", "-", "-o", "csv", "--chain", "a.manifest.json"], "--chain needs a file"),
        (["export", "-", "-o", "csv", "--sign", "key"], "--sign needs a file target"),
        (["export", "x.csv", "--window", "week"], "--window must be one of hour, day, month"),
        (["export", "x.csv", "--window", "day", "--since", "1d"], "--window sets --since"),
        (["export", "x.csv", "--sign", "no-such-key"], "--sign no-such-key: no such key file"),
        (["export", "x.csv", "--sign", "notes.txt"], "--sign notes.txt: not a usable SSH"),
        (["export", "x.csv", "--sign", "k.pub"], "--sign k.pub: this is a public key"),
        (["verify", "a.csv", "--expect-head", "ab" * 32], "--expect-head goes with --chain"),
        (["verify", "--chain", "a.csv", "--expect-head", "xyz"], "is not a sha256"),
        (["verify", "a.csv", "--signers", "nowhere"], "--signers nowhere: no such allowed"),
        (["verify", "a.csv", "b.db", "--expect-head", "ab" * 32], "names one archive's head"),
    ],
)
def test_bad_evidence_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a key, not a manifest\n")
    (tmp_path / "k.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI k@example.com\n")
    done = bad(*args)
    assert message in done.err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["k.pub", "notes.txt"]


def test_a_key_with_a_passphrase_is_refused_when_nobody_can_type_it(
    tmp_path: Path,
) -> None:
    key = keygen(tmp_path / "locked", "locked", passphrase="secret words")
    done = bad("export", str(tmp_path / "x.csv"), "--sign", str(key))
    assert "the key has a passphrase, and this run cannot ask for it" in done.err


def test_signing_without_ssh_keygen_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: dict[str, Path]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    done = bad("export", str(tmp_path / "x.csv"), "--sign", str(keys["auditor"]))
    assert "--sign needs ssh-keygen (OpenSSH 8.2 or newer), which is not on PATH" in done.err


def test_chain_takes_the_previous_export_or_its_manifest(
    server: Sandbox, series: list[Path]
) -> None:
    following = series[0].parent / "usage-2026-01-30.jsonl"
    done = export(
        server,
        str(following),
        "--since",
        "2026-01-30",
        "--until",
        "2026-01-30T23:59:59.999Z",
        "--chain",
        str(series[-1]),
    )
    assert done.code == 0, done.err
    assert verify("--chain", series[0].parent, following).code == 0


def test_a_signature_for_another_purpose_does_not_verify(
    series: list[Path], keys: dict[str, Path]
) -> None:
    manifest = Path(f"{series[0]}.manifest.json")
    Path(f"{manifest}.sig").unlink()
    subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-f", str(keys["auditor"]), "-n", "git", str(manifest)],
        check=True,
        capture_output=True,
    )
    done = verify(series[0], "--signers", keys["allowed"])
    assert done.code == 6
    assert "or it was signed for another purpose (not the usage-audit namespace)" in done.err


def test_an_export_whose_manifest_was_deleted_is_named(series: list[Path]) -> None:
    for path in series[-1].parent.glob(f"{series[-1].name}.manifest.json*"):
        path.unlink()
    done = verify("--chain", series[0].parent)
    assert done.code == 6
    assert f"{series[-1].name} has no manifest: it cannot be proven" in done.err


def test_several_breaks_are_listed_one_a_line(series: list[Path]) -> None:
    remove(series[1])
    remove(series[3])
    done = verify("--chain", series[0].parent)
    assert done.code == 6
    listed = [line for line in done.err.splitlines() if line.startswith("  - ")]
    assert len(listed) == 4  # two broken links, two gaps
    assert done.err.splitlines()[-1] == (
        "error: the series of 3 exports does not hold: 4 problems (listed above)"
    )


# A window never claims the future ---------------------------------------------------


def test_a_window_ending_later_than_the_export_began_ends_when_it_began(
    server: Sandbox, tmp_path: Path
) -> None:
    # Today's export at 09:00, asked for the whole day: records created between 09:00
    # and midnight are in no export, so its window must not claim them.
    morning = datetime(2026, 1, 27, 9, 0, tzinfo=UTC)
    today = tmp_path / "today.jsonl"
    words = ["--api-url", server.url, "--token", TOKEN, "export", str(today)]
    done = run_in_memory(
        [*words, "--since", "2026-01-27", "--until", "2026-01-27T23:59:59.999Z"],
        now=lambda: morning,
    )
    assert done.code == 0, done.err
    assert (
        "note: --until 2026-01-27T23:59:59.999Z is later than this export began "
        "(2026-01-27T09:00:00.000Z); its manifest's window ends then"
    ) in done.err
    window = json.loads(Path(f"{today}.manifest.json").read_text())["window"]
    assert window["until"] == "2026-01-27T09:00:00.000Z"
    assert window["untilMs"] == int(morning.timestamp() * 1000)
    # Tomorrow's link, started at midnight as the job meant, would leave 09:00 to
    # midnight uncovered: it is refused, naming where it must start.
    tomorrow = tmp_path / "tomorrow.jsonl"
    refused = run_in_memory(
        [
            *words[:-1],
            str(tomorrow),
            "--since",
            "2026-01-28",
            "--until",
            "2026-01-28T23:59:59.999Z",
            "--chain",
            f"{today}.manifest.json",
        ],
    )
    assert refused.code == 2
    assert "must start at 2026-01-27T09:00:00.001Z" in refused.err
    assert "a gap" in refused.err


def test_a_window_in_the_past_is_kept_as_asked_and_says_nothing(
    server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "day.jsonl"
    done = export(
        server, str(target), "--since", "2026-01-27", "--until", "2026-01-27T23:59:59.999Z"
    )
    assert done.code == 0
    assert "is later than this export began" not in done.err
    window = json.loads(Path(f"{target}.manifest.json").read_text())["window"]
    assert window["until"] == "2026-01-27T23:59:59.999Z"


# A series must be alike --------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--bot-id", "bot_3"], "--bot-id bot_3 (was none)"),
        (["--type", "CHATBOTKIT_TASK_RUN"], "--type CHATBOTKIT_TASK_RUN (was none)"),
        (["--meta", "reason=retry"], "--meta reason=retry (was none)"),
        (["--run-as", "user_2"], "--run-as user_2 (was none)"),
    ],
)
def test_a_link_that_asks_for_other_records_is_refused_before_any_request(
    server: Sandbox, tmp_path: Path, extra: list[str], said: str
) -> None:
    first, second = daily(server, tmp_path, None, DAYS[:1])[0], tmp_path / "second.jsonl"
    server.requests.clear()
    done = export(
        server,
        str(second),
        "--since",
        DAYS[1],
        "--until",
        f"{DAYS[1]}T23:59:59.999Z",
        "--chain",
        f"{first}.manifest.json",
        *extra,
    )
    assert done.code == 2
    assert "this export would not continue that series: " + said in done.err
    assert server.requests == []
    assert not second.exists()


def test_a_link_in_another_format_or_from_another_api_is_refused(
    server: Sandbox, tmp_path: Path
) -> None:
    first = daily(server, tmp_path, None, DAYS[:1])[0]
    window = ["--since", DAYS[1], "--until", f"{DAYS[1]}T23:59:59.999Z"]
    link = ["--chain", f"{first}.manifest.json"]
    csv_link = export(server, str(tmp_path / "second.csv"), *window, *link)
    assert csv_link.code == 2
    assert "the format csv (was jsonl)" in csv_link.err
    with Sandbox(records=50, token=TOKEN) as other:
        elsewhere = export(other, str(tmp_path / "second.jsonl"), *window, *link)
    assert elsewhere.code == 2
    assert f"the API {other.url} (was {server.url})" in elsewhere.err


def test_a_series_with_an_unlike_link_fails_verify(server: Sandbox, tmp_path: Path) -> None:
    # Made as a series made before the rule would have been: the middle link was
    # exported with other filters (an edited daily job), then chained on.
    files = daily(server, tmp_path, None, DAYS[:3])
    middle = Path(f"{files[1]}.manifest.json")
    narrow = tmp_path / "narrow"
    narrow.mkdir()
    done = export(
        server,
        str(narrow / files[1].name),
        "--since",
        DAYS[1],
        "--until",
        f"{DAYS[1]}T23:59:59.999Z",
        "--bot-id",
        "bot_3",
    )
    assert done.code == 0, done.err
    for name in (files[1].name, middle.name):
        shutil.copy(narrow / name, tmp_path / name)
    # The narrow manifest has no link to the first; give it one, as --chain would.
    data = json.loads(middle.read_text())
    data["chain"] = json.loads(Path(f"{files[0]}.manifest.json").read_text()).get("chain") or {
        "previous": sha256(Path(f"{files[0]}.manifest.json")),
        "previousName": f"{files[0].name}.manifest.json",
    }
    middle.write_text(json.dumps(data, indent=2) + "\n")
    third = Path(f"{files[2]}.manifest.json")
    data = json.loads(third.read_text())
    data["chain"]["previous"] = sha256(middle)
    third.write_text(json.dumps(data, indent=2) + "\n")
    checked = verify("--chain", *files)
    assert checked.code == 6
    assert (
        f"{files[1].name} does not continue {files[0].name}'s series: --bot-id bot_3 (was none)"
        in checked.err + checked.out
    )
    assert (
        f"{files[2].name} does not continue {files[1].name}'s series: --bot-id none (was bot_3)"
        in (checked.err + checked.out)
    )


# A signed manifest is published with its signature, or not at all -------------------


def refuse_to_sign(manifest: bytes) -> str:
    raise InputError("cannot sign the manifest with key: the key was refused")


def test_a_signature_that_fails_publishes_nothing_and_the_export_waits_to_resume(
    server: Sandbox, tmp_path: Path, keys: dict[str, Path]
) -> None:
    from usage_cli.client import Client
    from usage_cli.export import plan_export
    from usage_cli.query import Query
    from usage_cli.runtime import utc_now

    target = tmp_path / "a.jsonl"
    with (
        Client(token=TOKEN, api_url=server.url) as client,
        plan_export(str(target), None, force=False, resume=False, now=utc_now) as plan,
        pytest.raises(InputError, match="the key was refused") as refused,
    ):
        plan.run(client, Query(take=50), api_root=server.url, now=utc_now, sign=refuse_to_sign)
    assert "rerun with --resume" in (refused.value.hint or "")
    # Neither the file, nor its manifest, nor a signature: nothing unsigned at the target.
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".a.jsonl.checkpoint.json",
        ".a.jsonl.partial",
    ]
    resumed = export(
        server, str(target), "--take", "50", "--resume", "--sign", str(keys["auditor"])
    )
    assert resumed.code == 0, resumed.err
    assert verify(target, "--signers", keys["allowed"]).code == 0


def test_a_signed_folder_arrives_with_its_signature_or_not_at_all(
    server: Sandbox, tmp_path: Path, keys: dict[str, Path]
) -> None:
    from usage_cli.client import Client
    from usage_cli.export._partitioned import plan_partitioned
    from usage_cli.partitions import Partition
    from usage_cli.query import Query
    from usage_cli.runtime import utc_now

    target = tmp_path / "set"
    with (
        Client(token=TOKEN, api_url=server.url) as client,
        plan_partitioned(
            str(target), Partition.day, None, force=False, resume=False, now=utc_now
        ) as plan,
        pytest.raises(InputError, match="the key was refused"),
    ):
        plan.run(client, Query(), api_root=server.url, now=utc_now, sign=refuse_to_sign)
    assert list(tmp_path.iterdir()) == []
    done = export(server, str(target), "--partition", "day", "--sign", str(keys["auditor"]))
    assert done.code == 0, done.err
    assert (tmp_path / "set.manifest.json.sig").is_file()
    assert all(p.name.startswith("part-") for p in target.rglob("*.*"))  # only parts inside
    assert verify(target, "--signers", keys["allowed"]).code == 0


# A passphrase is asked for once -------------------------------------------------------


def at_a_terminal(command: list[str], env: dict[str, str], answer: str) -> tuple[int, str, int]:
    """`command` with a pseudo-terminal as its own: each passphrase prompt is answered.
    Its exit code, what it showed, and how many prompts it made."""
    import pty
    import select

    pid, terminal = pty.fork()
    if pid == 0:  # the child: the terminal is its controlling one, as a shell's would be
        os.execve(command[0], command, env)
    shown, prompts = b"", 0
    try:
        while True:
            ready, _, _ = select.select([terminal], [], [], 60)
            assert ready, "the command stopped talking: " + shown.decode(errors="replace")
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the child ended: the terminal is closed
                break
            if not chunk:
                break
            shown += chunk
            if shown.lower().count(b"enter passphrase") > prompts:
                prompts = shown.lower().count(b"enter passphrase")
                os.write(terminal, answer.encode() + b"\n")
    finally:
        os.close(terminal)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace"), prompts


def test_a_passphrase_key_at_a_terminal_is_asked_for_once_before_any_request(
    server: Sandbox, tmp_path: Path
) -> None:
    from .conftest import subprocess_env, usage_command

    locked = keygen(tmp_path / "locked", "locked@example.com", passphrase="secret words")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"locked@example.com {(tmp_path / 'locked.pub').read_text()}")
    target = tmp_path / "day.jsonl"
    env = subprocess_env(CHATBOTKIT_API_URL=server.url, CHATBOTKIT_API_TOKEN=TOKEN)
    env.pop("SSH_AUTH_SOCK", None)
    command = [*usage_command(), "export", str(target), "--take", "50", "--sign", str(locked)]
    code, shown, prompts = at_a_terminal(command, env, "secret words")
    assert code == 0, shown
    assert prompts == 1, shown  # checked and signed with one passphrase
    assert f"signed {target.name}.manifest.json" in shown
    assert verify(target, "--signers", allowed).code == 0
    # The run's agent ended with it: no ssh-agent of ours is left.
    left = subprocess.run(["pgrep", "-f", "usage-agent-"], capture_output=True, text=True)
    assert left.stdout.strip() == ""
