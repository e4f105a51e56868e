"""`usage report`: its refusals, the page's structure and figures, Markdown's Mermaid block.

What a browser makes of the page (layout, pixels, scripting off) is
test_report_browser's; here the HTML is read as text, with `html.parser`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from usage_cli.check import parse_spike
from usage_cli.compare import Window
from usage_cli.prices import load
from usage_cli.records import UsageRecord
from usage_cli.reports import html, markdown
from usage_cli.reports.page import Evidence, Inputs, build, labels, unit_for
from usage_cli.sandbox import Sandbox
from usage_cli.summary import Summary

from .conftest import TOKEN, run_in_memory

# The shared sandbox's records lie in the 30 days before 2026-01-31 (conftest.ANCHOR).
WINDOW = ("--since", "2026-01-01", "--until", "2026-01-30")
EPOCH = {"SOURCE_DATE_EPOCH": "1767225600"}


class Page(HTMLParser):
    """The parts of a report page the tests read: every tag with its attributes, the
    text of each element by id, and the text of each table row."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.style = ""
        self._in_style = False
        self.rows: dict[str, list[dict[str, str]]] = {}
        self._table: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        self.tags.append((tag, found))
        self._in_style = tag == "style"
        if tag == "table":
            self._table = found.get("id")
        if tag == "tr" and self._table and "data-count" in found:
            self.rows.setdefault(self._table, []).append(found)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        if tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data

    def first(self, tag: str, **wanted: str) -> dict[str, str]:
        for name, attrs in self.tags:
            if name == tag and all(attrs.get(k) == v for k, v in wanted.items()):
                return attrs
        raise AssertionError(f"no <{tag} {wanted}>")


def report(cli: Any, *args: str, tmp: Path, name: str = "r.html") -> str:
    target = tmp / name
    done = cli("report", str(target), *args, env=EPOCH)
    assert done.code == 0, done.err
    return target.read_text(encoding="utf-8")


def summary_json(cli: Any, *args: str) -> dict[str, Any]:
    done = cli("summary", "--cost", "--top", "10", "-o", "json", *args)
    assert done.code == 0, done.err
    found: dict[str, Any] = json.loads(done.out)
    return found


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["r.txt"], "cannot tell the report's format from .txt"),
        (["report"], "a name with no extension"),
        (["-"], "a report to stdout needs a format"),
        (["r.html", "-o", "pdf"], "pdf"),
        (["r.html", "--window", "year"], "--window must be one of hour, day, month"),
        (["r.html", "--window", "day", "--since", "1d"], "--window sets --since and --until"),
        (["r.html", "--spike", "1x"], "the factor must be a number above 1"),
        (["r.html", "--spike", "bots:3x"], "cannot measure 'bots'"),
        (["r.html", "--baseline", "0"], "--baseline must be between 1 and 365"),
        (["r.html", "--compare", "lastweek"], "neither 'previous', a span (7d) nor dates"),
        (["r.html", "--since", "2026-01-02", "--until", "2026-01-01"], "is after --until"),
        (["r.html", "--since", "2099-01-01"], "ends before it starts"),
        (["nowhere/r.html"], "does not exist"),
        (["r.html", "--demo", "--db", "a.db"], "--db and --demo cannot be used together"),
        (["r.html", "--since", "soon"], "--since"),
        (["r.html", "--no-verify"], "--no-verify goes with --db"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    cli: Any,
    server: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    said: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    done = cli("report", *args)
    assert done.code == 2, done.err
    assert said in done.err
    assert server.requests == []
    assert not (tmp_path / "r.html").exists()


def test_a_folder_target_is_refused(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "r.html").mkdir()
    done = cli("report", str(tmp_path / "r.html"))
    assert done.code == 2
    assert "is a folder: a report is one file" in done.err


def test_a_bad_source_date_epoch_is_refused(cli: Any, tmp_path: Path) -> None:
    done = cli("report", str(tmp_path / "r.html"), *WINDOW, env={"SOURCE_DATE_EPOCH": "soon"})
    assert done.code == 2
    assert "SOURCE_DATE_EPOCH='soon' is not a time" in done.err


def test_a_refused_token_leaves_no_file(cli: Any, tmp_path: Path) -> None:
    done = cli("report", str(tmp_path / "r.html"), *WINDOW, "--token", "tok_wrong")
    assert done.code == 3
    assert list(tmp_path.iterdir()) == []


def test_the_page_is_one_offline_file_under_its_own_strict_policy(cli: Any, tmp_path: Path) -> None:
    text = report(cli, *WINDOW, tmp=tmp_path)
    page = Page(text)
    assert "<script" not in text.lower()
    # Nothing is fetched: no attribute names a resource, and no URL is written anywhere.
    for _, attrs in page.tags:
        assert not {"src", "href", "srcset", "action", "xlink:href"} & set(attrs)
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I)
    assert not any(attrs.get("style") for _, attrs in page.tags)
    policy = page.first("meta", **{"http-equiv": "Content-Security-Policy"})["content"]
    digest = base64.b64encode(hashlib.sha256(page.style.encode()).digest()).decode()
    assert policy.startswith("default-src 'none'; ")
    assert f"style-src 'sha256-{digest}'" in policy
    assert "prefers-color-scheme:dark" in page.style
    assert "@page{size:A4" in page.style


