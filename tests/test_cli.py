"""The CLI in-process, against the sandbox over real HTTP."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from usage_cli import cli as cli_module
from usage_cli.cli import run
from usage_cli.cli._argv import hoist_global_options
from usage_cli.sandbox import Sandbox

from .conftest import TOKEN, Result, run_in_memory


def test_list_defaults_to_jsonl_when_not_a_terminal_and_a_screenful(
    cli: Any, server: Sandbox
) -> None:
    result: Result = cli("list")
    assert result.code == 0
    assert result.jsonl() == server.records[:20]
    assert f"--cursor {server.records[19]['id']}" in result.err


def test_continuing_from_the_printed_cursor_gives_the_next_records(
    cli: Any, server: Sandbox
) -> None:
    first = cli("list", "--limit", "7")
    cursor = first.err.split("--cursor ")[1].split()[0]
    second = cli("list", "--limit", "7", "--cursor", cursor)
    assert [r["id"] for r in first.jsonl() + second.jsonl()] == [
        r["id"] for r in server.records[:14]
    ]


def test_all_reads_every_record_and_says_nothing_more(cli: Any, server: Sandbox) -> None:
    result = cli("list", "--all", "--take", "40")
    assert result.jsonl() == server.records
    assert "more exist" not in result.err
    assert len(server.requests) == -(-len(server.records) // 40) + 1  # the last page is empty


def test_no_hint_when_the_limit_covers_everything(cli: Any, server: Sandbox) -> None:
    result = cli("list", "--type", "CHATBOTKIT_TASK_RUN", "--limit", "1000")
    assert result.code == 0
    assert result.jsonl() == [r for r in server.records if r["type"] == "CHATBOTKIT_TASK_RUN"]
    assert "more exist" not in result.err


def test_every_filter_and_meta_reaches_the_server(cli: Any, server: Sandbox) -> None:
    flags = {
        "--type": "type",
        "--conversation-id": "conversationId",
        "--message-id": "messageId",
        "--task-id": "taskId",
        "--contact-id": "contactId",
        "--blueprint-id": "blueprintId",
        "--bot-id": "botId",
        "--dataset-id": "datasetId",
        "--skillset-id": "skillsetId",
        "--ability-id": "abilityId",
    }
    args = [word for flag in flags for word in (flag, f"v-{flag}")]
    result = cli(
        "list",
        *args,
        "--meta",
        "reason=conversation/complete",
        "--meta",
        "f==x=y",
        "--order",
        "asc",
        "--take",
        "9",
    )
    assert result.code == 0
    (seen,) = server.requests
    for flag, param in flags.items():
        assert seen.param(param) == f"v-{flag}"
    assert seen.param("meta[reason]") == "conversation/complete"
    assert seen.param("meta[f]") == "=x=y"
    assert seen.param("order") == "asc"
    assert seen.param("take") == "9"


def test_meta_filter_selects_matching_records(cli: Any, server: Sandbox) -> None:
    result = cli("list", "--all", "--meta", "reason=retry", "--bot-id", "bot_1")
    expected = [
        r
        for r in server.records
        if (r["meta"] or {}).get("reason") == "retry" and r["botId"] == "bot_1"
    ]
    assert expected
    assert result.jsonl() == expected


def test_since_and_until_window(cli: Any, server: Sandbox) -> None:
    result = cli("list", "--all", "--since", "2026-01-20", "--until", "2026-01-25")
    low = 1768867200000  # 2026-01-20T00:00:00Z
    high = 1769385599999  # 2026-01-25T23:59:59.999Z
    assert result.jsonl() == [r for r in server.records if low <= r["createdAt"] <= high]
    # Descending order lets the stream stop once it passes --since.
    assert len(server.requests) < -(-len(server.records) // 100) + 1


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_each_format(cli: Any, server: Sandbox, fmt: str) -> None:
    result = cli("list", "-o", fmt, "--limit", "5")
    assert result.code == 0
    if fmt == "json":
        assert json.loads(result.out) == server.records[:5]
    elif fmt == "jsonl":
        assert result.jsonl() == server.records[:5]
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.out, newline="")))
        assert [row["id"] for row in rows] == [r["id"] for r in server.records[:5]]
        assert result.out.endswith("\r\n")
    else:
        for record in server.records[:5]:
            assert record["id"] in result.out
        assert f"{server.records[0]['count']:,}" in result.out


def test_columns_pick_csv_fields(cli: Any, server: Sandbox) -> None:
    result = cli("list", "-o", "csv", "--limit", "3", "--columns", "id,count,meta.reason")
    rows = list(csv.reader(io.StringIO(result.out, newline="")))
    assert rows[0] == ["id", "count", "meta.reason"]
    assert rows[1] == [
        server.records[0]["id"],
        str(server.records[0]["count"]),
        (server.records[0]["meta"] or {}).get("reason", ""),
    ]


BAD_INPUTS = [
    (["--meta", "novalue"], "not KEY=VALUE"),
    (["--meta", "=x"], "empty key"),
    (["--meta", "a=1", "--meta", "a=2"], "more than once"),
    (["--order", "sideways"], "--order"),
    (["--take", "0"], "--take"),
    (["--take", "-1"], "--take"),
    (["--take", "many"], "--take"),
    (["--limit", "-3"], "--limit"),
    (["--limit", "0"], "--limit"),
    (["--limit", "5", "--all"], "cannot be used together"),
    (["--since", "last tuesday"], "--since"),
    (["--until", "2026-02-30"], "--until"),
    (
        ["--since", "2026-02-01", "--until", "2026-01-01"],
        "--since (2026-02-01T00:00:00.000Z) is after --until (2026-01-01T23:59:59.999Z)",
    ),
    (["-o", "xml"], "--format"),
    (["-o", "csv", "--columns", "id,nope"], "unknown column"),
    (["-o", "jsonl", "--columns", "id"], "applies to csv and table"),
    (["--bot-id", ""], "must not be empty"),
    (["--botid", "x"], "--bot-id"),
    (["--api-url", "not a url"], "not an http"),
    (["--timeout", "0"], "--timeout"),
    (["--retries", "-1"], "--retries"),
    (["--timeout", "nan"], "--timeout must be a number of seconds above 0 and at most"),
    (["--timeout", "inf"], "--timeout must be a number of seconds above 0 and at most"),
    (["--timeout", "-1"], "not -1"),
    (["--timeout", "1e10"], "at most 86400, not 1e+10"),
    (["--since", "9999-12-31T23:59:59-01:00"], "outside the years 1 to 9999"),
    (["--until", "0001-01-01T00:00:00+01:00"], "outside the years 1 to 9999"),
    (["--since", "6M"], "'M' is ambiguous"),
    (["--since", "99999mo"], "outside the years 1 to 9999"),
    (["--cursor", "rec_1,"], "cannot be a cursor the API gave"),
    (["--order", "asc", "--order", "desc"], "--order is given 2 times (--order asc, --order desc)"),
    (["--type", "A", "--type", "B"], "--type is given 2 times"),
    (["-o", "csv", "--format=json"], "-o is given 2 times (-o csv, --format json)"),
    (["--limit", "1", "--timeout", "5", "--timeout", "6"], "--timeout is given 2 times"),
    (["--bot-id", "a", "--bot-id", ""], "has an empty id"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line_and_no_request(
    cli: Any, server: Sandbox, args: list[str], fragment: str
) -> None:
    result = cli("list", *args)
    assert result.code == 2
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert len([line for line in lines if line.startswith("error:")]) == 1
    assert server.requests == []


def test_no_token_exits_3_naming_the_variable(
    capsys: pytest.CaptureFixture[str], server: Sandbox
) -> None:
    code = run(["list", "--api-url", server.url])
    err = capsys.readouterr().err
    assert code == 3
    assert "CHATBOTKIT_API_TOKEN" in err
    assert server.requests == []


def test_wrong_token_exits_3_and_is_never_printed(
    capsys: pytest.CaptureFixture[str], server: Sandbox
) -> None:
    secret = "tok_wrong_secret_xyz"
    code = run(["list", "--api-url", server.url, "--token", secret, "--debug", "-v"])
    captured = capsys.readouterr()
    assert code == 3
    assert secret not in captured.out + captured.err
    assert "error: the API refused the token" in captured.err


def test_rejected_request_exits_4(cli: Any) -> None:
    result = cli("list", "--cursor", "rec_does_not_exist")
    assert result.code == 4
    assert "invalid cursor" in result.err


def test_unreachable_host_exits_5(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["list", "--api-url", "http://127.0.0.1:9", "--token", TOKEN, "--retries", "0"])
    err = capsys.readouterr().err
    assert code == 5
    assert err.startswith("error: cannot reach 127.0.0.1:9")
    assert "Traceback" not in err


def test_cursor_loop_exits_5(cli: Any) -> None:
    def looping(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        n = 0 if cursor is None else int(cursor[1:]) + 1
        item = {"id": f"r{n}", "type": "T", "count": 1, "createdAt": 1}
        return httpx.Response(200, json={"items": [item], "cursor": f"c{n % 3}"})

    result = cli("list", "--all", transport=httpx.MockTransport(looping))
    assert result.code == 5
    assert "a second time" in result.err
    assert len(result.jsonl()) == 4


def _raising(error: BaseException) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    return httpx.MockTransport(handler)


def test_unexpected_errors_exit_1_with_a_debug_hint(cli: Any) -> None:
    result = cli("list", transport=_raising(RuntimeError("kaput")))
    assert result.code == 1
    assert "error: unexpected internal error: RuntimeError: kaput" in result.err
    assert "--debug" in result.err
    assert "Traceback" not in result.err
    debug = cli("list", "--debug", transport=_raising(RuntimeError("kaput")))
    assert "Traceback" in debug.err


def test_interrupt_exits_130(cli: Any) -> None:
    result = cli("list", transport=_raising(KeyboardInterrupt()))
    assert result.code == 130
    assert "interrupted" in result.err


def test_global_options_work_after_the_command_name(
    capsys: pytest.CaptureFixture[str], server: Sandbox
) -> None:
    code = run(
        [
            "list",
            "--limit",
            "2",
            "--api-url",
            server.url,
            "--token=" + TOKEN,
            "-q",
            "--run-as",
            "u1",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert len(captured.out.splitlines()) == 2
    assert captured.err == ""
    assert server.requests[0].run_as == "u1"


def test_environment_configures_the_client(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], server: Sandbox
) -> None:
    monkeypatch.setenv("CHATBOTKIT_API_URL", server.url)
    monkeypatch.setenv("CBK_API_TOKEN", TOKEN)
    monkeypatch.setenv("CHATBOTKIT_API_RUNAS_USERID", "user_env")
    assert run(["list", "--limit", "1"]) == 0
    assert server.requests[0].authorized
    assert server.requests[0].run_as == "user_env"


def test_flag_beats_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], server: Sandbox
) -> None:
    monkeypatch.setenv("CHATBOTKIT_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CHATBOTKIT_API_TOKEN", "wrong")
    assert run(["list", "--limit", "1", "--api-url", server.url, "--token", TOKEN]) == 0


def test_token_stdin(server: Sandbox) -> None:
    args = ["list", "--limit", "1", "--api-url", server.url, "--token-stdin"]
    assert run_in_memory(args, stdin=TOKEN + "\n").code == 0
    assert server.requests[0].authorized


def test_demo_serves_the_sandbox_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["list", "--demo", "--all"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1000
    assert "demo:" in captured.err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    from usage_cli import __version__

    assert run(["--version"]) == 0
    # The distribution named: `usage-cli` on PyPI is another project's `usage`.
    assert capsys.readouterr().out == f"usage {__version__} (chatbotkit-usage)\n"
    assert run(["list", "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage list --demo" in out
    assert "--bot-id" in out


def test_unknown_command_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["lst"]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["list", "--token", "t", "-v"], ["--token", "t", "-v", "list"]),
        (
            ["--debug", "list", "--meta", "--debug=x", "--limit", "3"],
            ["--debug", "list", "--meta", "--debug=x", "--limit", "3"],
        ),
        (
            ["list", "--api-url=http://x", "--bot-id", "-q"],
            ["--api-url=http://x", "list", "--bot-id", "-q"],
        ),
        (["--token", "list", "list", "-vv"], ["--token", "list", "-vv", "list"]),
        (["list", "--", "--token"], ["list", "--", "--token"]),
        (["list", "--demo", "-qo", "csv"], ["-q", "list", "--demo", "-o", "csv"]),
        (["list", "-qocsv"], ["-q", "list", "-o", "csv"]),
        (["list", "-fq"], ["-q", "list", "-f"]),
        (["list", "-vo", "json"], ["-v", "list", "-o", "json"]),
        (["list", "-qx"], ["list", "-qx"]),
        (["list", "--meta", "-qo=x"], ["list", "--meta", "-qo=x"]),
        (["nope", "--token", "t"], ["nope", "--token", "t"]),
    ],
)
def test_hoisting_global_options(args: list[str], expected: list[str]) -> None:
    import typer

    group = typer.main.get_command(cli_module.app)
    assert hoist_global_options(args, group) == expected


def test_columns_in_a_pipe_default_to_csv(cli: Any, server: Sandbox) -> None:
    result = cli("list", "--limit", "2", "--columns", "id,type")
    assert result.code == 0
    assert result.out.splitlines() == ["id,type"] + [
        f"{r['id']},{r['type']}" for r in server.records[:2]
    ]


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["export"],
        ["verify"],
        ["summary"],
        ["sandbox"],
        ["config", "set"],
        ["config", "show"],
        ["config", "list"],
    ],
)
def test_every_command_has_a_purpose_grouped_options_and_examples(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    assert run([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples" in out
    assert out.count("usage ") >= 3
    assert "Global options" in out


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (["lst"], "'list'"),
        (["list", "--botid", "x"], "--bot-id"),
        (["export", "--forse", "a.csv"], "--force"),
        (["summary", "--bye", "type"], "--by"),
    ],
)
def test_near_misses_suggest_the_right_name(
    capsys: pytest.CaptureFixture[str], args: list[str], suggestion: str
) -> None:
    assert run(args) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("error: ")
    assert suggestion in first


def pasted(err: str) -> list[str]:
    """The words after `usage` of the `next:` line, as a shell reads it."""
    line = err.strip().splitlines()[-1]
    assert line.startswith("next: usage ")
    return shlex.split(line.removeprefix("next: "))[1:]


def test_the_continuation_hint_pastes_as_printed(cli: Any, server: Sandbox) -> None:
    first = cli("list", "--limit", "5")
    second = cli(*pasted(first.err))
    assert [r["id"] for r in first.jsonl() + second.jsonl()] == [
        r["id"] for r in server.records[:10]
    ]


@pytest.mark.parametrize(
    "filters",
    [
        ["--order", "asc"],
        ["--bot-id", "bot_1,bot_2", "--meta", "reason=retry"],
        ["--type", "OPENAI_GPT_4O_TOKEN", "-o", "jsonl"],
    ],
)
def test_the_continuation_keeps_the_filters_and_the_order(
    cli: Any, server: Sandbox, filters: list[str]
) -> None:
    whole = cli("list", "--all", *filters).jsonl()
    assert len(whole) >= 4
    first = cli("list", *filters, "--limit=2")
    assert first.code == 0, first.err
    second = cli(*pasted(first.err))
    assert second.code == 0, second.err
    assert first.jsonl() + second.jsonl() == whole[:4]


def test_the_continuation_never_prints_the_token_nor_the_old_cursor(server: Sandbox) -> None:
    first = run_in_memory(["--api-url", server.url, "--token=" + TOKEN, "list", "--limit", "2"])
    cursor = pasted(first.err)[-1]
    second = run_in_memory(
        ["--token", TOKEN, "--api-url", server.url, "list", "--limit", "2", "--cursor", cursor]
    )
    words = pasted(second.err)
    assert TOKEN not in second.err
    assert TOKEN not in first.err
    assert words.count("--cursor") == 1
    assert words[-2:] == ["--cursor", words[-1]]
    assert words[-1] != cursor
    assert words[:4] == ["--api-url", server.url, "list", "--limit"]
    assert "the token option is left out of the line below" in second.err
    assert run_in_memory(["list", "--demo", "--limit", "1"], env={}).err.count("token") == 0


def test_the_continuation_of_a_demo_goes_on_in_the_demo() -> None:
    first = run_in_memory(["list", "--demo", "--limit", "3"], env={})
    assert first.code == 0, first.err
    words = pasted(first.err)
    assert words[:2] == ["list", "--demo"]
    second = run_in_memory(words, env={})
    assert second.code == 0, second.err
    whole = run_in_memory(["list", "--demo", "--limit", "6"], env={})
    assert first.jsonl() + second.jsonl() == whole.jsonl()


def test_an_old_until_reads_full_pages_then_continues_exactly(cli: Any, server: Sandbox) -> None:
    oldest = sorted(r["createdAt"] for r in server.records)[30]
    until = datetime.fromtimestamp(oldest / 1000, UTC).isoformat()
    first = cli("list", "--until", until, "--limit", "20")
    assert first.code == 0, first.err
    in_window = [r for r in server.records if r["createdAt"] <= oldest]
    assert first.jsonl() == in_window[:20]
    # 250 records at 100 a page: the window is reached in 3 requests, not one per 20.
    assert len(server.requests) <= 4
    second = cli(*pasted(first.err))
    assert second.jsonl() == in_window[20:40]


def test_a_repeated_relation_flag_is_the_apis_comma_list(cli: Any, server: Sandbox) -> None:
    result = cli("list", "--all", "--bot-id", "bot_1", "--bot-id", "bot_2")
    assert result.code == 0, result.err
    assert server.requests[0].param("botId") == "bot_1,bot_2"
    assert result.jsonl() == [r for r in server.records if r["botId"] in ("bot_1", "bot_2")]


@pytest.mark.parametrize(
    ("env", "args", "stdin", "source"),
    [
        ({"CBK_API_TOKEN": "wrong"}, [], "", "the token came from environment CBK_API_TOKEN"),
        ({}, ["--token", "wrong"], "", "the token came from --token"),
        ({}, ["--token-stdin"], "wrong\n", "the token came from --token-stdin"),
    ],
)
def test_a_refused_token_names_where_it_came_from(
    server: Sandbox, env: dict[str, str], args: list[str], stdin: str, source: str
) -> None:
    environment = dict(os.environ, **env)
    result = run_in_memory(["--api-url", server.url, *args, "list"], env=environment, stdin=stdin)
    assert result.code == 3
    hint = result.err.splitlines()[1]
    assert hint.startswith(f"hint: {source}; check it")
    assert "wrong" not in result.err


def test_an_odd_cursor_from_the_api_is_followed_and_printed_quoted(cli: Any) -> None:
    def api(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("cursor")
        n = 1 if after is None else 2
        item = {"id": f"r{n}", "type": "T", "count": 1, "createdAt": 1}
        return httpx.Response(200, json={"items": [item], "cursor": f"odd cursor {n},"})

    result = cli("list", "--limit", "1", transport=httpx.MockTransport(api))
    assert result.code == 0, result.err
    assert result.err.strip().endswith(" list --limit 1 --cursor 'odd cursor 1,'")


def test_the_continuation_is_a_line_of_its_own_at_any_width(cli: Any) -> None:
    for width in (60, 80, 140):
        result = cli("list", "--limit", "3", "--no-color", tty=True, width=width)
        assert result.code == 0, result.err
        lines = result.err.splitlines()
        # The note wraps between words; the command is never broken, whatever its length.
        assert all(len(line) <= width for line in lines[:-1]), result.err
        assert re.fullmatch(r"next: usage .* list --limit 3 --no-color --cursor \S+", lines[-1])


@pytest.mark.parametrize("form", ["--token {}", "--token={}"])
def test_a_repeated_token_is_refused_without_echoing_it(form: str) -> None:
    secrets = ["sk_live_SECRET1", "sk_live_SECRET2"]
    words = [word for secret in secrets for word in form.format(secret).split()]
    result = run_in_memory(["list", *words])
    assert result.code == 2
    assert (
        result.err.splitlines()[0] == "error: --token is given 2 times (--token ***, --token ***)"
    )
    assert not any(secret in result.err for secret in secrets)


@pytest.mark.parametrize("flag", ["--token", "--api-url", "--timeout", "--tz"])
def test_a_global_option_left_without_its_value_says_so(flag: str) -> None:
    result = run_in_memory(["list", flag])
    assert result.code == 2
    assert result.err.splitlines()[0] == f"error: {flag} needs a value"


@pytest.mark.parametrize(
    "given", [["--api-url", "http://127.0.0.1:9"], ["--token", "tok_x"], []], ids=str
)
def test_demo_says_it_does_not_use_a_given_api_url_or_token(given: list[str]) -> None:
    result = run_in_memory(["list", "--demo", "--limit", "1", *given], env={})
    assert result.code == 0, result.err
    said = "(--api-url and the token are not used)" in result.err
    assert said == bool(given)


def test_a_wrong_case_type_that_matches_nothing_gets_a_hint(cli: Any) -> None:
    result = cli("list", "--type", "openai_gpt_4o_token")
    assert result.code == 0, result.err
    assert result.out == ""
    assert "no records match; usage types are upper case: --type OPENAI_GPT_4O_TOKEN?" in result.err
    right = cli("list", "--type", "NOPE_TYPE")
    assert right.err.strip() == "no records match"


def test_o_wide_is_the_table_with_every_column(cli: Any) -> None:
    wide = cli("list", "--limit", "2", "-o", "wide", "--no-color", tty=True, width=60)
    table = cli("list", "--limit", "2", "--wide", "--no-color", tty=True, width=60)
    assert wide.code == 0, wide.err
    assert wide.out == table.out
    assert "meta" in wide.out.splitlines()[1]  # boxed, every column, however narrow


def test_no_headers_leaves_out_the_header_of_csv_and_table(cli: Any, server: Sandbox) -> None:
    rows = cli("list", "--limit", "2", "-o", "csv", "--columns", "id,count", "--no-headers")
    assert rows.out.splitlines() == [f"{r['id']},{r['count']}" for r in server.records[:2]]
    table = cli("list", "--limit", "2", "--no-headers", "--no-color", tty=True, width=200)
    assert "createdAt" not in table.out
    assert server.records[0]["id"] in table.out


@pytest.mark.parametrize("args", [["-o", "jsonl"], ["-o", "json"], ["--follow"]])
def test_no_headers_is_refused_where_there_is_no_header(
    cli: Any, server: Sandbox, args: list[str]
) -> None:
    result = cli("list", "--no-headers", *args)
    assert result.code == 2
    assert result.err.startswith("error: --no-headers applies to csv and table output")
    assert server.requests == []


@pytest.mark.parametrize(
    ("word", "said"),
    [
        ("--bot", "No such option: --bot (did you mean '--bot-id'?)"),
        ("--demoo", "No such option: --demoo (did you mean '--demo'?)"),
        ("--zzz", "No such option: --zzz"),
    ],
)
def test_an_unknown_option_names_the_one_meant_in_the_tools_voice(word: str, said: str) -> None:
    result = run_in_memory(["list", word, "x"])
    assert result.code == 2
    assert result.err.splitlines()[0] == f"error: {said}"


@pytest.mark.parametrize(
    ("args", "meant"),
    [
        (["list", "--bot-ld", "x"], "--bot-id"),
        (["list", "--formt", "json"], "--format"),
        (["list", "--metta", "a=b"], "--meta"),
        (["list", "--cloumns", "id"], "--columns"),
        (["list", "--conversaton-di", "c"], "--conversation-id"),
        (["list", "--verbos"], "--verbose"),  # a global option, after the command
        (["summary", "--topp", "3"], "--top"),
        (["summary", "--untill", "1d"], "--until"),
        (["export", "out.csv", "--froce"], "--force"),
        (["verify", "x.csv", "--chian"], "--chain"),
        (["config", "set", "--profle", "p"], "--profile"),
    ],
)
def test_a_plausible_typo_of_an_option_is_named(args: list[str], meant: str) -> None:
    result = run_in_memory(args)
    assert result.code == 2
    typed = next(word for word in args if word.startswith("--"))
    error = f"error: No such option: {typed} (did you mean {meant!r}?)"
    assert result.err.splitlines()[0] == error


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--bogus"],
        ["list", "--db-x"],
        ["list", "--a"],
        ["summary", "--bogus"],
        ["export", "out.csv", "--bogus"],
        ["verify", "x.csv", "--token-file", "t"],
        ["config", "set", "--bogus"],
        ["list", "--tx", "UTC"],
    ],
)
def test_an_unrelated_word_gets_no_suggestion(args: list[str]) -> None:
    result = run_in_memory(args)
    assert result.code == 2
    typed = next(word for word in args if word.startswith("--"))
    assert result.err.splitlines()[0] == f"error: No such option: {typed}"


@pytest.mark.parametrize(
    ("args", "meant"),
    [
        (["list", "--by", "type"], "usage summary --by"),
        (["verify", "x.csv", "--by", "type"], "usage summary --by"),
        (["summary", "--follow"], "usage list --follow"),
        (["list", "--partition", "day"], "usage export --partition"),
        (["summary", "--signers", "f"], "usage verify --signers"),
        # export's own --streams is hidden (kept for old scripts): sync's is the one.
        (["list", "--streams", "2"], "usage sync --streams"),
    ],
)
def test_an_option_of_another_command_is_named_where_it_lives(args: list[str], meant: str) -> None:
    result = run_in_memory(args)
    assert result.code == 2
    typed = next(word for word in args if word.startswith("--"))
    error = f"error: No such option: {typed} (did you mean {meant!r}?)"
    assert result.err.splitlines()[0] == error
    assert result.err.splitlines()[1] == f"hint: try 'usage {args[0]} --help'"


def test_a_typo_of_this_commands_option_wins_over_another_commands_option() -> None:
    # `--cost` is summary's own, so `--costs` is its typo, not report's or export's word.
    result = run_in_memory(["summary", "--costs"])
    assert result.err.splitlines()[0] == "error: No such option: --costs (did you mean '--cost'?)"


def test_usage_help_lists_commands_in_order_whole() -> None:
    from usage_cli.cli._typer_internals import COMMAND_ORDER

    result = run_in_memory(["--help"], width=80)
    lines = result.out.splitlines()
    start = lines.index("Commands:") + 1
    listed = lines[start : start + len(COMMAND_ORDER)]
    assert [line.split()[0] for line in listed] == list(COMMAND_ORDER)
    assert not any(line.endswith("...") for line in listed)
    assert all(len(line) <= 80 for line in listed)


@pytest.mark.parametrize("suffix", ["/v1", "/v1/", "/api/v2/v1"])
def test_a_404_under_an_api_url_ending_in_v1_hints_at_the_root(
    server: Sandbox, suffix: str
) -> None:
    result = run_in_memory(["--api-url", server.url + suffix, "--token", TOKEN, "list"])
    assert result.code == 4
    error, hint = result.err.splitlines()[:2]
    assert "HTTP 404" in error
    assert hint.startswith(f"hint: --api-url is the API's root, without {suffix.rstrip('/')}")
    assert hint.endswith(f"e.g. {server.url}")


# `usage --help` and bare `usage` print generated text (usage_cli/_outline.py) without
# importing Typer: it must be what Typer draws, byte for byte, at every width.
OUTLINE_COLUMNS = [40, 52, 60, 79, 80, 140]


def test_the_generated_outline_is_current() -> None:
    from pathlib import Path

    from usage_cli.cli import outline

    committed = Path(outline.__file__).parent.parent / "_outline.py"
    assert committed.read_text(encoding="utf-8") == outline.module(), (
        "run: python -m usage_cli.cli.outline usage_cli/_outline.py"
    )


@pytest.mark.parametrize("columns", OUTLINE_COLUMNS)
def test_the_outline_is_what_typer_draws(columns: int) -> None:
    from usage_cli._outline import help_text
    from usage_cli.cli.outline import drawn

    assert drawn(["--help"], columns) == (0, help_text(columns), "")
    assert drawn(["-h"], columns) == (0, help_text(columns), "")
    # Bare `usage` is help as an error: on stderr, exit 2.
    assert drawn([], columns) == (2, "", help_text(columns))


@pytest.mark.parametrize("columns", [60, 80, 140])
@pytest.mark.parametrize("args", [["--help"], ["-h"], []])
def test_the_installed_usage_prints_the_outline_typer_would(columns: int, args: list[str]) -> None:
    import subprocess

    from usage_cli.cli.outline import drawn

    from .conftest import subprocess_env, usage_command

    env = subprocess_env(COLUMNS=str(columns))
    done = subprocess.run([*usage_command(), *args], capture_output=True, env=env, timeout=60)
    code, out, err = drawn(args, columns)
    assert (done.returncode, done.stdout, done.stderr) == (code, out.encode(), err.encode())


@pytest.mark.parametrize(
    "env",
    [
        {"CLICOLOR_FORCE": "1"},
        {"CLICOLOR_FORCE": "1", "NO_COLOR": "1"},
        {"CLICOLOR_FORCE": "1", "TERM": "dumb"},
        {"NO_COLOR": ""},
    ],
)
def test_bare_usage_is_dimmed_as_typers_run_dims_it(env: dict[str, str]) -> None:
    import subprocess

    from usage_cli.cli.outline import drawn

    from .conftest import subprocess_env, usage_command

    base = {k: v for k, v in subprocess_env().items() if k not in ("NO_COLOR", "TERM")}
    base |= {"COLUMNS": "80", "CLICOLOR_FORCE": "0"}
    done = subprocess.run(usage_command(), capture_output=True, env={**base, **env}, timeout=60)
    code, _, err = drawn([], 80, env={**base, **env})
    assert (done.returncode, done.stderr) == (code, err.encode())
    assert (b"\x1b[2m" in done.stderr) == ("NO_COLOR" not in env and "TERM" not in env)


def test_usage_help_lists_every_command_without_cutting_its_help() -> None:
    """Each command's short help fits whole: Typer cuts a long one with '...'."""
    from .conftest import run_in_memory

    for width in (60, 80, 140):
        shown = run_in_memory(["--help"], width=width).out
        commands = shown.split("Commands:")[1].split("Examples:")[0]
        assert "..." not in commands, (width, commands)


def test_the_continuation_pins_a_relative_window_to_the_moments_it_meant(
    cli: Any, server: Sandbox
) -> None:
    first = cli("list", "--since", "3000d", "--until=1h", "--limit", "2")
    assert first.code == 0, first.err
    words = pasted(first.err)
    since = words[words.index("--since") + 1]
    until = words[words.index("--until") + 1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", since)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", until)
    assert "3000d" not in words
    assert "--until=1h" not in words
    second = cli(*words)
    assert second.code == 0, second.err
