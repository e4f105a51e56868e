"""`usage sync`."""

from typing import TYPE_CHECKING, Annotated, Literal

import typer

from usage_cli._text import plural
from usage_cli.cli._app import app
from usage_cli.cli._archive import archive_path, source_label, source_of_api
from usage_cli.cli._argv import BARE
from usage_cli.cli._invocation import Invocation, invocation
from usage_cli.cli._options import GLOBAL_NOTE, OUTPUT_PANEL, PAGING_PANEL, DemoOpt
from usage_cli.cli._typer_internals import Command
from usage_cli.errors import InputError, Interrupted, UsageCliError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from usage_cli.archive import Archive, SyncProgress
    from usage_cli.reading import PageSource
    from usage_cli.settings import Settings

SYNC_EPILOG = """\
Examples:

\b
  usage sync --demo --db demo.db
  usage sync                       (into $USAGE_DB or the default)
  usage sync --profile prod -q     (cron: a line only on failure)
  usage list --db --bot-id bot_1   (then read it offline)
  usage sync -q -o json            (the run as JSON: usage schema sync)
"""
SyncFormat = Literal["text", "json"]


@app.command(
    "sync",
    cls=Command,
    short_help="Copy every record into a local archive",
    epilog=SYNC_EPILOG + GLOBAL_NOTE,
)
def sync_command(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="PATH",
            help="The archive to fill [default: $USAGE_DB, else archive.sqlite3 in the user "
            "data directory].",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="NAME",
            help="The name these records are kept under in the archive [default: the "
            "profile's name, else the API's host; +RUN_AS with --run-as].",
            show_default=False,
        ),
    ] = None,
    demo: DemoOpt = False,
    streams: Annotated[
        int | None,
        typer.Option(
            "--streams",
            metavar="1|2",
            help="1: one chain of pages. 2: both ends of the list at once, on two "
            "connections (about half the time at real latency; the same archive). Default: "
            "one chain, and the far end too once pages come slowly. Only a first sync, or "
            "finishing a stopped one, reads down to the end of the list.",
            rich_help_panel=PAGING_PANEL,
            show_default=False,
        ),
    ] = None,
    sign: Annotated[
        str | None,
        typer.Option(
            "--sign",
            metavar="KEYFILE",
            help="Sign the run with this SSH private key (ssh-keygen -Y sign, namespace "
            "usage-audit): `usage verify ARCHIVE --signers` then names who synced each run.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        SyncFormat,
        typer.Option(
            "--format",
            "-o",
            help="text (notes on stderr only), or json: the run as a document on stdout "
            "(usage schema sync). A run that fails writes none.",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = "text",
) -> None:
    """Copy every record the token can see into a local archive: only what is new, with no gaps.

    Records are kept as the API sent them, committed about every half second; an
    interrupted sync is finished by the next. Read the archive offline with
    --db on list, summary and export; check it with `usage verify ARCHIVE`.
    """
    import errno

    from usage_cli._files import reason
    from usage_cli._lock import TargetLock
    from usage_cli.archive import READ_ONLY, discard_if_empty, lock_path, refuse_place

    if streams is not None and streams not in (1, 2):
        raise InputError(
            f"--streams takes 1 or 2, not {streams}",
            hint="2 reads the list from both ends at once; 1 reads it as one chain",
        )
    run = invocation(ctx)
    if source is not None and not source.strip():
        raise InputError("--source must not be empty")
    if source is not None and not source.isprintable():
        raise InputError(
            "--source must be printable text: no control characters or line breaks",
            hint="a source's name is shown in messages and tables, as `verify` and `--db` read it",
        )
    key = None
    if sign is not None:
        from pathlib import Path

        from usage_cli.evidence import check_signing_key

        key = Path(sign).expanduser()
        check_signing_key(key, interactive=run.runtime.stdin_tty)
    if demo and (db is None or db == BARE):
        # Demo records in the real default archive would sit beside an account's own.
        from usage_cli.archive._file import DB_ENV

        # $USAGE_DB names the user's own archive: demo records never go there either.
        env = run.runtime.env
        told = f" (${DB_ENV} names your own archive, not a demo's)" if DB_ENV in env else ""
        raise InputError(
            f"usage sync --demo needs an archive of its own: name one with --db{told}",
            hint="e.g. usage sync --demo --db demo.db",
        )
    settings = run.settings()
    path = archive_path(run.runtime.env, db)
    if db is None or db == BARE:
        # The default archive's folder is made on first use; a typed one never is.
        _make_folder(path.parent)
    refuse_place(path)
    label = source or source_label(settings, demo=demo)
    # `https://host/` and `https://host` are one API, as online.
    api_url = "demo" if demo else settings.api_url.rstrip("/")
    with run.clients(settings, demo=demo) as connect:
        client = connect()
        # Every refusal comes before the first request: the client checks the
        # token when it is made, the archive its file when it is opened.
        try:
            lock = TargetLock.acquire(lock_path(path), str(path), doing="sync into")
        except OSError as error:
            if path.exists():
                # The lock beside it cannot be had: a read-only mount, most often, or
                # a lock another user made (`reason` names the lock's file).
                raise InputError(
                    f"cannot sync into {path}: {reason(error)}",
                    hint=READ_ONLY if error.errno == errno.EROFS else None,
                ) from None
            raise InputError(f"cannot create an archive at {path}: {error.strerror}") from None
        with lock:
            created = not path.exists()
            try:
                done, stored, head, label = _sync(
                    run,
                    settings,
                    path,
                    label,
                    api_url,
                    client,
                    # A second connection reads from the list's far end (`--streams`);
                    # by default only once the API is found slow, where it pays.
                    trail=None if streams == 1 else connect,
                    when_slow=streams is None,
                    demo=demo,
                    named=source is not None,
                    key=key,
                )
            except _StoppedAfterTheRun:
                raise  # the run is complete: what it stored stays, however little
            except BaseException:
                if created:
                    discard_if_empty(path)
                raise
        if output_format == "json":
            import json

            from usage_cli.archive import sync_json

            document = sync_json(
                done,
                path=path,
                source=label,
                api=api_url,
                stored=stored,
                head=head,
                signed=key is not None,
            )
            run.runtime.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


# From how many new records the index build is long enough (a second or so) to say.
_SAY_INDEXING = 100_000


def _sync(
    run: Invocation,
    settings: "Settings",
    path: "Path",
    label: str,
    api_url: str,
    client: "PageSource",
    *,
    trail: "Callable[[], PageSource] | None",
    when_slow: bool,
    demo: bool,
    named: bool = False,
    key: "Path | None" = None,
) -> "tuple[SyncProgress, int, bytes, str]":
    """One sync into the archive at `path` (its lock held): its figures, what the archive
    holds of the source, the archive's head, and the source's label (an archive's
    source of this API when `label` was not `named` by --source and is new to it).
    With `key`, the run is signed once it has ended (its seal is final then), before the
    archive is indexed."""
    from usage_cli._version import __version__
    from usage_cli.archive import Archive, Sync
    from usage_cli.cli._progress import run_progress
    from usage_cli.query import to_ms

    runtime = run.runtime
    # An older archive is migrated as it opens (about 20 s a million records):
    # said on stderr first, or the wait would pass in silence.
    with Archive.open(path, create=True, on_note=None if settings.quiet else run.say) as archive:
        if not named:
            label = source_of_api(
                archive, label, api_url, settings.run_as, None if demo else settings.token
            )
        found = archive.bind_source(label, api_url, settings.run_as, to_ms(runtime.now()))
        run.note(f"syncing {label} into {path}")
        with run_progress(
            runtime, settings.quiet, None, color=run.color(), doing="syncing"
        ) as progress:
            sync = Sync(
                archive,
                found,
                client,
                now_ms=lambda: to_ms(runtime.now()),
                version=__version__,
                token=None if demo else settings.token,
                on_page=progress.update,
                trail=trail,
                when_slow=when_slow,
                clock=runtime.monotonic,
                on_note=None if settings.quiet else progress.say,
            )
            if sync.token_changed:
                progress.say(
                    f"warning: the token differs from the one the last sync of {label!r} "
                    f"used; if it belongs to another account, {_elsewhere(settings, named)}"
                )
            try:
                done = sync.run()
            except KeyboardInterrupt:
                kept = sync.progress.added
                raise Interrupted(
                    f"interrupted; every page synced so far is kept ({kept:,} new "
                    f"record{'s' * (kept != 1)})",
                    hint=_AGAIN,
                ) from None
            except UsageCliError as failed:
                if failed.hint is None and sync.progress.added:
                    failed.hint = "every page synced so far is kept; " + _AGAIN
                raise
        stored = archive.count(found)
        head = archive.anchor()
        # Told, then signed, as soon as the run has ended: the indexes a first sync
        # builds next take seconds over a million records, and a run stopped meanwhile
        # is complete all the same, so it must not be left unsigned, nor its head
        # unsaid; and a signature that fails (a key refused) must not take the head's
        # line with it.
        _say_done(run, done, path, stored, label, head)
        if key is not None:
            _sign_run(run, archive, done.run, key)
        if sync.indexing and done.added >= _SAY_INDEXING:
            # Said, so that a wait of seconds after the head is not taken for a hang.
            run.note(
                f"building the indexes of {path} (the sync is complete; if it is stopped "
                "now, the next sync builds them)"
            )
        try:
            sync.index()
        except KeyboardInterrupt:
            signed = ", signed" if key is not None else ""
            raise _StoppedAfterTheRun(
                "interrupted while indexing the archive; the sync itself is complete and "
                f"kept (sync run {done.run}{signed}, {done.added:,} new "
                f"record{'s' * (done.added != 1)})",
                hint="the next `usage sync` builds the indexes; reads meanwhile give the "
                "same answers, only slower",
            ) from None
        except UsageCliError as failed:
            # The disk refused the indexes (StorageError): the run is in the file all the same.
            failed.hint = (
                "the sync itself is complete and kept; see to the disk (space, permissions): "
                "the next `usage sync` builds the indexes"
            )
            raise
    return done, stored, head, label


class _StoppedAfterTheRun(Interrupted):
    """Ctrl-C or SIGTERM once the run had ended: while it was signed, or the archive's
    indexes were built. The sync itself is complete, and says so."""


def _say_done(
    run: Invocation, done: "SyncProgress", path: "Path", stored: int, label: str, head: bytes
) -> None:
    """What a run that has ended did, and the archive's head."""
    from usage_cli.columns import iso_ms

    for oldest in done.lost:
        below = iso_ms(oldest) if oldest is not None else "the oldest record synced"
        run.say(
            f"warning: the API no longer continues the list below {below}, where an "
            "interrupted sync stopped; records older than that and newer than the "
            "next stored stretch cannot be fetched any more (`usage verify` shows the gap)"
        )
    closed = ""
    if done.resumed:
        closed = f", closing {plural(done.resumed, 'gap')} an interrupted sync left"
    run.note(
        f"synced {done.added:,} new records in {plural(done.requests, 'request')}{closed}; "
        f"{path} holds {stored:,} records of {label}"
    )
    # Kept elsewhere (a CI log, a ticket), it proves a later copy of the archive
    # still holds this run: nothing rolled back, nothing rewritten before it.
    run.note(
        f"chain head {head.hex()}; kept elsewhere, it lets `usage verify --expect-head` "
        f"prove that a later copy of {path} still holds this run"
    )


def _elsewhere(settings: "Settings", named: bool) -> str:
    """How to keep another account's records apart: a source of their own. A run under a
    profile (or --source) took its source's name from it, so advice to use one is what
    it already did: a profile whose token was replaced by another account's still names
    the first account's source."""
    if named or settings.profile is not None:
        return "sync it under a source of its own with --source NAME"
    return "sync it under its own --source NAME or --profile"


def _sign_run(run: Invocation, archive: "Archive", number: int, key: "Path") -> None:
    """Sign run `number`'s seal with `key`, kept in the archive beside it."""
    from usage_cli.archive import keep_signature, run_message
    from usage_cli.evidence import sign_bytes

    what = f"sync run {number}"
    unsigned = (
        f"`usage verify --signers` will say {what} is not signed until a signed sync follows it"
    )
    try:
        signature = sign_bytes(run_message(archive.connection, number), key, what=what)
        with archive.transaction() as db:
            keep_signature(db, number, signature)
    except InputError as failed:
        failed.hint = f"the sync is complete and kept, unsigned; {unsigned}"
        raise
    except KeyboardInterrupt:
        # A security key's touch awaited, say: the records are all in, and stay.
        raise _StoppedAfterTheRun(
            f"interrupted while signing {what}; the sync itself is complete and kept, unsigned",
            hint=unsigned,
        ) from None
    run.note(f"signed {what} with {key.name}")


_AGAIN = "run the same `usage sync` again: it finishes what this one left"


def _make_folder(folder: "Path") -> None:
    try:
        # 0700, as the config's folder: the archive in it is the user's alone.
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the folder {folder}: {error.strerror}") from None
