"""Command-line wiring: parse, call the core, map errors to exit codes. Nothing else.

Heavy modules (httpx, pydantic, rich) are imported inside the commands so that
`usage --version` and `usage --help` start fast.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TextIO, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from usage_cli import __version__
from usage_cli._argv import hoist_global_options
from usage_cli._progress import say as _say
from usage_cli.completion import COMPLETE_VAR
from usage_cli.errors import InputError, Interrupted, UsageCliError, VerifyError
from usage_cli.query import DEFAULT_TAKE, Order
from usage_cli.settings import DEFAULT_RETRIES, DEFAULT_TIMEOUT, Settings, resolve

if TYPE_CHECKING:
    from usage_cli.client import Client
    from usage_cli.query import Query

DEFAULT_LIMIT = 20
FILTERS_PANEL = "Filters"
PAGING_PANEL = "Paging and time window"
OUTPUT_PANEL = "Output"
GLOBAL_PANEL = "Global options (also accepted after the command name)"
GLOBAL_NOTE = (
    "\n\nGlobal options (--token, --token-stdin, --api-url, --run-as, --profile, --timeout, "
    "--retries, -v, --debug, -q) work here too: see usage --help."
)


class Format(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class PipeClosed(Exception):
    """The reader of stdout went away (`usage list --all | head`)."""


def _format_grouped(command: Any, ctx: Any, formatter: Any) -> None:
    """Options in their panels (Filters, Output, ...), in plain text.

    Typer draws panels with rich, whose import alone costs more than the rest
    of `--help`; the same grouping in click's own formatter keeps help fast.
    """
    sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if param.param_type_name == "argument":
            title = "Arguments"
        else:
            title = getattr(param, "rich_help_panel", None) or "Options"
        sections.setdefault(title, []).append(record)
    for title, rows in sections.items():
        if rows:
            with formatter.section(title):
                formatter.write_dl(rows)


class _Command(TyperCommand):
    def invoke(self, ctx: Any) -> Any:
        # Typer turns EPIPE into exit 1; a closed pipe is a normal end for us.
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise PipeClosed from exc

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _format_grouped(self, ctx, formatter)


class _Group(TyperGroup):
    def format_options(self, ctx: Any, formatter: Any) -> None:
        _format_grouped(self, ctx, formatter)
        self.format_commands(ctx, formatter)


app = typer.Typer(
    name="usage",
    cls=_Group,
    help=(
        "Audit ChatBotKit usage records: list, export, verify and summarise what was "
        "billed, record by record.\n\n"
        "Try it with no account: usage list --demo"
    ),
    epilog=(
        "Examples:\n\n\b\n"
        "  usage list --demo\n"
        "  usage list --bot-id bot_1 --meta reason=retry --since 7d\n"
        "  usage export audit.csv --since 30d && usage verify audit.csv\n"
        "  usage sandbox --port 8080"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"usage {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    token: Annotated[
        str | None,
        typer.Option(
            help="API token (prefer CHATBOTKIT_API_TOKEN or --token-stdin: flags show in `ps`).",
            rich_help_panel=GLOBAL_PANEL,
            show_default=False,
        ),
    ] = None,
    token_stdin: Annotated[
        bool,
        typer.Option(
            "--token-stdin",
            help="Read the API token from the first line of standard input.",
            rich_help_panel=GLOBAL_PANEL,
        ),
    ] = False,
    api_url: Annotated[
        str | None,
        typer.Option(
            help="API root [env: CHATBOTKIT_API_URL; default: https://api.chatbotkit.com].",
            rich_help_panel=GLOBAL_PANEL,
            show_default=False,
        ),
    ] = None,
    run_as: Annotated[
        str | None,
        typer.Option(
            help="Act as this user (X-RunAs-User-Id) [env: CHATBOTKIT_API_RUNAS_USERID].",
            rich_help_panel=GLOBAL_PANEL,
            show_default=False,
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            help="Profile of the config file to use [env: USAGE_PROFILE; default: default].",
            rich_help_panel=GLOBAL_PANEL,
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(help="Seconds to wait for each response.", rich_help_panel=GLOBAL_PANEL),
    ] = DEFAULT_TIMEOUT,
    retries: Annotated[
        int,
        typer.Option(
            help="Retries per request on 429, 5xx and network errors.",
            rich_help_panel=GLOBAL_PANEL,
        ),
    ] = DEFAULT_RETRIES,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="Report requests and retries on stderr.",
            rich_help_panel=GLOBAL_PANEL,
        ),
    ] = 0,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Show tracebacks and request details.", rich_help_panel=GLOBAL_PANEL
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Only data and errors.", rich_help_panel=GLOBAL_PANEL),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = {
        "token": token,
        "token_stdin": token_stdin,
        "api_url": api_url,
        "run_as": run_as,
        "profile": profile,
        "timeout": timeout,
        "retries": retries,
        "verbose": verbose,
        "debug": debug,
        "quiet": quiet,
    }


def _settings(ctx: typer.Context) -> Settings:
    settings = resolve(**ctx.find_root().obj, stdin=sys.stdin)
    if not settings.quiet:
        for warning in settings.warnings:
            _say(f"warning: {warning}")
    return settings


@contextlib.contextmanager
def _client(settings: Settings, *, demo: bool) -> Iterator[Client]:
    """A client for the configured API, or for an in-process sandbox under --demo."""
    from usage_cli.client import Client, RetryPolicy

    on_event = _say if settings.verbose or settings.debug else None
    with contextlib.ExitStack() as stack:
        token, api_url = settings.token, settings.api_url
        if demo:
            from usage_cli.sandbox import Sandbox

            sandbox = stack.enter_context(Sandbox())
            token, api_url = sandbox.token, sandbox.url
            if not settings.quiet:
                _say(f"demo: {len(sandbox.records)} records from a built-in sandbox, no account")
        client = Client(
            token=token,
            api_url=api_url,
            run_as=settings.run_as,
            timeout=settings.timeout,
            retry=RetryPolicy(retries=settings.retries),
            on_event=on_event,
            debug=settings.debug,
        )
        yield stack.enter_context(client)


@contextlib.contextmanager
def _data_stream() -> Iterator[TextIO]:
    """stdout as UTF-8 with no newline translation, whatever the locale says."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        yield sys.stdout
        return
    sys.stdout.flush()
    stream = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    try:
        yield stream
        stream.flush()
    finally:
        stream.detach()


