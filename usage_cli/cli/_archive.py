"""Which archive a command means (`--db`), and which of its sources it reads or fills."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from usage_cli.errors import InputError

if TYPE_CHECKING:
    from pathlib import Path

    from usage_cli.archive import Archive, Source
    from usage_cli.settings import Settings


def archive_path(env: Mapping[str, str], db: str | None) -> Path:
    """The archive `--db` names: its PATH, else $USAGE_DB, else the default one."""
    from pathlib import Path

    from usage_cli.archive import default_path
    from usage_cli.cli._argv import BARE

    if db == "":
        raise InputError(
            "--db needs a path, not an empty one",
            hint="give --db alone, with no value, for $USAGE_DB or the default archive",
        )
    return default_path(env) if db in (None, BARE) else Path(db).expanduser()


def source_label(settings: Settings, *, demo: bool = False) -> str:
    """The archive's name for the records these settings read: profile, or API host,
    with the run-as user."""
    from urllib.parse import urlsplit

    if demo:
        return "demo"
    base = settings.profile or urlsplit(settings.api_url).netloc or settings.api_url
    return f"{base}+{settings.run_as}" if settings.run_as else base


def source_of_api(
    archive: Archive, label: str, api_url: str, run_as: str | None, token: str | None
) -> str:
    """`label`, or the label of the one source that already holds this API (as this
    run-as user) from this `token` when no source has that label: a profile made after
    the first syncs (named `default`) must not start a second copy of the same records
    beside the one named by the API's host, which every plain sum over the archive
    would count twice. Only the same token's: another token may be another account,
    whose records in that source would join its stretches, unseen by `verify`."""
    from usage_cli.archive import synced_with

    if archive.source(label) is not None:
        return label
    api = api_url.rstrip("/")
    same = [
        s
        for s in archive.sources()
        if (s.api_url, s.run_as) == (api, run_as) and synced_with(archive, s, token)
    ]
    return same[0].label if len(same) == 1 else label


def choose_source(archive: Archive, settings: Settings, chosen: str | None) -> Source:
    """The source of `archive` a read narrows to: `--source`, else the only one, else
    the one these settings sync into."""
    sources = archive.sources()
    labels = ", ".join(source.shown for source in sources)
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
    # With no token (a read needs none), which source holds this account's records
    # cannot be told: such a read names its source, or is refused below.
    label = source_of_api(
        archive, source_label(settings), settings.api_url, settings.run_as, settings.token
    )
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


def gap_warnings(archive: Archive, source: Source) -> list[str]:
    """An archive read while a sync is open reads a stretch with a hole in it: the lines
    that say so (none when it has no hole)."""
    from usage_cli.columns import iso_ms

    gaps = archive.gaps(source)
    if not gaps:
        return []
    lines = []
    state = "is running" if archive.sync_running() else "was interrupted"
    for segment, below in gaps:
        top = "?" if segment.oldest is None else iso_ms(segment.oldest)
        bottom = "the start" if below is None or below.newest is None else iso_ms(below.newest)
        lines.append(
            f"warning: a sync of {source.shown} {state}: records from {bottom} to {top} "
            "may be missing from the archive"
        )
    if state == "was interrupted":
        lines.append(f"hint: run `usage sync --db {archive.path}` to finish it")
    return lines
