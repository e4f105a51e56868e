"""The terminal at any width: tables that fit, time zones, colour, flag clusters, progress."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from usage_cli.cli import run
from usage_cli.cli._progress import Window
from usage_cli.runtime import Runtime, written

from .conftest import TOKEN, Result

BASE = ["--api-url", "http://127.0.0.1:9", "--token", TOKEN]
# 2026-01-10 23:30:00 UTC and friends: fixed, so every layout below is exact.
T0 = 1_768_087_800_000
RECORDS: list[dict[str, Any]] = [
    {
        "id": "rec_0001",
        "type": "ANTHROPIC_CLAUDE_SONNET_4_TOKEN",
        "count": 1_234_567,
        "botId": "bot_support",
        "meta": {"reason": "conversation/complete"},
        "createdAt": T0,
    },
    {
        "id": "rec_0002",
        "type": "OPENAI_GPT_4O_TOKEN",
        "count": 8_900,
        "botId": "bot_sales",
        "meta": {"reason": "task/run", "note": True},
        "createdAt": T0 - 3_600_000,
    },
    {
        "id": "rec_0003",
        "type": "CHATBOTKIT_TASK_RUN",
        "count": 1,
        "meta": {"reason": "retry"},
        "createdAt": T0 - 86_400_000,
    },
]


def serve(requests: list[httpx.Request] | None = None) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        if requests is not None:
            requests.append(request)
        return httpx.Response(200, json={"items": RECORDS})

    return httpx.MockTransport(answer)


def usage(*args: str, **runtime: Any) -> Result:
    memory = Runtime.memory(transport=serve(), **runtime)
    code = run([*BASE, *args], runtime=memory)
    return Result(code, written(memory.stdout), written(memory.stderr))


def screen(*args: str, width: int) -> str:
    result = usage(*args, "--no-color", tty=True, width=width)
    assert result.code == 0, result.err
    assert "\x1b" not in result.out
    return "\n".join(line.rstrip() for line in result.out.splitlines())


# Exact screens (`--no-color`, trailing blanks stripped: rich pads cells to width),
# one file per command and width; wider than a source line may be.
SCREENS = Path(__file__).parent / "screens"
LAYOUTS = {
    (command, width): (SCREENS / f"{command}-{width}.txt").read_text(encoding="utf-8")
    for command in ("list", "summary")
    for width in (60, 80, 120, 200)
}


@pytest.mark.parametrize(("command", "width"), sorted(LAYOUTS))
def test_tables_fit_the_terminal_with_key_columns_whole(command: str, width: int) -> None:
    shown = screen(command, width=width)
    assert shown + "\n" == LAYOUTS[command, width]
    for record in RECORDS:  # every id and every number whole, one line per record
        # Below 80 columns a list cuts a long type in the middle, never its id.
        name = record["id"] if command == "list" and width < 80 else record["type"]
        line = next(line for line in shown.splitlines() if name in line)
        assert f"{record['count']:,}" in line


def test_wide_keeps_the_natural_width_on_a_narrow_terminal() -> None:
    wide = screen("list", "--wide", width=60)
    assert wide + "\n" == LAYOUTS["list", 200]
    assert "hidden" not in wide


def test_a_pipe_keeps_the_natural_width_and_no_note() -> None:
    piped = usage("list", "-o", "table", width=60)
    assert piped.out.splitlines()[0].startswith("┏")
    assert "hidden" not in piped.out + piped.err


def test_quiet_leaves_out_the_hidden_columns_note() -> None:
    assert "hidden" not in screen("list", "-q", width=60)


@pytest.mark.parametrize(
    ("flags", "env"),
    [
        (["--no-color"], {}),
        ([], {"NO_COLOR": "1"}),
        ([], {"NO_COLOR": "anything"}),
        ([], {"TERM": "dumb"}),
    ],
)
def test_no_color_term_dumb_and_the_flag_give_plain_tables(
    flags: list[str], env: dict[str, str]
) -> None:
    for command in ("list", "summary"):
        result = usage(*flags, command, tty=True, width=200, env={"TERM": "xterm", **env})
        assert result.code == 0, result.err
        assert "\x1b" not in result.out
    coloured = usage("list", tty=True, width=200, env={"TERM": "xterm"})
    assert "\x1b[" in coloured.out  # and without any of them, a terminal gets styles


COLOUR = {"TERM": "xterm"}


def test_errors_and_warnings_in_colour_notes_dimmed_on_a_terminal() -> None:
    failed = usage("list", "--limit", "0", tty=True, env=COLOUR)
    assert failed.code == 2
    assert failed.err.startswith("\x1b[31merror:\x1b[0m ")
    assert "\nhint: " in failed.err  # a hint is read, not dimmed
    listed = usage("list", "--limit", "1", tty=True, width=200, env=COLOUR)
    assert listed.err.startswith("\x1b[2mshowing the first record")
    breached = usage(
        "check",
        "--since",
        "2026-01-01",
        "--max-records",
        "1",
        "-o",
        "table",
        tty=True,
        width=200,
        env=COLOUR,
    )
    assert breached.code == 7
    assert "\x1b[1;31mbreach" in breached.out  # gh's red for a breach
    ok = usage(
        "check",
        "--since",
        "2026-01-01",
        "--max-records",
        "1000",
        "-o",
        "table",
        tty=True,
        width=200,
        env=COLOUR,
    )
    assert "\x1b[32mok" in ok.out


@pytest.mark.parametrize(("flags", "env"), [(["--no-color"], {}), ([], {"NO_COLOR": "1"})])
def test_no_color_leaves_stderr_plain_too(flags: list[str], env: dict[str, str]) -> None:
    for args in (
        ["list", "--limit", "0"],
        ["list", "--limit", "1"],
        ["check", "--since", "2026-01-01", "--max-records", "1"],
    ):
        result = usage(*flags, *args, tty=True, width=200, env={**COLOUR, **env})
        assert "\x1b" not in result.out + result.err, args


def test_clicolor_force_keeps_colour_in_a_pipe() -> None:
    piped = usage("list", "-o", "table", env={**COLOUR, "CLICOLOR_FORCE": "1"})
    assert "\x1b[" in piped.out
    assert "\x1b[" not in usage("list", "-o", "table", env=COLOUR).out
    plain = usage("list", "-o", "table", env={"CLICOLOR_FORCE": "1", "NO_COLOR": "1"})
    assert "\x1b[" not in plain.out  # NO_COLOR wins


def test_an_empty_no_color_is_no_request_for_plain_output() -> None:
    result = usage("list", tty=True, width=200, env={"TERM": "xterm", "NO_COLOR": ""})
    assert "\x1b[" in result.out


@pytest.mark.parametrize("flag", ["--no-color=yes", "--wide=1"])
def test_flags_refuse_a_value(flag: str) -> None:
    args = ["list", flag] if flag.startswith("--wide") else [flag, "list"]
    result = usage(*args)
    assert result.code == 2
    assert "does not take a value" in result.err


@pytest.mark.parametrize("cluster", ["-qv", "-vq", "-vvq"])
def test_clusters_of_global_flags_after_the_command_name(cluster: str) -> None:
    result = usage("list", "-o", "jsonl", cluster)
    assert result.code == 0, result.err
    assert [record["id"] for record in result.jsonl()] == [r["id"] for r in RECORDS]
    assert "No such option" not in result.err


def test_a_cluster_of_global_and_command_letters_is_split_between_them() -> None:
    # `-qo jsonl`: -q is global (quiet), -o the command's, with its value after.
    result = usage("list", "-qo", "jsonl", tty=True)
    assert result.code == 0, result.err
    assert [json.loads(line)["id"] for line in result.out.splitlines()] == [
        record["id"] for record in RECORDS
    ]
    assert result.err == ""  # quiet: not even the "more exist" line


# --- time zones -----------------------------------------------------------------------


def test_tz_moves_day_buckets_as_a_hand_computation_says() -> None:
    # By hand: 23:30 and 22:30 UTC on 10 January are 00:30 and 23:30 in Berlin
    # (UTC+1 in winter), so the first moves to 11 January; 23:30 UTC on 9 January
    # is 00:30 on the 10th. In UTC: two on the 10th, one on the 9th.
    utc = json.loads(usage("summary", "--by", "day", "-o", "json").out)
    berlin = json.loads(usage("--tz", "Europe/Berlin", "summary", "--by", "day", "-o", "json").out)
    days = {g["key"]["day"]: g["records"] for g in utc["groups"]}
    assert days == {"2026-01-10": 2, "2026-01-09": 1}
    days = {g["key"]["day"]: g["records"] for g in berlin["groups"]}
    assert days == {"2026-01-11": 1, "2026-01-10": 2}
    # New York is UTC-5: 23:30 and 22:30 UTC stay on the 10th (18:30, 17:30).
    york = json.loads(usage("summary", "--by", "day", "-o", "json", "--tz", "America/New_York").out)
    assert {g["key"]["day"]: g["records"] for g in york["groups"]} == {
        "2026-01-10": 2,
        "2026-01-09": 1,
    }
    # Times of the groups stay UTC in JSON: the contract's epoch-ms/UTC rule.
    assert berlin["total"]["lastCreatedAt"] == "2026-01-10T23:30:00.000Z"


def test_tz_hour_buckets_carry_their_offset() -> None:
    result = usage("summary", "--by", "hour", "-o", "json", "--tz", "Europe/Berlin")
    hours = sorted(g["key"]["hour"] for g in json.loads(result.out)["groups"])
    assert hours == ["2026-01-10T00:00+01:00", "2026-01-10T23:00+01:00", "2026-01-11T00:00+01:00"]
    utc = usage("summary", "--by", "hour", "-o", "json")
    assert "2026-01-10T23:00Z" in utc.out


def test_tz_shows_table_times_in_the_zone_and_says_which() -> None:
    shown = screen("--tz", "Asia/Tokyo", "list", width=200)
    assert "createdAt (Asia/Tokyo)" in shown
    assert "2026-01-11 08:30:00" in shown  # 23:30 UTC + 9 h
    summary = screen("summary", "--tz", "asia/tokyo", width=200)
    assert "first (Asia/Tokyo)" in summary


def test_tz_local_follows_tz_of_the_environment() -> None:
    result = usage(
        "list", "--tz", "local", "--no-color", tty=True, width=200, env={"TZ": "Asia/Kolkata"}
    )
    assert "createdAt (Asia/Kolkata)" in result.out
    assert "2026-01-11 05:00:00" in result.out


def _served(records: list[dict[str, Any]]) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json={"items": records}))


def test_the_repeated_hour_of_a_fall_back_is_shown_twice_distinctly() -> None:
    # 2026-11-01, New York: 05:30Z is 01:30 EDT; 06:10Z is 01:10 EST, the hour again;
    # 07:30Z is 02:30 EST, after it.
    moments = (1_793_511_000_000, 1_793_513_400_000, 1_793_518_200_000)
    records = [{**RECORDS[1], "id": f"rec_{n}", "createdAt": at} for n, at in enumerate(moments)]
    memory = Runtime.memory(transport=_served(records), tty=True, width=140)
    code = run([*BASE, "--no-color", "list", "--tz", "America/New_York"], runtime=memory)
    out = written(memory.stdout)
    assert code == 0, written(memory.stderr)
    assert "2026-11-01 01:30:00 EDT" in out
    assert "2026-11-01 01:10:00 EST" in out
    assert "2026-11-01 02:30:00 " in out
    assert "02:30:00 EST" not in out  # no longer ambiguous


@pytest.mark.parametrize("width", [60, 80, 140])
def test_a_long_zone_name_gives_way_to_its_abbreviation(width: int) -> None:
    # Ids as long as the API's: at 80 columns the zone's name no longer fits.
    records = [{**r, "id": r["id"] + "0123456789ab"} for r in RECORDS]
    memory = Runtime.memory(transport=_served(records), tty=True, width=width)
    code = run([*BASE, "--no-color", "list", "--tz", "America/New_York"], runtime=memory)
    assert code == 0, written(memory.stderr)
    shown = written(memory.stdout)
    lines = [line.rstrip() for line in shown.splitlines()]
    assert all(len(line) <= width for line in lines), shown
    if width == 140:  # room for the name
        assert "createdAt (America/New_York)" in shown
    else:  # its abbreviation; narrower still, the time is shortened, the zone beneath
        assert "America/New_York" not in shown
        assert lines[0].startswith("createdAt (EST) ") or lines[1].startswith("(EST) ")
    for record in records:
        assert record["id"] in shown


def test_below_80_columns_the_times_of_today_show_only_the_time() -> None:
    evening = datetime(2026, 1, 10, 23, 59, tzinfo=UTC)
    records = [{**r, "id": r["id"] + "0123456789ab"} for r in RECORDS[:2]]
    memory = Runtime.memory(transport=_served(records), tty=True, width=60, now=lambda: evening)
    assert run([*BASE, "--no-color", "list"], runtime=memory) == 0
    rows = {line.split()[1]: line for line in written(memory.stdout).splitlines()[3:5]}
    assert rows["rec_00010123456789ab"].startswith("23:30:00  rec_00010123456789ab ANTHROPIC…")
    assert "…" in rows["rec_00010123456789ab"]
    assert rows["rec_00020123456789ab"].startswith("22:30:00  rec_00020123456789ab OPENAI_GPT")


def test_csv_keeps_utc_unless_tz_is_given() -> None:
    plain = usage("list", "-o", "csv", "--columns", "id,createdAt")
    assert "rec_0001,2026-01-10T23:30:00.000Z" in plain.out
    zoned = usage("list", "-o", "csv", "--columns", "id,createdAt", "--tz", "Europe/Berlin")
    assert "rec_0001,2026-01-11T00:30:00.000+01:00" in zoned.out
    jsonl = usage("list", "-o", "jsonl", "--tz", "Europe/Berlin")
    assert jsonl.jsonl()[0]["createdAt"] == T0  # JSON keeps epoch ms whatever the zone


def test_tz_from_the_profile_shows_in_tables_but_leaves_csv_utc(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    env = {"USAGE_CONFIG": str(config)}
    assert usage("config", "set", "tz", "europe/berlin", env=env).code == 0
    assert 'tz = "Europe/Berlin"' in config.read_text()
    table = usage("list", "--no-color", tty=True, width=200, env=env)
    assert "createdAt (Europe/Berlin)" in table.out
    csv = usage("list", "-o", "csv", "--columns", "createdAt", env=env)
    assert "2026-01-10T23:30:00.000Z" in csv.out


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (["--tz", "Europe/Berln", "list"], "did you mean 'Europe/Berlin'?"),
        (["list", "--tz", "Amerika/New_York"], "did you mean 'America/New_York'?"),
        (["summary", "--tz", "Mars/Olympus", "--by", "day"], ""),
        (["list", "--tz", ""], ""),
    ],
)
def test_an_unknown_zone_is_exit_2_before_any_request(args: list[str], suggestion: str) -> None:
    requests: list[httpx.Request] = []
    memory = Runtime.memory(transport=serve(requests))
    code = run([*BASE, *args], runtime=memory)
    err = written(memory.stderr)
    assert code == 2, err
    assert "--tz" in err
    assert suggestion in err
    assert requests == []


def test_a_bad_zone_in_the_profile_is_refused_and_named(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profiles.default]\ntz = "Nowhere/City"\n')
    config.chmod(0o600)
    result = usage("list", env={"USAGE_CONFIG": str(config)})
    assert result.code == 2
    assert "from profile 'default'" in result.err
    refused = usage("config", "set", "tz", "Nowhere/City", env={"USAGE_CONFIG": str(config)})
    assert refused.code == 2


# --- export progress ------------------------------------------------------------------


def test_the_window_covered_follows_the_order() -> None:
    window = Window(since=1_000, until=2_000)
    assert window.covered(oldest=1_750, newest=2_000) == 0.25  # newest first: walks back
    assert window.covered(oldest=None, newest=None) is None
    assert window.covered(oldest=500, newest=2_000) == 1.0
    ascending = Window(since=1_000, until=2_000, ascending=True)
    assert ascending.covered(oldest=1_000, newest=1_600) == 0.6


def test_plain_export_progress_shows_the_window_covered(tmp_path: Path) -> None:
    pages = iter(
        [
            {"items": RECORDS[:1], "cursor": "c1"},
            {"items": RECORDS[1:2], "cursor": "c2"},
            {"items": RECORDS[2:], "cursor": None},
        ]
    )
    clock = itertools.count(0.0, 5.0)
    memory = dataclasses.replace(
        Runtime.memory(
            transport=httpx.MockTransport(lambda request: httpx.Response(200, json=next(pages))),
            tty=True,
            env={"NO_COLOR": "1", "TERM": "xterm"},
        ),
        monotonic=lambda: next(clock),
    )
    target = tmp_path / "a.jsonl"
    # The window: 2026-01-09 23:30 to 2026-01-10 23:30 UTC, one day.
    code = run(
        [
            *BASE,
            "export",
            str(target),
            "--since",
            "2026-01-09T23:30:00Z",
            "--until",
            "2026-01-10T23:30:00Z",
        ],
        runtime=memory,
    )
    err = written(memory.stderr)
    assert code == 0, err
    assert "\x1b" not in err
    lines = [line for line in err.splitlines() if line.startswith("exporting:")]
    # By hand: after rec_0001 (at the end) 0%, rec_0002 (1 h back) 4%, rec_0003 (the start) 100%.
    assert lines == [
        "exporting: 1 records, 1 pages, 0% of the window",
        "exporting: 2 records, 2 pages, 4% of the window",
        "exporting: 3 records, 3 pages, 100% of the window",
    ]


def test_columns_the_user_named_are_narrowed_never_dropped() -> None:
    chosen = "createdAt,id,type,count,meta.reason,botId"
    result = usage("list", "--columns", chosen, "--no-color", tty=True, width=80)
    assert result.code == 0, result.err
    # The time shortened (its zone on a second header line) before anything is dropped.
    header = " ".join(result.out.splitlines()[:2])
    assert "meta.re" in header  # narrowed with an ellipsis if need be, but there
    assert "bot" in header
    assert "hidden:" not in result.out + result.err


def test_a_line_break_in_a_value_stays_on_its_row() -> None:
    RECORDS[0]["meta"]["note"] = "line one\nline two"
    try:
        result = usage("list", "--columns", "id,meta.note", "--no-color", tty=True, width=120)
    finally:
        del RECORDS[0]["meta"]["note"]
    assert result.code == 0, result.err
    assert "line one\\nline two" in result.out
    assert not any(line.strip().startswith("line two") for line in result.out.splitlines())


def test_named_columns_still_narrow_when_the_key_columns_alone_overflow() -> None:
    from usage_cli.formats.table import Column, fit

    columns = [
        Column("a", ["x" * 40], key=True),
        Column("b", ["y" * 40], key=True),
        Column("c", ["z" * 30], narrows=True, droppable=False),
    ]
    layout = fit(columns, 60)
    assert layout.widths[:2] == [40, 40]
    assert layout.widths[2] is not None
    assert layout.widths[2] < 30
