"""`usage report`."""

from typing import TYPE_CHECKING, Annotated, Literal

import typer

from usage_cli.cli._app import app
from usage_cli.cli._invocation import invocation
from usage_cli.cli._options import (
    GLOBAL_NOTE,
    OUTPUT_PANEL,
    PAGING_PANEL,
    AbilityOpt,
    BlueprintOpt,
    BotOpt,
    ContactOpt,
    ConversationOpt,
    DatasetOpt,
    DbOpt,
    DemoOpt,
    MessageOpt,
    MetaOpt,
    PricesOpt,
    SinceOpt,
    SkillsetOpt,
    SourceOpt,
    TakeOpt,
    TaskOpt,
    TypeOpt,
    UntilOpt,
    query_of,
)
from usage_cli.cli._typer_internals import Command
from usage_cli.errors import InputError, StorageError
from usage_cli.paging import DEFAULT_TAKE

if TYPE_CHECKING:
    from pathlib import Path

    from usage_cli.cli._invocation import Reading
    from usage_cli.prices import PriceTable
    from usage_cli.query import Query
    from usage_cli.reports.page import Evidence
    from usage_cli.summary import Summary

REPORT_EPILOG = """\
Examples:

\b
  usage report report.html --demo
  usage report usage.html --since 7d --compare previous
  usage report usage.md --window month --db       (last month, from the archive)
  usage report - -o markdown --since 1d >> "$GITHUB_STEP_SUMMARY"
"""
ReportFormat = Literal["html", "markdown"]
# The format of a target by its extension; anything else is refused before a request.
EXTENSIONS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown"}
# A report is of a window; with none given, the last 30 days (as `sandbox` data
# and the platform's own dashboard default to about a month).
DEFAULT_SINCE = "30d"