def _when(text: str | None, flag: str, now: datetime) -> datetime | None:
    from usage_cli.query import parse_when

    if text is None:
        return None
    try:
        return parse_when(text, now=now, end_of_day=flag == "--until")
    except InputError as exc:
        raise InputError(f"{flag}: {exc.message}", hint=exc.hint) from None


def _query(params: dict[str, Any], *, now: datetime | None = None) -> Query:
    """The validated query of a record-reading command, from its own parameters."""
    from usage_cli.query import FILTERS, Query, parse_meta

    now = now or datetime.now(UTC)
    return Query(
        **{attr: params["type_" if attr == "type" else attr] for attr in FILTERS},
        meta=parse_meta(params["meta"] or ()),
        order=params["order"],
        take=params["take"],
        cursor=params.get("cursor"),
        since=_when(params["since"], "--since", now),
        until=_when(params["until"], "--until", now),
    )


F = TypeVar("F", bound=Callable[..., Any])


def _command(name: str, **kwargs: Any) -> Callable[[F], F]:
    return app.command(name, cls=_Command, **kwargs)


# The filter options, shared by every command that reads records.
def _relation_option(label: str) -> Any:
    return typer.Option(
        help=f"Records of this {label} (several ids, comma-separated, match any).",
        rich_help_panel=FILTERS_PANEL,
    )