def test_the_page_is_accessible(cli: Any, tmp_path: Path) -> None:
    page = Page(report(cli, *WINDOW, tmp=tmp_path))
    assert page.first("html")["lang"] == "en"
    chart = page.first("svg", id="chart")
    assert chart["role"] == "img"
    assert chart["aria-labelledby"] == "chart-title chart-desc"
    assert page.first("title", id="chart-title")
    assert page.first("desc", id="chart-desc")
    headers = [attrs for tag, attrs in page.tags if tag == "th"]
    assert headers
    assert all(attrs.get("scope") in {"col", "row"} for attrs in headers)
    # Decorative SVG (legend keys, share bars) is hidden from a screen reader.
    for tag, attrs in page.tags:
        if tag == "svg" and attrs.get("id") != "chart":
            assert attrs.get("aria-hidden") == "true"


def test_the_figures_are_summarys(cli: Any, tmp_path: Path) -> None:
    page = Page(report(cli, *WINDOW, tmp=tmp_path))
    by_type = summary_json(cli, "--by", "type", *WINDOW)
    by_bot = summary_json(cli, "--by", "bot", *WINDOW)
    headline = page.first("dl", id="headline")
    total = by_type["total"]
    assert int(headline["data-records"]) == total["records"]
    assert int(headline["data-count"]) == total["count"]
    assert headline["data-cost"] == total["cost"]
    assert float(headline["data-coverage"]) == total["coverage"]
    for table, document, key in (("types", by_type, "type"), ("bots", by_bot, "bot")):
        rows = page.rows[table]
        assert [row["data-key"] for row in rows] == [
            g["key"][key] or "" for g in document["groups"]
        ]
        assert [int(row["data-count"]) for row in rows] == [g["count"] for g in document["groups"]]
        assert [row["data-cost"] for row in rows] == [g["cost"] or "" for g in document["groups"]]
    # The chart's buckets add up to the window's count.
    buckets = [attrs for tag, attrs in page.tags if tag == "g" and "data-bucket" in attrs]
    assert len(buckets) == 30
    assert sum(int(b["data-count"]) for b in buckets) == total["count"]


def test_the_chart_is_summary_by_day_in_the_zone(cli: Any, tmp_path: Path) -> None:
    zone = ("--tz", "Pacific/Auckland")
    page = Page(report(cli, *WINDOW, *zone, tmp=tmp_path))
    by_day = cli("summary", "--by", "day", "-o", "json", *WINDOW, *zone)
    days = {g["key"]["day"]: g["count"] for g in json.loads(by_day.out)["groups"]}
    bars = {
        attrs["data-bucket"]: int(attrs["data-count"])
        for tag, attrs in page.tags
        if tag == "g" and "data-bucket" in attrs
    }
    assert {day: count for day, count in bars.items() if count} == days
    assert "(Pacific/Auckland)" in report(cli, *WINDOW, *zone, tmp=tmp_path)


