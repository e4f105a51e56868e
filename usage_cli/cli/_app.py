"""The Typer app and its global options.

Heavy modules (httpx, pydantic, rich) are imported inside the commands so that
`usage --help` and TAB completion start fast. This module and each command's go
without `from __future__ import annotations`: Typer reads the signatures at every
run, and would evaluate each annotation from its text (a test says why).
"""

from dataclasses import replace
from typing import Annotated

import typer

from usage_cli._defaults import DEFAULT_RETRIES, DEFAULT_TIMEOUT
from usage_cli._version import VERSION_LINE
from usage_cli.cli._invocation import GlobalOptions, Invocation
from usage_cli.cli._options import GLOBAL_PANEL
from usage_cli.cli._typer_internals import Group

app = typer.Typer(
    name="usage",
    cls=Group,
    help=(
        "Audit ChatBotKit usage records: list, export, verify and summarise what was "
        "billed, record by record, live or from a local archive.\n\n"
        "Try it with no account: usage list --demo"
    ),
    epilog=(
        "Examples:\n\n\b\n"
        "  usage list --demo\n"
        "  usage list --bot-id bot_1 --meta reason=retry --since 7d\n"
        "  usage export audit.csv --since 30d && usage verify audit.csv\n"
        "  usage sync && usage summary --db --by day\n"
        "  usage sandbox --port 8080"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(ctx: typer.Context, value: bool) -> None:
    if value:
        invocation: Invocation = ctx.find_root().obj
        invocation.runtime.stdout.write(VERSION_LINE)
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
        typer.Option(
            help="Seconds for each whole response: connecting, sending and reading all of it.",
            rich_help_panel=GLOBAL_PANEL,
        ),
    ] = DEFAULT_TIMEOUT,
    retries: Annotated[
        int,
        typer.Option(
            help="Retries of each request after a network error, a timeout, a 5xx, a cut "
            "response or a 429 (0: none). A 429 without Retry-After (the API's 60-second "
            "window) is waited out for at least 65 s, however many tries that takes.",
            rich_help_panel=GLOBAL_PANEL,
        ),
    ] = DEFAULT_RETRIES,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="Report retries and their waits on stderr (--debug: every request).",
            rich_help_panel=GLOBAL_PANEL,
            show_default=False,
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
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            metavar="ZONE",
            help="Time zone of shown times and of hour/day/week/month groups: an IANA name "
            "(Europe/Berlin), local or UTC [default: UTC]. CSV uses it too when given here.",
            rich_help_panel=GLOBAL_PANEL,
            show_default=False,
        ),
    ] = None,
    no_color: Annotated[
        bool,
        typer.Option(
            "--no-color",
            help="Plain text: no colours or styles (also NO_COLOR=1 or TERM=dumb).",
            rich_help_panel=GLOBAL_PANEL,
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    options = GlobalOptions(
        token=token,
        token_stdin=token_stdin,
        api_url=api_url,
        run_as=run_as,
        profile=profile,
        timeout=timeout,
        retries=retries,
        verbose=verbose,
        debug=debug,
        quiet=quiet,
        tz=tz,
        no_color=no_color,
    )
    ctx.obj = replace(ctx.obj, options=options)


def config_group(name: str, help_text: str) -> typer.Typer:
    """A group of subcommands under `usage NAME`, built like the root."""
    group = typer.Typer(cls=Group, help=help_text, no_args_is_help=True, rich_markup_mode=None)
    app.add_typer(group, name=name, short_help="Named profiles of settings, in a private file")
    return group
