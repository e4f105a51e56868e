"""What a command needs besides its own flags: the runtime and the global options, and
the things built from them on demand (settings, clients, the records' source, prices,
the display), as gh's `Factory` does.

`run()` puts an `Invocation` on the root context; the root callback adds the
global options; every command reads both through `invocation(ctx)`. What only
some commands do with these lives with them: choosing an archive and its
source (`cli._archive`), writing data to stdout (`cli._output`), the query
from the filter options (`cli._options.query_of`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from usage_cli._defaults import DEFAULT_RETRIES, DEFAULT_TIMEOUT
from usage_cli.errors import AuthError, InputError
from usage_cli.runtime import Runtime

if TYPE_CHECKING:
    from usage_cli.client import Client
    from usage_cli.display import Display
    from usage_cli.prices import PriceTable
    from usage_cli.reading import PageSource
    from usage_cli.settings import Settings


@dataclass(frozen=True)
class Reading:
    """Where a reading command's records come from: the API (or --demo) or an archive."""

    pages: PageSource
    # What the records' manifest names as their origin.
    root: str
    run_as: str | None


@dataclass(frozen=True)
class GlobalOptions:
    """The options every command accepts, as typed (before env and profile)."""

    token: str | None = None
    token_stdin: bool = False
    api_url: str | None = None
    run_as: str | None = None
    profile: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    verbose: int = 0
    debug: bool = False
    quiet: bool = False
    tz: str | None = None
    no_color: bool = False

    def __repr__(self) -> str:
        return f"GlobalOptions(token={'***' if self.token else None!r}, api_url={self.api_url!r})"