@app.command(
    "report",
    cls=Command,
    short_help="A page to read: offline HTML, or Markdown for a job",
    epilog=REPORT_EPILOG + GLOBAL_NOTE,
)
def report_command(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            metavar="PATH",
            help="Where the report goes: a .html or .md file (written whole or not at all), "
            "or - for stdout with -o.",
            show_default=False,
        ),
    ],
    type_: TypeOpt = None,
    conversation_id: ConversationOpt = None,
    message_id: MessageOpt = None,
    task_id: TaskOpt = None,
    contact_id: ContactOpt = None,
    blueprint_id: BlueprintOpt = None,
    bot_id: BotOpt = None,
    dataset_id: DatasetOpt = None,
    skillset_id: SkillsetOpt = None,
    ability_id: AbilityOpt = None,
    meta: MetaOpt = None,
    take: TakeOpt = DEFAULT_TAKE,
    since: SinceOpt = None,
    until: UntilOpt = None,
    window: Annotated[
        str | None,
        typer.Option(
            "--window",
            metavar="hour|day|month",
            help="Report the last whole hour, day or month (UTC) before now, instead of "
            f"--since/--until [default: --since {DEFAULT_SINCE}].",
            rich_help_panel=PAGING_PANEL,
            show_default=False,
        ),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            metavar="previous|SPAN|START..END",
            help="Set the window against another, as summary --compare does: the change "
            "in every headline figure, and the other period as a faint line on the chart.",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    spike: Annotated[
        str,
        typer.Option(
            "--spike",
            metavar="[METRIC:]FACTORx",
            help="Mark a bucket whose type is above FACTOR times its median over the "
            "--baseline buckets before it (check --spike's rule).",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = "3x",
    baseline: Annotated[
        int,
        typer.Option(
            "--baseline",
            metavar="N",
            help="How many earlier buckets a spike's median is taken over.",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = 7,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify/--no-verify",
            help="From an archive: prove it (usage verify) for the evidence block; "
            "--no-verify skips the proof, which reads every row and index "
            "(about 5 s for a million).",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = True,
    output_format: Annotated[
        ReportFormat | None,
        typer.Option(
            "--format",
            "-o",
            help="html or markdown [default: from PATH's extension; needed with -].",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    prices: PricesOpt = None,
    demo: DemoOpt = False,
    db: DbOpt = None,
    source: SourceOpt = None,
) -> None:
    """A page to read: one offline HTML file (chart, top bots and types, spikes, cost,
    evidence) or Markdown for a CI job summary."""
    from dataclasses import replace

    from usage_cli import check
    from usage_cli.cli._evidence import windowed
    from usage_cli.cli._summary import summarise_all
    from usage_cli.columns import iso_ms
    from usage_cli.compare import Window
    from usage_cli.compare import baseline as baseline_of
    from usage_cli.query import to_ms
    from usage_cli.reports import page as pages

    run = invocation(ctx)
    now = run.runtime.now()
    fmt = _format(path, output_format)
    target = _target(path)
    params = windowed({**ctx.params, "order": "desc"}, now)
    if window is None and since is None:
        params["since"] = DEFAULT_SINCE
    query = query_of(params, now=now)
    rule = check.parse_spike(spike, floor=None, windows=baseline)
    if not verify and db is None:
        raise InputError("--no-verify goes with --db: only an archive is verified")
    made_at = pages.made_at(run.runtime.env, now)
    assert query.since_ms is not None
    end = query.until_ms if query.until_ms is not None else int(now.timestamp() * 1000)
    if end < query.since_ms:
        raise InputError("the window ends before it starts: --until is before --since")
    span = Window(query.since_ms, end)
    # Both ends as the window has them, to the millisecond (`--since 30d` is now less
    # 30 days, to the microsecond): what the evidence shows is what was read.
    query = replace(query, since=span.moments()[0], until=span.moments()[1])
    against = None if compare is None else baseline_of(span, compare)
    settings = run.settings(prices=prices)
    table = run.prices(settings)
    display = run.display(settings)
    zone = display.zone
    unit = pages.unit_for(span)
    labels = pages.labels(span, unit, zone)
    history_span = pages.before(span, unit, rule.windows)
    # A window starting inside a bucket shares its label with the history's last: that
    # bucket is the window's, and its earlier part no history.
    history = [label for label in pages.labels(history_span, unit, zone) if label not in labels]
    archive = db is not None

    def within(other: Window) -> "Query":
        since_at, until_at = other.moments()
        return replace(query, since=since_at, until=until_at)

    def grouped(
        reading: "Reading", query: "Query", groupings: list[tuple[str, ...]]
    ) -> "list[Summary]":
        return summarise_all(reading, query, groupings, zone, table, archive=archive)

    with run.reading(settings, demo=demo, db=db, source=source) as reading:
        by_type, by_bot, series = grouped(reading, query, [("type",), ("bot",), (unit, "type")])
        (earlier,) = grouped(reading, within(history_span), [(unit, "type")])
        previous_type = previous_series = None
        previous_labels: list[str] = []
        if against is not None:
            previous_type, previous_series = grouped(reading, within(against), [("type",), (unit,)])
            previous_labels = pages.labels(against, unit, zone)
        # The query as it selects records: the filters given and the window; paging
        # (take, order, cursor) changes how they are read, not which.
        selects = {
            name: value
            for name, value in query.to_dict().items()
            if value not in (None, {}) and name not in {"take", "order", "cursor"}
        }
        # The window's edges as the page writes times: to the millisecond.
        for name, edge in (("since", query.since), ("until", query.until)):
            if edge is not None:
                selects[name] = iso_ms(to_ms(edge))
        evidence = _evidence(reading, selects, table, made_at, archive=archive, verify=verify)
    inputs = pages.Inputs(
        by_type=by_type,
        by_bot=by_bot,
        series=series,
        labels=labels,
        history_series=earlier,
        history=history,
        previous_by_type=previous_type,
        previous_series=previous_series,
        previous_labels=previous_labels,
    )
    page = pages.build(
        inputs,
        window=span,
        against=against,
        unit=unit,
        zone=display.zone_name,
        spike=rule,
        evidence=evidence,
    )
    if fmt == "html":
        from usage_cli.reports.html import render
    else:
        from usage_cli.reports.markdown import render
    text = render(page)
    if target is None:
        run.runtime.stdout.write(text)
        run.runtime.stdout.flush()
        return
    from usage_cli._files import reason, write_atomically

    try:
        write_atomically(target, text)
    except OSError as exc:
        # A disk that filled, a folder made read-only since the check: nothing at target.
        raise StorageError(f"cannot write the report {target}: {reason(exc)}") from None
    from usage_cli._text import plural

    spikes = f", {plural(len(page.spikes), 'spike')}" if page.spikes else ""
    run.note(
        f"report: {target} ({len(text.encode('utf-8', 'replace')):,} bytes; "
        f"{page.total['records']:,} records, {len(page.buckets)} {unit}s{spikes})"
    )


def _format(path: str, given: str | None) -> str:
    """html or markdown: `-o`, else the target's extension."""
    if given is not None:
        return given
    if path == "-":
        raise InputError("a report to stdout needs a format: -o html or -o markdown")
    from pathlib import PurePath

    suffix = PurePath(path).suffix.lower()
    if suffix not in EXTENSIONS:
        raise InputError(
            f"{path}: cannot tell the report's format from {suffix or 'a name with no extension'}",
            hint="name it .html or .md, or give -o html|markdown",
        )
    return EXTENSIONS[suffix]


def _target(path: str) -> "Path | None":
    """Where the report goes (None: stdout), refused before any request if it cannot go there."""
    if path == "-":
        return None
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise InputError(f"{path} is a folder: a report is one file", hint="e.g. report.html")
    from usage_cli._files import check_folder_for

    check_folder_for(target)
    return target


def _evidence(
    reading: "Reading",
    query: dict[str, object],
    table: "PriceTable",
    made_at: str,
    *,
    archive: bool,
    verify: bool,
) -> "Evidence":
    """What the page says of its source; from an archive, its head and `verify`'s verdict."""
    from usage_cli._version import __version__
    from usage_cli.reports.page import Evidence

    found = Evidence(dict(query), reading.root, table, __version__, made_at)
    if not archive:
        return found
    from dataclasses import replace

    from usage_cli.archive import ArchiveReader
    from usage_cli.verify.archive import verify_archive

    assert isinstance(reading.pages, ArchiveReader)
    found = replace(found, head=reading.pages.archive.anchor().hex())
    if not verify:
        path = reading.pages.archive.path
        return replace(found, verified=f"not verified (--no-verify): run usage verify {path}")
    report = verify_archive(reading.pages.archive)
    return replace(found, verified=report.verdict(), verified_ok=report.ok)
