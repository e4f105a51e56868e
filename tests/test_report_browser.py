"""`usage report`'s page in a real browser: headless Chromium at 375 and 1280 px.

The page is opened as a file with scripting off: the screenshot's chart area
is drawn, and the figures in the DOM are `usage summary -o json`'s. Layout is
measured on a copy with a few lines of script added (the page itself has none,
and its policy would refuse them): the page is no wider than the window, and
where its chart lies. Headless Chromium's window is at least 500 px wide, so a
page is shown in an iframe of the width under test, as a phone would show it.
`USAGE_UPDATE_SCREENS=1` keeps the screenshots in tests/screens/
(report-375.png, report-1280.png), to look at after a change.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from usage_cli.runtime import utc_now
from usage_cli.sandbox import Sandbox

from .conftest import TOKEN, run_in_memory
from .test_report import WINDOW, Page

SCREENS = Path(__file__).parent / "screens"
WIDTHS = (375, 1280)
# Tall enough for the headline and the chart, short enough to keep the kept PNGs small.
HEIGHT = 1100
MEASURE = """<script>
const root = document.documentElement;
const box = document.getElementById("chart").getBoundingClientRect();
parent.postMessage({
  scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
  chart: [box.left, box.top + scrollY, box.width, box.height].map(Math.round).join(),
}, "*");
</script>"""
LISTEN = """<script>
addEventListener("message", (event) => Object.assign(document.documentElement.dataset, event.data));
</script>"""
# Headless Chromium will not make a window narrower than this.
NARROWEST = 500


def framed(page: Path, width: int, *, script: str = "") -> Path:
    """A page that shows `page` in a borderless iframe `width` px wide, at its top left."""
    frame = page.with_name(f"frame-{width}-{page.stem}.html")
    frame.write_text(
        '<!doctype html><html><head><meta charset="utf-8"></head>'
        '<body style="margin:0">'
        f'<iframe src="{page.name}" width="{width}" height="{HEIGHT}" '
        'style="border:0;display:block">'
        f"</iframe>{script}</body></html>",
        encoding="utf-8",
    )
    return frame


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "the browser tests need Debian's chromium (.ci/run installs it)"
    return found


def browse(page: Path, width: int, *action: str, script: bool, home: Path) -> str:
    """Chromium, headless, on `page` at `width` px; what it prints."""
    words = [
        chromium(),
        "--headless",
        "--no-sandbox",  # as root in a container, Chromium's sandbox cannot start
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--force-device-scale-factor=1",
        f"--user-data-dir={home / 'profile'}",
        f"--window-size={max(width, NARROWEST)},{HEIGHT}",
        *action,
        page.as_uri(),
    ]
    home.mkdir(exist_ok=True)
    if not script:
        # Scripting off as a reader turns it off: the profile's content setting. (The
        # --blink-settings=scriptEnabled=false switch also stops headless's own
        # --dump-dom and --screenshot, which then write nothing.)
        (home / "profile" / "Default").mkdir(parents=True, exist_ok=True)
        (home / "profile" / "Default" / "Preferences").write_text(
            json.dumps({"profile": {"default_content_setting_values": {"javascript": 2}}})
        )
    done = subprocess.run(words, capture_output=True, text=True, timeout=120, cwd=home)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    rows: list[bytes]
    channels: int

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        at = x * self.channels
        return tuple(self.rows[y][at : at + 3])


def decode_png(data: bytes) -> Png:
    """An 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes), by zlib alone."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, header = 8, b"", b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    channels = {2: 3, 6: 4}[colour]
    raw, stride = zlib.decompress(idat), width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + guess) & 0xFF
        rows.append(bytes(line))
        previous = line
    return Png(width, height, rows, channels)


