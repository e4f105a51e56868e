"""What a command needs besides its own flags: the runtime, the global options, and
the settings, client and query built from them.

`run()` puts an `Invocation` on the root context; the root callback adds the
global options; every command reads both through `invocation(ctx)`.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from usage_cli._text import EscapingStream
from usage_cli.display import Display
from usage_cli.errors import AuthError, InputError
from usage_cli.formats import Format
from usage_cli.relations import TABLE
from usage_cli.runtime import Runtime
from usage_cli.settings import DEFAULT_RETRIES, DEFAULT_TIMEOUT, Settings, resolve

if TYPE_CHECKING:
    from pathlib import Path

    from usage_cli.archive import Archive, Source
    from usage_cli.client import Client
    from usage_cli.prices import PriceTable
    from usage_cli.query import Query
    from usage_cli.reading import PageSource


@dataclass(frozen=True)
class Reading:
    """Where a reading command's records come from: the API (or --demo) or an archive."""

    pages: PageSource
    # What the records' manifest names as their origin.
    root: str
    run_as: str | None
    # Another client of the same API on its own connection (closed with the
    # reading), for a second stream; None for an archive: no round trips to save.
    connect: Callable[[], PageSource] | None = None


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

        More than one is for reading a list from both ends at once (`export`).
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
                ignored = " (--api-url and the token are not used)" if self.options.api_url else ""
                self.note(
                    f"demo: {len(sandbox.records)} records from a built-in sandbox, "
                    f"no account{ignored}"
                )

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
        return prices.load(settings.prices, flag=flag)

    def archive_path(self, db: str | None) -> Path:
        """The archive `--db` names: its PATH, else $USAGE_DB, else the default one."""
        from pathlib import Path

        from usage_cli.archive import default_path
        from usage_cli.cli._argv import BARE

        if db == "":
            raise InputError(
                "--db needs a path, not an empty one",
                hint="give --db alone, with no value, for $USAGE_DB or the default archive",
            )
        return default_path(self.runtime.env) if db in (None, BARE) else Path(db).expanduser()

    def source_label(self, settings: Settings, *, demo: bool = False) -> str:
        """The archive's name for the records these settings read: profile, or API host,
        with the run-as user."""
        from urllib.parse import urlsplit

        if demo:
            return "demo"
        base = settings.profile or urlsplit(settings.api_url).netloc or settings.api_url
        return f"{base}+{settings.run_as}" if settings.run_as else base

    def archive_source(self, archive: Archive, settings: Settings, chosen: str | None) -> Source:
        """The source of `archive` a read narrows to: `--source`, else the only one, else
        the one these settings sync into."""
        sources = archive.sources()
        labels = ", ".join(source.label for source in sources)
        if chosen is not None:
            found = archive.source(chosen)
            if found is None:
                raise InputError(
                    f"--source {chosen!r}: the archive {archive.path} has no such source",
                    hint=f"its sources: {labels}" if sources else "it holds nothing yet",
                )
            return found
        if not sources:
            raise InputError(
                f"the archive {archive.path} holds no records yet",
                hint=f"fill it with: usage sync --db {archive.path}",
            )
        named = settings.run_as is not None or settings.profile is not None
        if len(sources) == 1 and not named:
            return sources[0]
        label = self.source_label(settings)
        found = archive.source(label)
        if found is None and named:
            # --run-as or a profile names whose records to read: never another's.
            raise InputError(
                f"the archive {archive.path} has no source {label!r} (its sources: {labels})",
                hint="sync it first, or pick a source with --source NAME",
            )
        if found is None:
            raise InputError(
                f"the archive {archive.path} holds several sources ({labels})",
                hint="pick one with --source NAME",
            )
        return found

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
                yield Reading(connect(), root, settings.run_as, connect=connect)
            return
        if demo:
            raise InputError(
                "--db and --demo cannot be used together: --db reads the archive, --demo a "
                "built-in sandbox"
            )
        from usage_cli.archive import Archive, ArchiveReader

        with Archive.open(self.archive_path(db)) as archive:
            chosen = self.archive_source(archive, settings, source)
            self._warn_of_gaps(archive, chosen)
            root = f"archive:{archive.path}#{chosen.label}"
            yield Reading(ArchiveReader(archive, chosen), root, chosen.run_as)

    def _warn_of_gaps(self, archive: Archive, source: Source) -> None:
        """An archive read while a sync is open reads a stretch with a hole in it: say so."""
        from usage_cli.columns import iso_ms

        gaps = archive.gaps(source)
        if not gaps:
            return
        state = "is running" if archive.sync_running() else "was interrupted"
        for segment, below in gaps:
            top = "?" if segment.oldest is None else iso_ms(segment.oldest)
            bottom = "the start" if below is None or below.newest is None else iso_ms(below.newest)
            self.note(
                f"warning: a sync of {source.label} {state}: records from {bottom} to {top} "
                "may be missing from the archive"
            )
        if state == "was interrupted":
            self.note(f"hint: run `usage sync --db {archive.path}` to finish it")

    def data_bytes(self, fmt: Format) -> BinaryIO:
        """stdout for data of `fmt` as bytes; on a terminal, API control codes escaped."""
        stdout = self.runtime.stdout
        stdout.flush()
        if not self.runtime.stdout_tty:
            return stdout.buffer
        # Someone reads a terminal: API data must not drive it.
        return EscapingStream(stdout.buffer, json=fmt in (Format.json, Format.jsonl))

    @contextlib.contextmanager
    def data_stream(self, fmt: Format) -> Iterator[TextIO]:
        """stdout as UTF-8 with no newline translation, whatever the locale says."""
        stdout = self.runtime.stdout
        if getattr(stdout, "buffer", None) is None:
            yield stdout
            return
        stream = io.TextIOWrapper(self.data_bytes(fmt), encoding="utf-8", newline="")
        try:
            yield stream
            stream.flush()
        finally:
            stream.detach()

    def color(self) -> bool:
        """Whether what goes to a terminal may carry colour and styles.

        Off with `--no-color`, `NO_COLOR` set to anything (no-color.org) or a
        `TERM=dumb` terminal, which cannot show them.
        """
        env = self.runtime.env
        return not (self.options.no_color or env.get("NO_COLOR") or env.get("TERM") == "dumb")

    def display(self, settings: Settings, *, wide: bool = False) -> Display:
        """How tables (and CSV, under `--tz`) show records to this run's reader."""
        from usage_cli import zones

        zone = zones.zone(settings.tz, self.runtime.env)
        fits = self.runtime.stdout_tty and not wide
        return Display(
            width=self.runtime.width if fits else None,
            color=self.runtime.stdout_tty and self.color(),
            zone=zone,
            zone_name=zones.label(settings.tz, zone),
            csv_zone=self.options.tz is not None,
            quiet=settings.quiet,
        )

    def query(self, params: dict[str, Any], *, now: datetime | None = None) -> Query:
        """The validated query of a record-reading command, from its parsed parameters."""
        from usage_cli.query import Query

        return Query.from_words(
            filters={relation.attribute: _one(params[relation.parameter]) for relation in TABLE},
            meta=params["meta"],
            order=params["order"],
            take=params["take"],
            cursor=params.get("cursor"),
            since=params["since"],
            until=params["until"],
            now=now or self.runtime.now(),
        )


def _token_hint(settings: Settings) -> str:
    """Where the refused token came from, so the user fixes the right one."""
    source = settings.sources.get("token", "somewhere unknown")
    hint = f"the token came from {source}; check it"
    if settings.run_as:
        hint += f", and --run-as {settings.run_as!r} ({settings.sources.get('run_as', '')})"
    return hint


def _one(value: str | Sequence[str] | None) -> str | None:
    """A relation filter as the API takes it: several ids as one comma list."""
    if value is None or isinstance(value, str):
        return value
    return ",".join(value) if value else None


def invocation(ctx: Any) -> Invocation:
    found: Invocation = ctx.find_root().obj
    return found
