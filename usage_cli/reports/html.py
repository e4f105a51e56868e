"""`usage report PATH.html`: one self-contained page, readable offline and with scripting off.

No script, no font, no request of any kind: the chart is inline SVG, the style one
inline `<style>` whose sha256 the page's own Content-Security-Policy names, so a
viewer that enforces it (a CI artifact viewer, a mail client) shows the page as
made. No `style=""` attribute anywhere: a hashed style-src refuses those, and
SVG presentation attributes (`fill`, `width`) are not styles. The same page
comes out for the same input (no dict order, clock or path of this machine in
it but those the evidence names), so a report can be checked into a repository.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from decimal import Decimal
from html import escape
from typing import Any

from usage_cli._text import plural, without_surrogates
from usage_cli.reports.check import shown_value
from usage_cli.reports.page import (
    SPIKES_LISTED,
    Bucket,
    Page,
    a_unit,
    axis_top,
    share_text,
    short_label,
)

# The chart's own coordinates; the SVG scales to the page's width, text with it.
WIDTH, HEIGHT = 520, 250
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 16, 36
# At most this many bucket labels under the chart: more would overlap at 375 px.
X_LABELS = 7

STYLE = """\
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;
--card:#f6f8fa;--s0:#0969da;--s1:#bc4c00;--s2:#1a7f37;--s3:#8250df;--s4:#bf3989;
--s5:#6e7781;--prev:#1b1f24;--spike:#cf222e;--up:#a40e26;--down:#116329}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;
--line:#3d444d;--card:#161b22;--s0:#58a6ff;--s1:#f0883e;--s2:#3fb950;--s3:#bc8cff;
--s4:#f778ba;--s5:#8b949e;--prev:#e6edf3;--spike:#ff7b72;--up:#ffa198;--down:#7ee787}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}
p,li,dd,td,th,pre{overflow-wrap:anywhere}
.muted,caption,figcaption{color:var(--muted)}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.6rem;
margin:0}
.figures div{background:var(--card);border:1px solid var(--line);border-radius:6px;
padding:.6rem .8rem}
.figures dt{color:var(--muted);font-size:.85rem}.figures dd{margin:0}
.big{font-size:1.5rem;font-weight:600;font-variant-numeric:tabular-nums}
.up{color:var(--up)}.down{color:var(--down)}
figure{margin:0}svg.chart{width:100%;height:auto;display:block}
svg.chart text{fill:var(--muted);font-size:12px}
.grid{stroke:var(--line);stroke-width:1}
.s0{fill:var(--s0)}.s1{fill:var(--s1)}.s2{fill:var(--s2)}.s3{fill:var(--s3)}
.s4{fill:var(--s4)}.s5{fill:var(--s5)}
.prev{fill:none;stroke:var(--prev);stroke-opacity:.45;stroke-width:1.5;stroke-dasharray:4 3}
.spike{fill:var(--spike)}
.legend{display:flex;flex-wrap:wrap;gap:.2rem .9rem;padding:0;margin:.4rem 0;list-style:none}
.legend svg{width:.8rem;height:.8rem;vertical-align:-.1rem;margin-right:.3rem}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums;
table-layout:fixed}
.c-name{width:40%}.c-count{width:18%}.c-share{width:17%}.c-records{width:11%}.c-cost{width:14%}
caption{text-align:left;padding:.2rem 0}
th,td{padding:.3rem .4rem;border-bottom:1px solid var(--line);text-align:left;
vertical-align:top}
.num{text-align:right}
svg.bar{width:4rem;height:.6rem;margin-right:.3rem}
.track{fill:var(--line)}.fill{fill:var(--s0)}
.callout{border-left:4px solid var(--spike);background:var(--card);padding:.5rem .8rem}
dl.evidence{display:grid;grid-template-columns:minmax(6rem,max-content) 1fr;gap:.3rem .8rem}
dl.evidence dt{color:var(--muted)}dl.evidence dd{margin:0}
pre{white-space:pre-wrap;margin:0;font-size:.85rem}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
@media (max-width:30rem){.wide{display:none}main{padding:.6rem}table{font-size:.85rem}
.c-name{width:46%}.c-count{width:28%}.c-cost{width:26%}
svg.chart text{font-size:18px}}
@page{size:A4;margin:14mm}
@media print{:root{--bg:#fff;--fg:#000;--card:#fff}main{max-width:none;padding:0}
section,figure,tr{break-inside:avoid}}
"""


def render(page: Page) -> str:
    """The page as one HTML document."""
    digest = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
    policy = (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    title = f"Usage report {page.span()}"
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="usage {_e(page.evidence.version)}">',
        f"<title>{_e(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        "<header>",
        "<h1>Usage report</h1>",
        f'<p class="muted">{_e(page.span())} ({_e(page.zone)}), count per {page.unit}'
        + (f"; compared with {_e(page.against_said() or '')}" if page.against else "")
        + "</p>",
        "</header>",
        _headline(page),
        _chart_section(page),
        _table_section(page, page.types, "types", "Top types", "Type", "type"),
        _table_section(page, page.bots, "bots", "Top bots", "Bot", "bot"),
        _spikes(page),
        _unpriced(page),
        _evidence(page),
        "</main>",
        "</body>",
        "</html>",
        "",
    ]
    return without_surrogates("\n".join(part for part in parts if part))


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _breakable(name: str) -> str:
    """A type or id, escaped, that may break after its _ - . and where a camelCase word
    begins (a narrow screen's table wraps `ANTHROPIC_CLAUDE_SONNET_4_TOKEN` and
    `conversationCompleteWithTools` at their words, not letter by letter). The
    stylesheet's `overflow-wrap:anywhere` cuts inside a word only when a word alone
    is wider than its cell."""
    text = _e(name)
    for mark in ("_", "-", "."):
        text = text.replace(mark, mark + "<wbr>")
    return _CAMEL.sub("<wbr>", text)


# Between a lower-case letter and a capital: where the next word of camelCase begins.
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _money(page: Page, text: str | None) -> str:
    from usage_cli.prices import shown

    return "no price" if text is None else shown(Decimal(text), page.currency)


def _change(ratio: float | None, before: str, status_new: bool = False) -> str:
    """'+12.0% vs 1,100': up in the warning colour (more spend is what a reader looks for)."""
    if ratio is None:
        word = "new" if status_new else "no change to measure"
        return f'<br><span class="muted">{word} (before: {_e(before)})</span>'
    sign = "+" if ratio > 0 else ""
    tone = "up" if ratio > 0 else "down" if ratio < 0 else "muted"
    return f'<br><span class="{tone}">{sign}{ratio * 100:.1f}%</span> vs {_e(before)}'


def _headline(page: Page) -> str:
    total = page.total
    cost = total.get("cost")
    coverage = total.get("coverage")
    attributes = {
        "records": total["records"],
        "count": total["count"],
        "cost": "" if cost is None else cost,
        "coverage": "" if coverage is None else coverage,
    }
    data = " ".join(f'data-{name}="{_e(value)}"' for name, value in attributes.items())
    change = page.change
    cards = []
    for name, label in (("records", "Records"), ("count", "Count")):
        text = f'<span class="big" data-figure="{name}">{_n(total[name])}</span>'
        if change is not None:
            before = change[f"previous{label}"]
            text += _change(change[f"{name}ChangeRatio"], _n(before), before == 0)
        cards.append(f"<div><dt>{label}</dt><dd>{text}</dd></div>")
    text = f'<span class="big" data-figure="cost">{_e(_money(page, cost))}</span>'
    if coverage is not None:
        text += f'<br><span class="muted">priced: {share_text(coverage)} of the count</span>'
    if change is not None:
        before_cost = change.get("previousCost")
        text += _change(change.get("costChangeRatio"), _money(page, before_cost))
    cards.append(f"<div><dt>Cost ({_e(page.currency)})</dt><dd>{text}</dd></div>")
    return (
        '<section aria-labelledby="h-headline"><h2 id="h-headline">Headline</h2>'
        f'<dl class="figures" id="headline" {data}>' + "".join(cards) + "</dl></section>"
    )


def chart(page: Page) -> str:
    """The series as a stacked bar chart, the compared period as a faint dashed line."""
    buckets = page.buckets
    count = max(len(buckets), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    highest = max([b.total for b in buckets] + [b.previous or 0 for b in buckets] + [0])
    top = axis_top(highest)
    slot = plot_w / count
    bar = max(slot * 0.8, 0.5)

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    what = f"count per {page.unit}, {page.span()}"
    described = (
        f"Stacked bars of the count per {page.unit} by type ({', '.join(page.series) or 'none'})"
        f"; highest {_n(max([b.total for b in buckets] + [0]))}"
        + (f"; {plural(len(page.spikes), 'spike')} marked" if page.spikes else "")
        + ("; dashed line: the compared period" if page.against else "")
    )
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="chart-title chart-desc" id="chart">',
        f'<title id="chart-title">{_e(what)}</title>',
        f'<desc id="chart-desc">{_e(described)}</desc>',
    ]
    for tick in (0, top // 2, top):
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/>'
            f'<text x="{LEFT - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">{_axis(tick)}</text>'
        )
    every = max(1, -(-count // X_LABELS))
    for index, bucket in enumerate(buckets):
        x = LEFT + index * slot + (slot - bar) / 2
        out.append(_bars(page, bucket, x, bar, y))
        if bucket.spiked:
            middle = x + bar / 2
            peak = y(bucket.total) - 3
            out.append(
                f'<path class="spike" d="M{middle:.1f} {peak:.1f}l-4 -7h8z">'
                f"<title>spike: {_e(bucket.label)}</title></path>"
            )
        # The last bucket's label would run past the chart's right edge: the labels
        # every `every` buckets from the first are enough to read the axis by.
        if index % every == 0 and count - index > every // 2:
            out.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                f"{_e(short_label(bucket.label, page.unit))}</text>"
            )
    if page.against is not None:
        # A shorter compared period (February under March) ends its line where it ends.
        points = " ".join(
            f"{LEFT + (i + 0.5) * slot:.1f},{y(b.previous):.1f}"
            for i, b in enumerate(buckets)
            if b.previous is not None
        )
        out.append(f'<polyline class="prev" points="{points}"/>')
    out.append("</svg>")
    return "".join(out)


def _axis(value: int) -> str:
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return str(value)


def _bars(page: Page, bucket: Bucket, x: float, width: float, y: Any) -> str:
    out = [f'<g data-bucket="{_e(bucket.label)}" data-count="{bucket.total}">']
    out.append(f"<title>{_e(bucket.label)}: {_n(bucket.total)}</title>")
    below = 0
    for index, value in enumerate(bucket.counts):
        if not value:
            continue
        upper, lower = y(below + value), y(below)
        colour = index if index < len(page.series) - 1 or page.series[-1] != "(other)" else 5
        out.append(
            f'<rect class="s{min(colour, 5)}" x="{x:.1f}" y="{upper:.1f}" '
            f'width="{width:.1f}" height="{max(lower - upper, 0.5):.1f}"/>'
        )
        below += value
    out.append("</g>")
    return "".join(out)


def _chart_section(page: Page) -> str:
    legend = []
    for index, name in enumerate(page.series):
        colour = 5 if name == "(other)" else index
        legend.append(
            f'<li><svg viewBox="0 0 10 10" aria-hidden="true"><rect class="s{colour}" '
            f'width="10" height="10"/></svg>{_breakable(name)}</li>'
        )
    if page.against is not None:
        legend.append(
            '<li><svg viewBox="0 0 10 10" aria-hidden="true"><path class="prev" d="M0 5h10"/>'
            f"</svg>compared period ({_e(page.against_span() or '')})</li>"
        )
    if page.spikes:
        legend.append(
            '<li><svg viewBox="0 0 10 10" aria-hidden="true">'
            '<path class="spike" d="M5 10l-5-9h10z"/></svg>spike</li>'
        )
    return (
        '<section aria-labelledby="h-chart">'
        f'<h2 id="h-chart">Count per {page.unit}</h2><figure>{chart(page)}'
        f'<figcaption><ul class="legend">{"".join(legend)}</ul></figcaption></figure></section>'
    )


def _table_section(
    page: Page, document: dict[str, Any], ident: str, heading: str, column: str, key: str
) -> str:
    total = document["total"]["count"] or 0
    rows = []
    for group in document["groups"]:
        name = group["key"][key]
        shown = "(none)" if name is None else name
        share = group["count"] / total if total else 0.0
        cost = group.get("cost")
        unpriced = (group.get("unpriced") or {}).get("count", 0)
        cost_text = _e(_money(page, cost))
        if cost is not None and unpriced:
            cost_text += f'<br><span class="muted">+{_n(unpriced)} unpriced</span>'
        data = (
            f'data-key="{_e("" if name is None else name)}" data-records="{group["records"]}" '
            f'data-count="{group["count"]}" data-cost="{_e("" if cost is None else cost)}"'
        )
        rows.append(
            f'<tr {data}><th scope="row">{_breakable(shown)}</th>'
            f'<td class="num">{_n(group["count"])}</td>'
            '<td class="num wide"><svg class="bar" viewBox="0 0 100 10" '
            'preserveAspectRatio="none" aria-hidden="true">'
            '<rect class="track" width="100" height="10"/>'
            f'<rect class="fill" width="{share * 100:.1f}" height="10"/></svg>'
            f"{share * 100:.1f}%</td>"
            f'<td class="num wide">{_n(group["records"])}</td>'
            f'<td class="num">{cost_text}</td></tr>'
        )
    if not rows:
        rows.append('<tr><td colspan="5">No records in the window.</td></tr>')
    return (
        f'<section aria-labelledby="h-{ident}"><h2 id="h-{ident}">{heading}</h2>'
        f'<table id="{ident}"><caption>by count, the rest folded into (other)</caption>'
        f'<thead><tr><th scope="col" class="c-name">{column}</th>'
        '<th scope="col" class="num c-count">Count</th>'
        '<th scope="col" class="num wide c-share">Share</th>'
        '<th scope="col" class="num wide c-records">Records</th>'
        f'<th scope="col" class="num c-cost">Cost</th></tr></thead><tbody>{"".join(rows)}'
        "</tbody></table></section>"
    )


def _spikes(page: Page) -> str:
    rule = page.spike_rule
    words = (
        f"{a_unit(page.unit)}'s {rule.metric} per type above {rule.factor} times the median of the "
        f"{rule.windows} {page.unit}s before it (from {_value(rule.floor, rule.metric, page)} up), "
        f"as <code>usage check {_e(rule.label)}</code> decides"
    )
    if not page.spikes:
        body = f"<p>No spikes: no {words}.</p>"
    else:
        rows = [
            f'<tr data-bucket="{_e(s.bucket)}"><th scope="row">{_e(s.bucket)}</th>'
            f"<td>{_e(s.type or '(none)')}</td>"
            f'<td class="num">{_e(_value(s.value, rule.metric, page))}</td>'
            f'<td class="num">{_e(_value(s.median, rule.metric, page))}</td></tr>'
            for s in page.spikes[:SPIKES_LISTED]
        ]
        more = len(page.spikes) - SPIKES_LISTED
        tail = f"<p>and {more:,} more.</p>" if more > 0 else ""
        body = (
            f'<p class="callout">{plural(len(page.spikes), "spike")}: {words}.</p>'
            f'<table id="spikes"><thead><tr><th scope="col">{page.unit.title()}</th>'
            f'<th scope="col">Type</th><th scope="col" class="num">{rule.metric.title()}</th>'
            '<th scope="col" class="num">Median before</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>{tail}"
        )
    return f'<section aria-labelledby="h-spikes"><h2 id="h-spikes">Spikes</h2>{body}</section>'


def _value(value: Decimal, metric: str, page: Page) -> str:
    return shown_value(value, metric, page.currency)


def _unpriced(page: Page) -> str:
    if not page.unpriced:
        return ""
    items = "".join(
        f"<li><code>{_e(kind)}</code>: {_n(count)}</li>" for kind, count in page.unpriced.items()
    )
    total = sum(page.unpriced.values())
    return (
        '<section aria-labelledby="h-unpriced"><h2 id="h-unpriced">Unpriced usage</h2>'
        f'<p class="callout">A count of {_n(total)} has no price in the table, so the cost '
        "above leaves it out (it is not $0): add its types to a <code>--prices</code> file."
        f"</p><ul>{items}</ul></section>"
    )


def _evidence(page: Page) -> str:
    found = page.evidence
    prices = found.prices
    rows = [
        ("Query", f"<pre>{_e(json.dumps(found.query, ensure_ascii=False, indent=1))}</pre>"),
        ("Window", _e(page.span()) + f" ({_e(page.zone)} calendar for the buckets)"),
    ]
    if page.against is not None:
        rows.append(("Compared with", _e(page.against_said() or "")))
    rows.append(("Source", f"<code>{_e(found.source)}</code>"))
    if found.head is not None:
        rows.append(("Archive head", f"<code>{_e(found.head)}</code>"))
    if found.verified is not None:
        tone = "muted" if found.verified_ok is None else "down" if found.verified_ok else "up"
        rows.append(("Verify", f'<span class="{tone}">{_e(found.verified)}</span>'))
    rows += [
        ("Prices", f"{_e(prices.label())}<br>sha256 <code>{_e(prices.sha256)}</code>"),
        ("Tool", f"usage {_e(found.version)}"),
        ("Made at", f'<time datetime="{_e(found.made_at)}">{_e(found.made_at)}</time>'),
    ]
    body = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    return (
        '<section aria-labelledby="h-evidence"><h2 id="h-evidence">Evidence</h2>'
        f'<dl class="evidence" id="evidence">{body}</dl></section>'
    )