@dataclass(frozen=True)
class Made:
    page: Path
    # The page with the measuring script in it.
    measured: Path
    home: Path
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, sandbox: Sandbox) -> Made:
    home = tmp_path_factory.mktemp("browser")
    base = ["--api-url", sandbox.url, "--token", TOKEN]
    page = home / "report.html"
    env = {"SOURCE_DATE_EPOCH": "1767225600"}
    done = run_in_memory([*base, "report", str(page), *WINDOW, "--compare", "previous"], env=env)
    assert done.code == 0, done.err
    summary = run_in_memory(
        [*base, "summary", "--by", "type", "--cost", "--top", "10", "-o", "json", *WINDOW]
    )
    measured = home / "measured.html"
    text = page.read_text(encoding="utf-8")
    # The copy may run the measuring script: no policy, the script before </body>.
    copy = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    measured.write_text(copy.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    return Made(page, measured, home, json.loads(summary.out))


def layout(made: Made, width: int) -> dict[str, str]:
    profile = made.home / f"profile-m{width}"
    frame = framed(made.measured, width, script=LISTEN)
    # Virtual time: the dump waits for the frame's message to arrive.
    dom = browse(
        frame, width, "--virtual-time-budget=5000", "--dump-dom", script=True, home=profile
    )
    return Page(dom).first("html")


@pytest.mark.parametrize("width", WIDTHS)
def test_no_horizontal_scroll_and_a_drawn_chart(made: Made, width: int) -> None:
    measured = layout(made, width)
    assert int(measured["data-client-width"]) == width
    assert int(measured["data-scroll-width"]) <= width
    left, top, chart_w, chart_h = (int(v) for v in measured["data-chart"].split(","))
    assert chart_w > width * 0.5
    assert top + chart_h < HEIGHT, "the chart is below the screenshot"
    shot = made.home / f"report-{width}.png"
    profile = made.home / f"profile-s{width}"
    browse(framed(made.page, width), width, f"--screenshot={shot}", script=False, home=profile)
    image = decode_png(shot.read_bytes())
    assert image.width == max(width, NARROWEST)
    background = image.pixel(1, 1)
    box = (
        image.pixel(x, y) for y in range(top, top + chart_h) for x in range(left, left + chart_w)
    )
    inked = [p for p in box if sum(abs(a - b) for a, b in zip(p, background, strict=True)) > 60]
    # Bars, not only the grid and labels: a chart with no bars inks 1.4% of its box
    # (measured on an empty window), the demo's about 14%; and the stacked types are
    # colours of their own, each covering a fair part of the box (antialiased text
    # makes many colours, each a sliver).
    assert len(inked) > chart_w * chart_h * 0.05
    colours = Counter((r // 32, g // 32, b // 32) for r, g, b in inked)
    assert sum(1 for n in colours.values() if n > chart_w * chart_h * 0.005) >= 3
    if os.environ.get("USAGE_UPDATE_SCREENS"):
        shutil.copyfile(shot, SCREENS / shot.name)


def test_the_dom_holds_summarys_figures_with_scripting_off(made: Made) -> None:
    dom = browse(made.page, 1280, "--dump-dom", script=False, home=made.home / "profile-d")
    same_figures(dom, made.summary)


@pytest.mark.parametrize("source", ["demo", "archive"])
def test_from_the_demo_and_an_archive_too(tmp_path: Path, sandbox: Sandbox, source: str) -> None:
    if source == "demo":
        # The demo's records end at today's midnight: the 29 whole days before it.
        today = utc_now().date()
        since, until = str(today - timedelta(days=29)), str(today - timedelta(days=1))
        words = ["--demo", "--since", since, "--until", until]
    else:
        db = tmp_path / "usage.db"
        base = ["--api-url", sandbox.url, "--token", TOKEN]
        assert run_in_memory([*base, "sync", "--db", str(db), "-q"]).code == 0
        words = ["--db", str(db), *WINDOW]
    page = tmp_path / "r.html"
    done = run_in_memory(["report", str(page), *words])
    assert done.code == 0, done.err
    summary = run_in_memory(
        ["summary", "--by", "type", "--cost", "--top", "10", "-o", "json", *words]
    )
    dom = browse(page, 1280, "--dump-dom", script=False, home=tmp_path / "profile")
    same_figures(dom, json.loads(summary.out))


def test_it_prints_on_a4(made: Made) -> None:
    pdf = made.home / "report.pdf"
    browse(made.page, 1280, f"--print-to-pdf={pdf}", script=False, home=made.home / "profile-p")
    data = pdf.read_bytes()
    # A4 is 595.28 x 841.89 points; Chromium writes its MediaBox to two decimals or so.
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert boxes
    assert all(abs(float(w) - 595.3) < 2 and abs(float(h) - 841.9) < 2 for w, h in boxes)


def same_figures(dom: str, summary: dict[str, Any]) -> None:
    """The page's headline and types table (as the browser has them) are `summary`'s."""
    found = Page(dom)
    total = summary["total"]
    headline = found.first("dl", id="headline")
    assert int(headline["data-records"]) == total["records"]
    assert int(headline["data-count"]) == total["count"]
    assert headline["data-cost"] == total["cost"]
    assert [int(row["data-count"]) for row in found.rows["types"]] == [
        group["count"] for group in summary["groups"]
    ]
    # What a reader sees, not only the attributes: the big figures as text.
    assert f">{total['count']:,}</span>" in dom
    assert f">{total['records']:,}</span>" in dom


# The lines of every shown cell of the tables (names, headers, figures), found character
# by character (Range rects: the page's own text, as laid out), posted to the parent.
BREAKS = """<script>
const lines = [];
for (const cell of document.querySelectorAll("#types :is(th, td), #bots :is(th, td)")) {
  if (!cell.getClientRects().length || !cell.textContent) continue;
  const tops = [];
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      tops.push(Math.round(range.getClientRects()[0].top));
    }
  }
  let line = cell.textContent[0];
  const shown = [];
  for (let i = 1; i < tops.length; i++) {
    if (tops[i] > tops[i - 1]) { shown.push(line); line = ""; }
    line += cell.textContent[i];
  }
  lines.push([...shown, line]);
}
parent.postMessage({lines: JSON.stringify(lines)}, "*");
</script>"""
LONG_TYPES = [
    "conversation.complete.with.tools",
    "conversationCompleteWithTools",
    "CHATBOTKIT_CONVERSATION",
    "ELEVENLABS_MULTILINGUAL_V2_CHARACTERS",
    "OPENAI_TEXT_EMBEDDING_3_LARGE_TOKEN",
    "chatbotkit-task-run-scheduled",
    "ANTHROPIC_CLAUDE_SONNET_4_TOKEN",  # priced: a cost to fit beside the name
]


def test_long_type_names_wrap_between_their_words_at_375px(tmp_path: Path) -> None:
    from usage_cli.reports import html

    from .test_report import _page

    records = [
        {
            "id": f"rec_{i}",
            "type": kind,
            "count": 1_234_567 * (i + 1),
            "createdAt": 1_767_225_600_000 + i * 1000,
            "botId": f"bot_{kind}",
        }
        for i, kind in enumerate(LONG_TYPES)
    ]
    text = html.render(_page(records, 1_767_225_600_000, 1_767_225_600_000 + 7 * 86_400_000 - 1))
    # No style attribute, which the page's policy (a hash of its one style sheet) refuses.
    assert " style=" not in text
    measured = tmp_path / "names.html"
    copy = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    measured.write_text(copy.replace("</body>", BREAKS + "</body>"), encoding="utf-8")
    frame = framed(measured, 375, script=LISTEN)
    dom = browse(frame, 375, "--virtual-time-budget=5000", "--dump-dom", script=True, home=tmp_path)
    cells: list[list[str]] = json.loads(Page(dom).first("html")["data-lines"])
    names = {"".join(lines): lines for lines in cells}
    assert set(LONG_TYPES) | {f"bot_{kind}" for kind in LONG_TYPES} <= set(names)
    assert {"Count", "Cost", "1,234,567", "8,641,969"} <= set(names)
    assert any(name.startswith("$") for name in names)
    # A line ends at a space, after a separator, or before the capital that starts a
    # camelCase word: never inside a word, a header or a figure.
    cut = [
        " / ".join(lines)
        for lines in cells
        for line, after in itertools.pairwise(lines)
        if not (line[-1] in " ._-" or (line[-1].islower() and after[0].isupper()))
    ]
    assert cut == []
    # A phone's table is name, count and cost (share and records are for wider screens).
    assert "Share" not in names
    # The width is under test: the long names do wrap.
    assert len(names["conversation.complete.with.tools"]) > 1
    assert sum(len(lines) > 1 for lines in cells) >= len(LONG_TYPES)