TypeOpt = Annotated[
    str | None,
    typer.Option(
        "--type", help="Usage type, e.g. OPENAI_GPT_4O_TOKEN.", rich_help_panel=FILTERS_PANEL
    ),
]
ConversationOpt = Annotated[str | None, _relation_option("conversation")]
MessageOpt = Annotated[str | None, _relation_option("message")]
TaskOpt = Annotated[str | None, _relation_option("task")]
ContactOpt = Annotated[str | None, _relation_option("contact")]
BlueprintOpt = Annotated[str | None, _relation_option("blueprint")]
BotOpt = Annotated[str | None, _relation_option("bot")]
DatasetOpt = Annotated[str | None, _relation_option("dataset")]
SkillsetOpt = Annotated[str | None, _relation_option("skillset")]
AbilityOpt = Annotated[str | None, _relation_option("ability")]
MetaOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--meta",
        metavar="KEY=VALUE",
        help="Match a metadata value; repeat for several keys (all must match).",
        rich_help_panel=FILTERS_PANEL,
        show_default=False,
    ),
]
OrderOpt = Annotated[
    Order,
    typer.Option(help="Newest first (desc) or oldest first (asc).", rich_help_panel=PAGING_PANEL),
]
TakeOpt = Annotated[
    int, typer.Option(help="Page size asked of the API.", rich_help_panel=PAGING_PANEL)
]
CursorOpt = Annotated[
    str | None,
    typer.Option(
        help="Start after this cursor (as printed by a previous run).", rich_help_panel=PAGING_PANEL
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        help="Only records created at or after this: ISO 8601 (UTC if no zone) or a span "
        "(30m, 12h, 7d).",
        rich_help_panel=PAGING_PANEL,
    ),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        help="Only records created at or before this; a bare date includes that whole day.",
        rich_help_panel=PAGING_PANEL,
    ),
]
DemoOpt = Annotated[
    bool,
    typer.Option("--demo", help="Use a built-in sandbox with demo records: no account needed."),
]

# The options every record-reading command shares: (parameter, annotation, default).
_RECORD_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("type_", TypeOpt, None),
    ("conversation_id", ConversationOpt, None),
    ("message_id", MessageOpt, None),
    ("task_id", TaskOpt, None),
    ("contact_id", ContactOpt, None),
    ("blueprint_id", BlueprintOpt, None),
    ("bot_id", BotOpt, None),
    ("dataset_id", DatasetOpt, None),
    ("skillset_id", SkillsetOpt, None),
    ("ability_id", AbilityOpt, None),
    ("meta", MetaOpt, None),
    ("order", OrderOpt, Order.desc),
    ("take", TakeOpt, DEFAULT_TAKE),
    ("since", SinceOpt, None),
    ("until", UntilOpt, None),
)


def _with_record_filters(func: F) -> F:
    """Give a command the shared filter, order, take and window options.

    Typer reads options from a function's signature; this one shows Typer the
    command's own parameters plus the shared ones, and hands the shared values
    to the command gathered in its `filters` parameter, so they are declared once.
    """
    own = inspect.signature(func, eval_str=True)
    kept = [
        parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for parameter in own.parameters.values()
        if parameter.name != "filters"
    ]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, kind, default in _RECORD_OPTIONS
    ]

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        filters = {name: kwargs.pop(name) for name, _, _ in _RECORD_OPTIONS}
        return func(filters=filters, **kwargs)

    parameters = [*kept[:1], *shared, *kept[1:]]  # the context first, then filters
    command.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command  # type: ignore[return-value]


LIST_EPILOG = """\
Examples:

\b
  usage list --demo
  usage list --bot-id bot_1 --meta reason=retry --since 7d
  usage list --all --type OPENAI_GPT_4O_TOKEN | jq .count
  usage list -o csv --columns id,type,count,meta.reason --limit 100
"""