def test_an_empty_window_is_a_page_too(cli: Any, tmp_path: Path) -> None:
    text = report(cli, "--since", "2020-01-01", "--until", "2020-01-02", tmp=tmp_path)
    page = Page(text)
    assert page.first("dl", id="headline")["data-records"] == "0"
    assert "No records in the window." in text
    assert "No spikes" in text
    assert len([a for t, a in page.tags if t == "g" and "data-bucket" in a]) == 48  # hours


def test_the_same_input_makes_the_same_bytes(cli: Any, tmp_path: Path) -> None:
    first = report(cli, *WINDOW, "--compare", "previous", tmp=tmp_path, name="a.html")
    second = report(cli, *WINDOW, "--compare", "previous", tmp=tmp_path, name="b.html")
    assert first == second
    assert "2026-01-01T00:00:00Z" in first  # SOURCE_DATE_EPOCH's moment, as made-at


def test_compare_sets_the_headline_against_summary_compare(cli: Any, tmp_path: Path) -> None:
    since = ("--since", "2026-01-16", "--until", "2026-01-30")
    text = report(cli, *since, "--compare", "previous", tmp=tmp_path)
    done = cli("summary", "--cost", "-o", "json", *since, "--compare", "previous")
    total = json.loads(done.out)["total"]
    assert f"vs {total['previousCount']:,}" in text
    ratio = total["countChangeRatio"]
    assert f"{'+' if ratio > 0 else ''}{ratio * 100:.1f}%" in text
    assert 'class="prev"' in text  # the compared period's faint line


def test_unpriced_usage_is_called_out_never_zero(cli: Any, tmp_path: Path) -> None:
    prices = tmp_path / "p.toml"
    prices.write_text(
        'version = "t"\nreplace = true\n[[price]]\ntype = "OPENAI_GPT_4O_TOKEN"\n'
        'price = 0.01\nper = 1000\nsource = "test"\n',
        encoding="utf-8",
    )
    text = report(cli, *WINDOW, "--prices", str(prices), tmp=tmp_path)
    page = Page(text)
    assert "Unpriced usage" in text
    assert "(it is not $0)" in text
    unpriced = [row for row in page.rows["types"] if row["data-cost"] == ""]
    assert unpriced
    assert "no price" in text
    assert "$0.00" not in text


def test_to_stdout_with_a_format(cli: Any) -> None:
    done = cli("report", "-", "-o", "html", *WINDOW)
    assert done.code == 0, done.err
    assert done.out.startswith("<!doctype html>")
    done = cli("report", "-", "-o", "markdown", *WINDOW)
    assert done.code == 0, done.err
    assert done.out.startswith("## Usage report: 2026-01-01")


def test_the_format_follows_the_extension(cli: Any, tmp_path: Path) -> None:
    assert report(cli, *WINDOW, tmp=tmp_path, name="r.md").startswith("## Usage report")
    assert report(cli, *WINDOW, tmp=tmp_path, name="r.HTM").startswith("<!doctype html>")