@dataclass(frozen=True)
class Invocation:
    runtime: Runtime
    options: GlobalOptions = GlobalOptions()
    # The words as typed after `usage`: what a hint that repeats the command starts from.
    words: tuple[str, ...] = ()

    def say(self, message: str) -> None:
        self.runtime.say(message)

    def note(self, message: str) -> None:
        """A line for a person, unless --quiet."""
        if not self.options.quiet:
            self.runtime.say(message)

    def settings(self, *, read_stdin: bool = True, prices: str | None = None) -> Settings:
        """Flags, then environment, then profile; warnings said once, here.

        `prices` is the command's own `--prices`, which the other sources back up.
        """
        # Here, not at the top: help (the root's callback makes an Invocation) needs none.
        from usage_cli.settings import resolve

        options = asdict(self.options)
        if not read_stdin:
            options["token_stdin"] = False
        del options["no_color"]  # the terminal's business, not a setting of the API's
        settings = resolve(**options, prices=prices, env=self.runtime.env, stdin=self.runtime.stdin)
        for warning in settings.warnings:
            self.note(f"warning: {warning}")
        return settings

    @contextlib.contextmanager
    def client(
        self, settings: Settings, *, demo: bool, say: Callable[[str], None] | None = None
    ) -> Iterator[Client]:
        """A client for the configured API, or for an in-process sandbox under --demo.

        `say` takes the client's lines (retries, rate-limit waits) when something
        else owns stderr for now, such as a live progress display.
        """
        with self.clients(settings, demo=demo, say=say) as connect:
            yield connect()

    @contextlib.contextmanager
    def clients(
        self, settings: Settings, *, demo: bool, say: Callable[[str], None] | None = None
    ) -> Iterator[Callable[[], Client]]:
        """Opens clients of `client`'s API (each its own connection); all close at the end.

        More than one is for reading a list from both ends at once (`sync`).
        """
        from usage_cli.client import Client, RetryPolicy

        say = say or self.runtime.say
        verbose = settings.verbose or settings.debug
        with contextlib.ExitStack() as stack:
            token, api_url = settings.token, settings.api_url
            if demo:
                from usage_cli.sandbox import Sandbox

                sandbox = stack.enter_context(Sandbox())
                token, api_url = sandbox.token, sandbox.url
                typed = self.options
                given = typed.api_url or typed.token or typed.token_stdin
                ignored = " (--api-url and the token are not used)" if given else ""
                self.note(
                    f"demo: {len(sandbox.records):,} records from a built-in sandbox, "
                    f"no account{ignored}"
                )

            if not demo and token is None and settings.token_refused is not None:
                message, hint = settings.token_refused
                raise InputError(message, hint=hint)
            if not demo and self.runtime.transport is None:
                # Only the network transport crosses a network: an embedder's own
                # transport (a test's mock) answers in-process.
                from usage_cli.client._urls import refuse_cleartext

                refuse_cleartext(api_url, self.runtime.env)

            max_page = _max_page_bytes(self.runtime.env)

            def connect() -> Client:
                client = Client(
                    token=token,
                    api_url=api_url,
                    run_as=settings.run_as,
                    timeout=settings.timeout,
                    retry=RetryPolicy(retries=settings.retries),
                    transport=self.runtime.transport,
                    on_event=say if verbose else None,
                    on_wait=None if settings.quiet else say,
                    sleep=self.runtime.sleep,
                    now=self.runtime.now,
                    debug=settings.debug,
                    max_page_bytes=max_page,
                )
                return stack.enter_context(client)

            try:
                yield connect
            except AuthError as refused:
                if not demo and refused.refused_token:
                    refused.hint = _token_hint(settings)
                raise

    def prices(self, settings: Settings) -> PriceTable:
        """The price table in effect, checked whole before any request."""
        from usage_cli import prices

        source = settings.sources.get("prices", "--prices")
        flag = "--prices" if source == "--prices" else f"prices (from {source})"
        table = prices.load(settings.prices, flag=flag)
        for warning in table.warnings:
            self.note(f"warning: {warning}")
        return table

    @contextlib.contextmanager
    def reading(
        self,
        settings: Settings,
        *,
        demo: bool,
        db: str | None,
        source: str | None,
        say: Callable[[str], None] | None = None,
    ) -> Iterator[Reading]:
        """The pages a reading command reads: the archive under `--db`, else the API."""
        if db is None:
            if source is not None:
                raise InputError("--source goes with --db: it picks a source of the archive")
            with self.clients(settings, demo=demo, say=say) as connect:
                root = "demo" if demo else settings.api_url
                yield Reading(connect(), root, settings.run_as)
            return
        if demo:
            raise InputError(
                "--db and --demo cannot be used together: --db reads the archive, --demo a "
                "built-in sandbox"
            )
        from usage_cli.archive import Archive, ArchiveReader
        from usage_cli.cli._archive import archive_path, choose_source, gap_warnings

        with Archive.open(archive_path(self.runtime.env, db)) as archive:
            chosen = choose_source(archive, settings, source)
            for line in gap_warnings(archive, chosen):
                self.note(line)
            root = f"archive:{archive.path}#{chosen.label}"
            yield Reading(ArchiveReader(archive, chosen), root, chosen.run_as)

    def color(self) -> bool:
        """Whether what goes to a terminal may carry colour and styles.

        Off with `--no-color`, `NO_COLOR` set to anything (no-color.org) or a
        `TERM=dumb` terminal, which cannot show them.
        """
        return not self.options.no_color and self.runtime.colors(True)

    def display(self, settings: Settings, *, wide: bool = False) -> Display:
        """How tables (and CSV, under `--tz`) show records to this run's reader."""
        from usage_cli import zones
        from usage_cli.display import Display

        zone = zones.zone(settings.tz, self.runtime.env)
        fits = self.runtime.stdout_tty and not wide
        return Display(
            width=self.runtime.width if fits else None,
            # A terminal, or a pipe under CLICOLOR_FORCE.
            color=self.color() and self.runtime.colors(self.runtime.stdout_tty),
            zone=zone,
            zone_name=zones.label(settings.tz, zone),
            csv_zone=self.options.tz is not None,
            quiet=settings.quiet,
            now_ms=int(self.runtime.now().timestamp() * 1000),
        )


def _max_page_bytes(env: Mapping[str, str]) -> int:
    """The bound on a page's decoded body: USAGE_MAX_PAGE_MIB, else the client's default."""
    from usage_cli.client._client import MAX_PAGE_BYTES, MAX_PAGE_ENV

    text = env.get(MAX_PAGE_ENV)
    if not text:
        return MAX_PAGE_BYTES
    try:
        mib = float(text)
    except ValueError:
        mib = 0
    if not 0 < mib < 2**20:
        raise InputError(f"{MAX_PAGE_ENV}={text!r} is not a size in MiB (e.g. 256)")
    return int(mib * 2**20)


def _token_hint(settings: Settings) -> str:
    """Where the refused token came from, so the user fixes the right one."""
    source = settings.sources.get("token", "somewhere unknown")
    hint = f"the token came from {source}; check it"
    if settings.run_as:
        hint += f", and --run-as {settings.run_as!r} ({settings.sources.get('run_as', '')})"
    return hint


def invocation(ctx: Any) -> Invocation:
    found: Invocation = ctx.find_root().obj
    return found