@_command("list", epilog=LIST_EPILOG + GLOBAL_NOTE)
@_with_record_filters
def list_command(
    ctx: typer.Context,
    filters: dict[str, Any],
    cursor: CursorOpt = None,
    limit: Annotated[
        int | None,
        typer.Option(
            help=f"Stop after this many records [default: {DEFAULT_LIMIT}].",
            rich_help_panel=PAGING_PANEL,
            show_default=False,
        ),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every matching record.", rich_help_panel=PAGING_PANEL)
    ] = False,
    output_format: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-o",
            help="Output format [default: table on a terminal, jsonl otherwise].",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            help="Columns for csv and table, e.g. id,type,count,meta.reason (in a pipe, "
            "implies csv).",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = None,
    demo: DemoOpt = False,
) -> None:
    """List usage records, newest first: a table on a terminal, JSON lines in a pipe."""
    from usage_cli.columns import parse_columns
    from usage_cli.formats import Writer, make_writer
    from usage_cli.pages import iter_records

    query = _query(filters | {"cursor": cursor})
    if all_ and limit is not None:
        raise InputError("--limit and --all cannot be used together")
    if limit is not None and limit < 1:
        raise InputError(
            f"--limit must be at least 1, not {limit}", hint="use --all for every record"
        )
    if output_format:
        fmt = output_format.value
    elif sys.stdout.isatty():
        fmt = "table"
    else:
        # Picking columns asks for rows: in a pipe that means CSV, not JSON lines.
        fmt = "csv" if columns is not None else "jsonl"
    if columns is not None and fmt not in ("csv", "table"):
        raise InputError(f"--columns applies to csv and table output, not {fmt}")
    chosen = parse_columns(columns) if columns is not None else None
    settings = _settings(ctx)

    with _client(settings, demo=demo) as client:
        stream = iter_records(client, query, limit=None if all_ else (limit or DEFAULT_LIMIT))
        writer: Writer
        if fmt == "table":
            from usage_cli.formats.table import TableWriter

            writer = TableWriter(sys.stdout, chosen)
        else:
            sys.stdout.flush()
            writer = make_writer(fmt, sys.stdout.buffer, chosen)
        for batch in stream.batches():
            writer.write(batch.records)
        writer.close()
        if settings.quiet:
            return
        if stream.records == 0:
            _say("no records match")
        if not all_ and stream.records and stream.more_exist():
            if stream.next_cursor:
                _say(
                    f"showing the first {stream.records} records; more exist. "
                    f"Continue with --cursor {stream.next_cursor}, or use --all"
                )
            else:
                _say(f"showing the first {stream.records} records; more exist. Use --all")


EXPORT_EPILOG = """\
Examples:

\b
  usage export audit.csv --bot-id bot_1 --since 30d
  usage export usage-2026-01.jsonl.gz --since 2026-01-01 --until 2026-01-31
  usage export audit.csv --resume        (after an interruption, same options)
  usage export - -o jsonl --type CHATBOTKIT_TASK_RUN | gzip > runs.jsonl.gz
"""


@_command("export", epilog=EXPORT_EPILOG + GLOBAL_NOTE)
@_with_record_filters
def export_command(
    ctx: typer.Context,
    filters: dict[str, Any],
    path: Annotated[
        str,
        typer.Argument(
            metavar="PATH",
            help="Target file: .csv, .jsonl/.ndjson or .json, optionally .gz; - for stdout.",
            show_default=False,
        ),
    ],
    output_format: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-o",
            help="json, jsonl or csv; needed for - and otherwise taken from PATH.",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace PATH if it exists.", rich_help_panel=OUTPUT_PANEL),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted export of PATH from its last checkpoint.",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = False,
    demo: DemoOpt = False,
) -> None:
    """Export every matching record to a file, atomically, with a manifest to verify it by."""
    from usage_cli._progress import export_progress
    from usage_cli.export import Exporter, load_checkpoint, resolve_target, started_at

    fmt = output_format.value if output_format else None
    target = resolve_target(path, fmt, force=force, resume=resume)
    checkpoint = load_checkpoint(target) if resume else None
    if target.path is not None and not resume and not force and target.partial.exists():
        raise InputError(
            f"an interrupted export of {path!r} is waiting ({target.partial.name})",
            hint="continue it with --resume, or start over with --force",
        )
    query = _query(filters, now=started_at(checkpoint) if checkpoint else None)
    settings = _settings(ctx)
    if resume and checkpoint is None and not settings.quiet:
        _say(f"no interrupted export of {path} to resume; starting a new one")

    with _client(settings, demo=demo) as client, export_progress(settings, target.path) as progress:
        exporter = Exporter(
            client,
            query,
            target,
            started=started_at(checkpoint) if checkpoint else datetime.now(UTC),
            checkpoint=checkpoint,
            on_progress=progress.update,
            # The demo sandbox listens on a new port each run; name it instead.
            api_root="demo" if demo else settings.api_url,
        )
        try:
            manifest = exporter.run()
        except KeyboardInterrupt:
            if target.path is None:
                raise
            raise Interrupted(
                f"interrupted after {exporter.stats.records} records; "
                f"nothing was written to {path}",
                hint="rerun the same command with --resume to continue from the last page",
            ) from None
        except UsageCliError as exc:
            if target.path is not None and target.partial.exists():
                exc.hint = (exc.hint + "; " if exc.hint else "") + (
                    f"nothing was written to {path}; rerun with --resume to continue"
                )
            raise
        progress.done(manifest)


