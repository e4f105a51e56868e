"""Odd but valid data: lone surrogates mended (or kept, --exact), control codes never raw on a
terminal."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx

from .conftest import TOKEN, Result, run_in_memory

CUT_EMOJI = "cut \ud83d here"  # what JavaScript sends for half an emoji
ESCAPES = "\x1b]0;pwned\x07\x1b[31mred\x9b2J"  # set the title, colour, clear (C1 CSI)
BODY = (
    b'{"items":[{"id":"r1","type":"T","count":1,"createdAt":1767225600000,'
    b'"meta":{"note":"cut \\ud83d here","evil":"\\u001b]0;pwned\\u0007\\u001b[31mred\\u009b2J"},'
    b'"name":"\\ud83d"}],"cursor":"r1"}'
)
END = b'{"items":[]}'


def odd_api(request: httpx.Request) -> httpx.Response:
    body = END if request.url.params.get("cursor") else BODY
    return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})


def run(*args: str, tty: bool = False) -> Result:
    transport = httpx.MockTransport(odd_api)
    base = ["--api-url", "http://127.0.0.1:9", "--token", TOKEN]
    return run_in_memory([*base, *args], transport=transport, tty=tty)


MENDED = "cut \ufffd here"


def test_jsonl_and_json_mend_a_lone_surrogate_and_say_so() -> None:
    lines = run("list", "-o", "jsonl")
    assert lines.code == 0, lines.err
    assert "\\ud83d" not in lines.out  # what jq 1.6 and DuckDB stop at
    record: dict[str, Any] = json.loads(lines.out)
    assert record["meta"]["note"] == MENDED
    assert record["name"] == "\ufffd"
    assert record["meta"]["evil"] == ESCAPES  # valid JSON: kept, as sent
    assert "note: 2 strings held half an emoji" in lines.err
    assert "--exact" in lines.err
    array = run("list", "-o", "json")
    assert json.loads(array.out)[0] == record
    assert run("list", "-o", "jsonl", "-q").err == ""


def test_exact_keeps_a_lone_surrogate_as_sent() -> None:
    lines = run("list", "-o", "jsonl", "--exact")
    assert lines.code == 0, lines.err
    record: dict[str, Any] = json.loads(lines.out)
    assert record["meta"]["note"] == CUT_EMOJI
    assert record["name"] == "\ud83d"
    assert "half an emoji" not in lines.err
    array = run("list", "-o", "json", "--exact")
    assert json.loads(array.out)[0] == record


def test_csv_shows_a_replacement_character() -> None:
    result = run("list", "-o", "csv", "--columns", "id,name,meta.note")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert rows[0]["name"] == "\ufffd"
    assert rows[0]["meta.note"] == "cut \ufffd here"


def test_a_table_escapes_control_codes_and_replaces_surrogates() -> None:
    for tty in (False, True):
        result = run("list", "-o", "table", "--columns", "id,meta.evil,meta.note", tty=tty)
        assert result.code == 0, result.err
        assert "\x07" not in result.out
        assert "\x1b]0;pwned" not in result.out
        assert "\x9b" not in result.out
        assert "\\x1b]0;pwned\\x07" in result.out.replace("\n", "").replace("│", "")
        if not tty:
            assert "\x1b" not in result.out  # no colours off a terminal, so no ESC at all
        assert "\ufffd" in result.out


def test_summary_groups_by_an_odd_meta_value() -> None:
    table = run("summary", "--by", "meta.evil", "-o", "table", tty=True)
    assert table.code == 0, table.err
    assert "\x1b]0;pwned" not in table.out
    assert "\\x1b" in table.out
    as_json = run("summary", "--by", "meta.note", "-o", "json")
    assert json.loads(as_json.out)["groups"][0]["key"]["meta.note"] == MENDED
    as_csv = run("summary", "--by", "meta.note", "-o", "csv")
    assert "cut \ufffd here" in as_csv.out


def test_an_export_of_odd_data_is_valid_utf8_and_verifies(tmp_path: Path) -> None:
    for exact, note in ((False, MENDED), (True, CUT_EMOJI)):
        target = tmp_path / f"odd-{exact}.jsonl"
        result = run("export", str(target), *(["--exact"] if exact else []))
        assert result.code == 0, result.err
        assert ("half an emoji" in result.err) is not exact
        text = target.read_bytes().decode("utf-8")  # strict: valid UTF-8
        assert json.loads(text)["meta"]["note"] == note
        manifest = json.loads(Path(f"{target}.manifest.json").read_text())
        assert manifest["strings"] == {"exact": exact, "mended": 0 if exact else 2}
        assert run("verify", str(target)).code == 0


def test_an_error_message_from_the_api_is_shown_escaped() -> None:
    def refusing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"message": "bad \x1b[2J input", "code": "BAD_REQUEST"})

    base = ["--api-url", "http://127.0.0.1:9", "--token", TOKEN]
    result = run_in_memory([*base, "list"], transport=httpx.MockTransport(refusing))
    assert result.code == 4
    assert "\x1b" not in result.err
    assert "bad \\x1b[2J input" in result.err


def test_the_sandbox_serves_odd_data_for_rehearsal() -> None:
    from usage_cli.sandbox import Sandbox
    from usage_cli.sandbox.data import ODD_NOTES

    with Sandbox(records=60, token=TOKEN, odd_data=True) as server:
        base = ["--api-url", server.url, "--token", TOKEN, "list", "--all"]
        lines = run_in_memory([*base, "-o", "jsonl"])
        table = run_in_memory([*base, "-o", "table", "--columns", "id,meta.note"], tty=True)
    assert lines.code == 0, lines.err
    records = [json.loads(line) for line in lines.out.splitlines()]
    notes = {str((record["meta"] or {}).get("note")) for record in records}
    # Every odd value came through: as sent, but half an emoji made U+FFFD.
    assert notes >= {note.replace("\ud83d", "\ufffd") for note in ODD_NOTES}
    assert table.code == 0, table.err
    for note in ODD_NOTES:
        assert note not in table.out
    assert "\\x1b]0;title changed\\x07" in table.out.replace("\n", "").replace("│", "")


FAR = 99_999_999_999_999_999  # a createdAt beyond the year 9999


def far_future(request: httpx.Request) -> httpx.Response:
    if request.url.params.get("cursor"):
        return httpx.Response(200, content=END)
    item = {"id": "r1", "type": "T", "count": 2, "createdAt": FAR, "updatedAt": FAR}
    return httpx.Response(200, json={"items": [item], "cursor": "r1"})


def test_a_time_beyond_the_calendar_is_shown_as_its_number() -> None:
    base = ["--api-url", "http://127.0.0.1:9", "--token", TOKEN]
    for args in (["list", "-o", "table"], ["list", "-o", "csv"], ["summary", "--by", "day"]):
        result = run_in_memory([*base, *args], transport=httpx.MockTransport(far_future))
        assert result.code == 0, (args, result.err)
    table = run_in_memory([*base, "list", "-o", "table"], transport=httpx.MockTransport(far_future))
    assert str(FAR) in table.out.replace("\n", "").replace(" ", "").replace("│", "")
    summary = run_in_memory(
        [*base, "summary", "--by", "day", "-o", "json"], transport=httpx.MockTransport(far_future)
    )
    assert json.loads(summary.out)["groups"][0]["key"]["day"] == "(time out of range)"


def test_csv_and_jsonl_on_a_terminal_escape_control_codes() -> None:
    csv_screen = run("list", "-o", "csv", "--columns", "id,meta.evil", tty=True)
    assert csv_screen.code == 0, csv_screen.err
    assert not any(code in csv_screen.out for code in ("\x1b", "\x07", "\x9b"))
    assert "\\x1b]0;pwned\\x07" in csv_screen.out
    assert csv_screen.out.endswith("\r\n")  # row ends survive
    jsonl_screen = run("list", "-o", "jsonl", tty=True)
    assert not any(code in jsonl_screen.out for code in ("\x1b", "\x07", "\x9b"))
    # Still JSON, with the same values: the escapes are JSON's own.
    assert json.loads(jsonl_screen.out)["meta"]["evil"] == ESCAPES
    piped = run("list", "-o", "jsonl")  # a pipe gets the exact bytes
    assert "\x9b" in piped.out


def test_an_export_to_standard_output_says_what_it_mended() -> None:
    result = run("export", "-", "-o", "jsonl")
    assert result.code == 0, result.err
    assert json.loads(result.out)["meta"]["note"] == MENDED
    assert "note: 2 strings held half an emoji" in result.err
    exact = run("export", "-", "-o", "jsonl", "--exact")
    assert json.loads(exact.out)["meta"]["note"] == CUT_EMOJI
    assert "half an emoji" not in exact.err