def test_from_an_archive_with_its_head_and_verify(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    assert cli("sync", "--db", str(db), "-q").code == 0
    text = report(cli, *WINDOW, "--db", str(db), tmp=tmp_path)
    page = Page(text)
    # Every figure as `summary --db` has it, though the report asks the archive once,
    # by every dimension, and folds.
    for table, key in (("types", "type"), ("bots", "bot")):
        document = summary_json(cli, "--by", key, *WINDOW, "--db", str(db))
        assert [
            (r["data-key"], int(r["data-count"]), r["data-cost"]) for r in page.rows[table]
        ] == [(g["key"][key] or "", g["count"], g["cost"] or "") for g in document["groups"]]
    total = document["total"]
    headline = page.first("dl", id="headline")
    assert int(headline["data-count"]) == total["count"]
    assert headline["data-cost"] == total["cost"]
    assert "Archive head" in text
    assert f"ok: {db} is intact" in text
    assert f"archive:{db}#" in text


def test_no_verify_names_the_proof_it_skipped(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    assert cli("sync", "--db", str(db), "-q").code == 0
    text = report(cli, *WINDOW, "--db", str(db), "--no-verify", tmp=tmp_path)
    assert f"not verified (--no-verify): run usage verify {db}" in text
    assert "is intact" not in text


def test_spikes_are_check_spikes_verdicts(tmp_path: Path) -> None:
    # A runaway bot in the last hour: the hour's bucket is marked and listed, as
    # `usage check --spike` over that hour finds it.
    with Sandbox(records=300, token=TOKEN, spike=30) as spiky:
        base = ["--api-url", spiky.url, "--token", TOKEN]
        done = run_in_memory([*base, "report", "-", "-o", "html", "--since", "1d"])
        assert done.code == 0, done.err
        page = Page(done.out)
        listed = [attrs for tag, attrs in page.tags if tag == "tr" and "data-bucket" in attrs]
        marked = {
            attrs["data-bucket"]
            for tag, attrs in page.tags
            if tag == "g" and "data-bucket" in attrs
        }
        assert listed
        assert {row["data-bucket"] for row in listed} <= marked
        assert done.out.count('<path class="spike" d="M') >= 1


def _summary(by: tuple[str, ...], records: list[dict[str, Any]], prices: Any) -> Summary:
    return Summary(by, prices=prices).add_all(UsageRecord(r) for r in records)


def _records(days: int, types: int, bots: int) -> Iterator[dict[str, Any]]:
    start = 1_767_225_600_000  # 2026-01-01
    for day in range(days):
        for kind in range(types):
            bot = (day * types + kind) % bots
            yield {
                "id": f"rec_{day}_{kind}",
                "type": f"TYPE_{kind:03d}_" + "X" * 40,
                "count": 10_000_000 + day * kind,
                "createdAt": start + day * 86_400_000 + kind * 1000,
                "botId": f"bot_{bot:05d}_" + "y" * 30,
            }


def _page(records: list[dict[str, Any]], since: int, until: int) -> Any:
    table = load(None)
    window = Window(since, until)
    unit = unit_for(window)
    return build(
        Inputs(
            by_type=_summary(("type",), records, table),
            by_bot=_summary(("bot",), records, table),
            series=_summary((unit, "type"), records, table),
            labels=labels(window, unit, UTC),
            history_series=Summary((unit, "type"), prices=table),
            history=[],
        ),
        window=window,
        against=None,
        unit=unit,
        zone="UTC",
        spike=parse_spike("3x", floor=None, windows=7),
        evidence=Evidence({}, "test", table, "0", "2026-01-01T00:00:00Z"),
    )


def test_a_big_account_stays_a_small_page() -> None:
    # 90 days, 60 types, 1,400 bots (the records are few: the page's size follows
    # the groups, never the records): the tables fold to 10 rows, the chart to 5 types
    # and "other", so the page does not grow with the account.
    records = list(_records(90, 60, 1400))
    page = _page(records, 1_767_225_600_000, 1_767_225_600_000 + 90 * 86_400_000 - 1)
    assert page.unit == "day"
    assert len(page.buckets) == 90
    assert len(page.series) == 6
    assert len(html.render(page).encode()) < 300_000
    assert len(markdown.render(page).encode()) < 1 << 20


@pytest.mark.parametrize(
    ("days", "unit"), [(1, "hour"), (2, "hour"), (3, "day"), (92, "day"), (93, "week")]
)
def test_the_bucket_follows_the_window(days: int, unit: str) -> None:
    assert unit_for(Window(0, days * 86_400_000 - 1)) == unit


def test_since_2d_is_by_the_hour(cli: Any) -> None:
    done = cli("report", "-", "-o", "markdown", "--since", "2d")
    assert done.code == 0, done.err
    assert "Count per hour" in done.out


# Mermaid's xychart-beta, as much of its grammar as a report writes.
_XY = {
    "title": re.compile(r'title "[^"\n]*"'),
    "x-axis": re.compile(r'x-axis \[(?:"[^"\n]*"(?:, "[^"\n]*")*)?\]'),
    "y-axis": re.compile(r'y-axis "[^"\n]*" \d+ --> \d+'),
    "bar": re.compile(r"bar \[(?:-?\d+(?:\.\d+)?(?:, -?\d+(?:\.\d+)?)*)?\]"),
    "line": re.compile(r"line \[(?:-?\d+(?:\.\d+)?(?:, -?\d+(?:\.\d+)?)*)?\]"),
}


def parse_xychart(text: str) -> dict[str, Any]:
    """The report's Mermaid block, parsed: each statement checked against its grammar."""
    block = re.search(r"```mermaid\n(.*?)\n```", text, re.S)
    assert block, "no mermaid block"
    lines = block.group(1).splitlines()
    assert lines[0] == "xychart-beta"
    found: dict[str, Any] = {}
    for line in lines[1:]:
        assert line.startswith("    "), line
        word = line.strip().split(" ", 1)[0]
        assert word in _XY, f"not an xychart statement: {line}"
        assert _XY[word].fullmatch(line.strip()), f"bad {word}: {line}"
        body = line.strip()[len(word) :].strip()
        if word in {"bar", "line"}:
            found[word] = [Decimal(v) for v in body.strip("[]").split(", ") if v]
        elif word == "x-axis":
            found[word] = re.findall(r'"([^"]*)"', body)
        else:
            found[word] = body
    assert len(found["x-axis"]) == len(found["bar"])
    if "line" in found:
        assert len(found["line"]) == len(found["bar"])
    top = int(found["y-axis"].rsplit(" ", 1)[1])
    assert max(found["bar"] + found.get("line", []) + [Decimal(0)]) <= top
    return found


def test_the_markdown_has_a_valid_xychart_and_summarys_figures(cli: Any, tmp_path: Path) -> None:
    text = report(cli, *WINDOW, "--compare", "previous", tmp=tmp_path, name="r.md")
    chart = parse_xychart(text)
    total = summary_json(cli, "--by", "type", *WINDOW)["total"]
    assert sum(chart["bar"]) == total["count"]
    assert f"| count | {total['count']:,} |" in text
    assert len(text.encode()) < 1 << 20


def test_the_xychart_parser_refuses_what_mermaid_would() -> None:
    bad = '```mermaid\nxychart-beta\n    x-axis ["a", "b"]\n    bar [1, 2, 3]\n```'
    with pytest.raises(AssertionError):
        parse_xychart(bad)
    quoted = '```mermaid\nxychart-beta\n    title "a "quoted" b"\n```'
    with pytest.raises(AssertionError):
        parse_xychart(quoted)


def test_a_folder_that_takes_no_new_file_is_refused_before_any_request(
    cli: Any, server: Sandbox, read_only: tuple[Path, Path]
) -> None:
    """As export refuses it: exit 2, the folder named, not a crash when the page is done."""
    _, mounted = read_only
    server.requests.clear()
    result = cli("report", str(mounted / "r.html"))
    assert result.code == 2, result.err
    assert result.err.splitlines()[0] == f"error: directory {str(mounted)!r} is not writable"
    assert server.requests == []


def test_the_evidence_writes_the_window_to_the_millisecond(cli: Any, tmp_path: Path) -> None:
    """As every time the page shows: `2026-01-01T00:00:00.000Z`, not Python's microseconds."""
    text = report(cli, "--since", "7d", tmp=tmp_path, name="r.md")
    [line] = [line for line in text.splitlines() if line.startswith("- query:")]
    query = json.loads(line.split("`")[1])
    for edge in ("since", "until"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", query[edge]), query


# `--window month --compare previous` run on the 10th: (now, the month, the month before).
MONTHS = [
    ("2026-05-10", "2026-04-01T00:00:00.000Z .. 2026-04-30T23:59:59.999Z", "2026-03-01", "31"),
    ("2026-04-10", "2026-03-01T00:00:00.000Z .. 2026-03-31T23:59:59.999Z", "2026-02-01", "28"),
    ("2026-03-10", "2026-02-01T00:00:00.000Z .. 2026-02-28T23:59:59.999Z", "2026-01-01", "31"),
    ("2028-03-10", "2028-02-01T00:00:00.000Z .. 2028-02-29T23:59:59.999Z", "2028-01-01", "31"),
]


@pytest.mark.parametrize(("today", "window", "before", "last"), MONTHS)
def test_a_month_is_compared_with_the_calendar_month_before(
    cli: Any, tmp_path: Path, today: str, window: str, before: str, last: str
) -> None:
    from datetime import datetime

    now = datetime.fromisoformat(today).replace(hour=9, tzinfo=UTC)
    words = ["--window", "month", "--compare", "previous"]
    against = f"{before}T00:00:00.000Z .. {before[:8]}{last}T23:59:59.999Z"
    said = f"{against} (the calendar month before)"
    target = tmp_path / "r.html"
    done = cli("report", str(target), *words, env=EPOCH, now=lambda: now)
    assert done.code == 0, done.err
    text = target.read_text(encoding="utf-8")
    assert f"{window} (UTC), count per day; compared with {said}</p>" in text
    assert f"<dt>Compared with</dt><dd>{said}</dd>" in text
    # The faint line has a point for each day of the month before that has a place.
    days = len(labels(Window(*_ms_pair(window)), "day", UTC))
    points = re.search(r'<polyline class="prev" points="([^"]*)"', text)
    assert points is not None
    assert len(points.group(1).split()) == min(days, int(last))
    markdown_text = cli("report", "-", "-o", "markdown", *words, env=EPOCH, now=lambda: now).out
    assert f"- compared with: {said}" in markdown_text
    # summary --compare takes the same month before; its figures are that month's.
    month = ["--since", before, "--until", f"{before[:8]}{last}"]
    total = summary_json(cli, "--by", "type", *month)["total"]
    window_dates = ["--since", window[:10], "--until", window[28:38]]
    compared = summary_json(cli, "--by", "type", *window_dates, "--compare", "previous")
    assert compared["previous"] == dict(zip(["since", "until"], against.split(" .. "), strict=True))
    assert compared["total"]["previousCount"] == total["count"]


def _ms_pair(span: str) -> tuple[int, int]:
    from usage_cli.query import parse_when, to_ms

    since, until = span.split(" .. ")
    return to_ms(parse_when(since)), to_ms(parse_when(until))


def test_days_are_still_compared_with_the_span_of_the_same_length(cli: Any, tmp_path: Path) -> None:
    since = ("--since", "2026-01-16", "--until", "2026-01-30")
    text = report(cli, *since, "--compare", "previous", tmp=tmp_path)
    said = (
        "2026-01-01T00:00:00.000Z .. 2026-01-15T23:59:59.999Z "
        "(the span of the same length just before)"
    )
    assert f"<dt>Compared with</dt><dd>{said}</dd>" in text


@pytest.mark.parametrize(
    ("fraction", "shown"),
    [(1, "100.0%"), (0.9996, ">99.9%"), (0.5, "50.0%"), (0.0004, "<0.1%"), (0, "0.0%")],
)
def test_a_share_is_never_rounded_onto_all_or_nothing(fraction: float, shown: str) -> None:
    from usage_cli.reports.page import share_text

    assert share_text(fraction) == shown


def test_the_spike_rule_reads_as_english_in_every_unit() -> None:
    from usage_cli.reports.page import a_unit

    assert [a_unit(unit) for unit in ("hour", "day", "month")] == ["an hour", "a day", "a month"]


def test_a_report_replaces_the_page_at_its_target(tmp_path: Path) -> None:
    from .conftest import run_in_memory

    target = tmp_path / "usage.md"
    target.write_text("an older page\n")
    done = run_in_memory(["report", str(target), "--demo", "--window", "day"], env={})
    assert done.code == 0, done.err
    assert target.read_text().startswith("## Usage report: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["usage.md"]  # no stray temporary