SUMMARY_EPILOG = """\
Examples:

\b
  usage summary --demo --by type
  usage summary --by bot --by day --since 7d --top 10
  usage summary --by meta.reason -o csv > reasons.csv
"""


class SummaryFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@_command("summary", epilog=SUMMARY_EPILOG + GLOBAL_NOTE)
@_with_record_filters
def summary_command(
    ctx: typer.Context,
    filters: dict[str, Any],
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            metavar="DIMENSION",
            help="Group by type, bot, conversation, task, contact, blueprint, dataset, "
            "skillset, ability, message, hour, day, week, month (UTC) or meta.KEY; "
            "repeatable [default: type].",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(
            help="Show the N largest groups and fold the rest into one '(other)' row.",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        SummaryFormat | None,
        typer.Option(
            "--format",
            "-o",
            help="table, json or csv [default: table on a terminal, json otherwise].",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    demo: DemoOpt = False,
) -> None:
    """Who used what: records and total count per group, largest first, with a grand total."""
    from usage_cli.pages import iter_records
    from usage_cli.summary import Summary, parse_by, write_csv, write_json

    query = _query(filters)
    dimensions = parse_by(by)
    if top is not None and top < 1:
        raise InputError(f"--top must be at least 1, not {top}")
    fmt = output_format.value if output_format else ("table" if sys.stdout.isatty() else "json")
    settings = _settings(ctx)
    with _client(settings, demo=demo) as client:
        summary = Summary(dimensions).add_all(iter_records(client, query))
    if fmt == "table":
        from usage_cli.formats.table import render_summary

        render_summary(summary, sys.stdout, top)
        return
    with _data_stream() as out:
        (write_json if fmt == "json" else write_csv)(summary, out, top)


VERIFY_EPILOG = """\
Examples:

\b
  usage verify audit.csv
  usage export audit.csv && usage verify audit.csv && upload audit.csv
"""


@_command("verify", epilog=VERIFY_EPILOG + GLOBAL_NOTE)
def verify_command(
    path: Annotated[str, typer.Argument(metavar="PATH", help="A file written by `usage export`.")],
) -> None:
    """Check an export against its manifest: hash, record count, duplicate ids. Offline."""
    from pathlib import Path

    from usage_cli.verify import verify

    report = verify(Path(path))
    if not report.ok:
        raise VerifyError(f"{path} does not match its manifest: " + "; ".join(report.problems))
    sha = report.manifest["file"]["sha256"]
    sys.stdout.write(
        f"ok: {path} matches its manifest ({report.records:,} records, sha256 {sha})\n"
    )


SANDBOX_EPILOG = """\
Examples:

\b
  usage sandbox --port 8080 --records 5000
  CHATBOTKIT_API_TOKEN=s3cret usage sandbox --rate-429 0.1 --latency 50
  usage sandbox --fail-every 503=3 --fail-every 429=7 --fail-every drop=11 --max-take 40
"""


@_command("sandbox", epilog=SANDBOX_EPILOG + GLOBAL_NOTE)
def sandbox_command(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 picks a free one).")] = 8080,
    records: Annotated[int, typer.Option(help="How many records to serve.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the generated records.")] = 1,
    anchor: Annotated[
        str | None,
        typer.Option(help="Newest possible createdAt (ISO 8601) [default: today 00:00 UTC]."),
    ] = None,
    latency: Annotated[float, typer.Option(help="Milliseconds added to every response.")] = 0.0,
    rate_429: Annotated[
        float, typer.Option("--rate-429", help="Share of requests answered 429 (0..1).")
    ] = 0.0,
    rate_5xx: Annotated[
        float, typer.Option("--rate-5xx", help="Share of requests answered 503 (0..1).")
    ] = 0.0,
    retry_after: Annotated[
        float,
        typer.Option(help="Retry-After seconds sent with an injected 429; below 0: none."),
    ] = 1.0,
    fail_every: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-every",
            metavar="KIND=N",
            help="Every Nth request fails: KIND is 429, 500, 502, 503, 504, drop (close "
            "the connection), html (a proxy's 502 page) or malformed (cut JSON). Repeatable.",
            show_default=False,
        ),
    ] = None,
    max_take: Annotated[
        int | None,
        typer.Option(help="Silently serve at most this many records a page.", show_default=False),
    ] = None,
    loop_after: Annotated[
        int | None,
        typer.Option(
            help="After this many pages, hand back the cursor it was given (a cursor loop).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve a local, seeded emulator of the usage-list endpoint on 127.0.0.1.

    The token it accepts is --token / CHATBOTKIT_API_TOKEN when set, else a
    printed sandbox token.
    """
    from usage_cli.query import parse_when
    from usage_cli.sandbox import DEFAULT_TOKEN, Sandbox
    from usage_cli.sandbox.server import Faults, parse_fault

    if not 0 <= port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, not {port}")
    if records < 0:
        raise InputError(f"--records must be 0 or more, not {records}")
    if latency < 0:
        raise InputError(f"--latency must be 0 or more, not {latency:g}")
    for flag, rate in (("--rate-429", rate_429), ("--rate-5xx", rate_5xx)):
        if not 0 <= rate <= 1:
            raise InputError(f"{flag} must be between 0 and 1, not {rate:g}")
    if rate_429 + rate_5xx > 1:
        raise InputError("--rate-429 and --rate-5xx add up to more than 1")
    settings = _settings(ctx)
    moment = parse_when(anchor) if anchor else None
    try:
        every = dict(parse_fault(text) for text in fail_every or ())
    except ValueError as exc:
        raise InputError(str(exc)) from None
    for flag, value in (("--max-take", max_take), ("--loop-after", loop_after)):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be at least 1, not {value}")
    faults = Faults(
        latency=latency / 1000,
        rate_429=rate_429,
        rate_5xx=rate_5xx,
        retry_after=retry_after if retry_after >= 0 else None,
        every=every,
        max_take=max_take,
        loop_after=loop_after,
        seed=seed,
    )
    try:
        sandbox = Sandbox(
            records=records,
            seed=seed,
            token=settings.token or DEFAULT_TOKEN,
            port=port,
            anchor=moment,
            faults=faults,
            log=None if settings.quiet else sys.stderr,
        )
    except OSError as exc:
        raise InputError(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror}",
            hint="pick another --port, or 0 for a free one",
        ) from None
    token_line = (
        "# token: the one you set with --token or CHATBOTKIT_API_TOKEN"
        if settings.token
        else f"export CHATBOTKIT_API_TOKEN={DEFAULT_TOKEN}"
    )
    try:
        sys.stdout.write(
            f"# usage sandbox: {records} records on {sandbox.url} (Ctrl-C to stop)\n"
            f"export CHATBOTKIT_API_URL={sandbox.url}\n{token_line}\n"
        )
        sys.stdout.flush()
        sandbox.serve_forever()
    except KeyboardInterrupt:
        # Stopping is how a server's run ends, not a failure: exit 0.
        if not settings.quiet:
            _say("sandbox stopped")
    finally:
        sandbox.stop()


config_app = typer.Typer(
    cls=_Group,
    help="Named profiles (token, api_url, run_as) in a private TOML file.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(config_app, name="config")

CONFIG_EPILOG = """\
Examples:

\b
  usage config set token < token-file            (the token never touches argv)
  usage config set api_url http://127.0.0.1:8080 --profile sandbox
  usage config show --profile sandbox
  usage config list
"""


@config_app.command("set", cls=_Command, epilog=CONFIG_EPILOG + GLOBAL_NOTE)
def config_set(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="token, api_url or run_as.", show_default=False)],
    value: Annotated[
        str | None,
        typer.Argument(help="The value; read from stdin when left out.", show_default=False),
    ] = None,
) -> None:
    """Set a value in a profile (--profile, default: default); the file is kept at mode 0600."""
    from usage_cli import config

    name = config.normalise_key(key)
    options = ctx.find_root().obj
    profile = config.check_profile_name(
        options["profile"] or os.environ.get(config.PROFILE_ENV) or config.DEFAULT_PROFILE
    )
    if value is None:
        value = sys.stdin.readline().strip()
    if not value.strip():
        raise InputError(f"no value given for {name}")
    if name == "token" and not options["quiet"] and len(sys.argv) > 1 and value in sys.argv:
        _say(
            "warning: a token on the command line shows in `ps` and shell history; "
            "`usage config set token` reads it from stdin instead"
        )
    if name == "api_url":
        from usage_cli.client import list_url

        list_url(value)
    path = config.config_path()
    profiles = config.load(path)
    profiles.setdefault(profile, {})[name] = value
    config.save(path, profiles)
    shown = config.mask(value) if name == "token" else value
    if not options["quiet"]:
        _say(f"set {name} = {shown} in profile {profile!r} ({path})")


@config_app.command("show", cls=_Command, epilog=CONFIG_EPILOG + GLOBAL_NOTE)
def config_show(ctx: typer.Context) -> None:
    """Show the settings a command would use, and where each comes from; the token masked."""
    from usage_cli import config

    obj = dict(ctx.find_root().obj, token_stdin=False)
    settings = resolve(**obj)
    for warning in settings.warnings:
        _say(f"warning: {warning}")
    rows = [
        ("profile", settings.profile or "(none)", str(config.config_path())),
        (
            "token",
            config.mask(settings.token) if settings.token else "(not set)",
            settings.sources.get("token", ""),
        ),
        ("api_url", settings.api_url, settings.sources.get("api_url", "default")),
        ("run_as", settings.run_as or "(not set)", settings.sources.get("run_as", "")),
    ]
    for key, value, source in rows:
        sys.stdout.write(f"{key:<8} {value}" + (f"    # {source}" if source else "") + "\n")


@config_app.command("list", cls=_Command, epilog=CONFIG_EPILOG + GLOBAL_NOTE)
def config_list() -> None:
    """List the profiles in the config file and the settings each holds."""
    from usage_cli import config

    path = config.config_path()
    profiles = config.load(path)
    if not profiles:
        _say(f"no profiles yet in {path}; add one with `usage config set KEY VALUE`")
        return
    for name in sorted(profiles):
        sys.stdout.write(f"{name}\t{', '.join(k for k in config.KEYS if k in profiles[name])}\n")


# Error handling: the one place where exceptions become exit codes -------------


def _error(message: str, hint: str | None = None) -> None:
    _say(f"error: {message}")
    if hint:
        _say(f"hint: {hint}")


def run(args: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    argv = list(sys.argv[1:] if args is None else args)
    debug = "--debug" in argv
    if COMPLETE_VAR in os.environ:
        from usage_cli.completion import enable

        enable()
    command: Any = typer.main.get_command(app)
    if hasattr(command, "commands"):
        argv = hoist_global_options(argv, command)
    try:
        result = command.main(argv, prog_name="usage", standalone_mode=False)
    except UsageCliError as exc:
        if debug:
            traceback.print_exc()
        _error(exc.message, exc.hint)
        return exc.exit_code
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            typer.echo(exc.format_message(), err=True)
        else:
            _error(exc.format_message().replace("\n", " "), _usage_hint(exc))
        return exc.exit_code
    except PipeClosed:
        # Point stdout at /dev/null so the interpreter's final flush stays quiet.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (KeyboardInterrupt, typer.Abort):
        _error("interrupted")
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _error(
            f"unexpected internal error: {type(exc).__name__}: {exc}",
            None if debug else "rerun with --debug for details, and report it",
        )
        return 1
    if result == 130:
        _error("interrupted")
    return result if isinstance(result, int) else 0


def _usage_hint(exc: Exception) -> str | None:
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return "try 'usage --help'"
    return f"try '{ctx.command_path} --help'"


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM ends a run the way Ctrl-C does: cleanly, resumably, exit 130.
    raise KeyboardInterrupt


def main() -> NoReturn:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(run())
