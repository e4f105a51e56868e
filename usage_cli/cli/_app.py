"""The Typer app, its global options, and what every command shares.

Heavy modules (httpx, pydantic, rich) are imported inside the commands so that
`usage --help` and TAB completion start fast.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TextIO, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from usage_cli._progress import say as _say
from usage_cli._version import __version__
from usage_cli.errors import InputError
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
