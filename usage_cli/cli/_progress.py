"""The progress of a run (an export, a sync) on stderr: live on a terminal, else a line."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from usage_cli._text import for_terminal
from usage_cli.runtime import Runtime

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from usage_cli.export import Manifest, SetManifest
    from usage_cli.query import Query


class Progress(Protocol):
    """What a run has read so far: an export's, or a sync's."""

    @property
    def records(self) -> int: ...
    @property
    def pages(self) -> int: ...
    @property
    def oldest(self) -> int | None: ...
    @property
    def newest(self) -> int | None: ...


# Without colour or cursor movement, a plain line this often (seconds) instead.
PLAIN_EVERY = 2.0


@dataclass(frozen=True)
class Window:
    """The `--since/--until` span of an export, in epoch ms, and the order records come in."""

    since: int
    until: int
    ascending: bool = False

    @classmethod
    def of(cls, query: Query, started: datetime) -> Window | None:
        """An export's window: none without --since; without --until, it ends at the start."""
        if query.since_ms is None:
            return None
        from usage_cli.query import Order, to_ms

        end = query.until_ms if query.until_ms is not None else to_ms(started)
        return cls(query.since_ms, end, ascending=query.order is Order.asc)

    def covered(self, oldest: int | None, newest: int | None) -> float | None:
        """How far across the window the records written so far reach, 0 to 1.

        Newest first (the default), the oldest written record walks back from
        `until` towards `since`; oldest first, the newest walks forwards.
        """
        span = self.until - self.since
        reached = newest if self.ascending else oldest
        if span <= 0 or reached is None:
            return None
        done = reached - self.since if self.ascending else self.until - reached
        return min(max(done / span, 0.0), 1.0)


class RunProgress:
    """Records and pages read so far, with the export's window covered: live on a
    terminal (rich), a plain line now and then without colour, nothing when quiet.

    `doing` names the run in those plain lines; `done` and `done_set` are an
    export's closing lines (a sync's is the command's own).
    """

    def __init__(
        self,
        runtime: Runtime,
        quiet: bool,
        path: Path | None,
        *,
        window: Window | None = None,
        color: bool = True,
        doing: str = "exporting",
    ) -> None:
        self._runtime = runtime
        self._doing = doing
        self._quiet = quiet
        self._path = path
        self._window = window
        self._started = runtime.monotonic()
        self._live: Any = None
        self._task: Any = None
        # NO_COLOR, --no-color, TERM=dumb: plain lines now and then, no escapes at all.
        self._plain = not quiet and runtime.stderr_tty and not color
        self._last_line = self._started
        if not self._quiet and runtime.stderr_tty and color:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._live = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.fields[records]:,}[/bold] records"),
                TextColumn("{task.fields[pages]:,} pages"),
                TextColumn("{task.fields[rate]:,.0f} records/s"),
                TextColumn("{task.fields[window]}"),
                TimeElapsedColumn(),
                console=Console(file=runtime.stderr, force_terminal=True),
                transient=True,
            )
            self._task = self._live.add_task("run", records=0, pages=0, rate=0.0, window="")
            self._live.start()

    def say(self, message: str) -> None:
        """A line for a person: above the live display while it runs, not through it."""
        if self._live is None:
            self._runtime.say(message)
            return
        from rich.text import Text

        self._live.console.print(Text(for_terminal(message)), highlight=False)

    def _covered(self, progress: Progress) -> str:
        if self._window is None:
            return ""
        share = self._window.covered(progress.oldest, progress.newest)
        return "" if share is None else f"{share:.0%} of the window"

    def update(self, progress: Progress) -> None:
        now = self._runtime.monotonic()
        records, pages = progress.records, progress.pages
        if self._live is not None:
            rate = records / max(now - self._started, 1e-6)
            self._live.update(
                self._task,
                records=records,
                pages=pages,
                rate=rate,
                window=self._covered(progress),
            )
        elif self._plain and now - self._last_line >= PLAIN_EVERY:
            self._last_line = now
            covered = self._covered(progress)
            self._runtime.say(
                f"{self._doing}: {records:,} records, {pages:,} pages"
                + (f", {covered}" if covered else "")
            )

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def done(self, manifest: Manifest) -> None:
        self.stop()
        if self._quiet or self._path is None:
            return
        from usage_cli.export import manifest_path

        elapsed = self._runtime.monotonic() - self._started
        self._runtime.say(
            f"exported {manifest.records:,} records ({_pages(manifest.pages)}, "
            f"{manifest.file['bytes']:,} bytes) to {self._path} in {elapsed:.1f}s; "
            f"manifest {manifest_path(self._path)}"
        )
        if not manifest.records:
            # An empty file is a proof too (verify holds it to the manifest), but a
            # person should not take 0 for a typo in the window or filters.
            self._runtime.say("note: the window had no records matching the filters")

    def done_set(self, manifest: SetManifest, read: list[str] | None = None) -> None:
        """The closing line of a partitioned export; with `read`, the partitions an update
        read, what they held, then the whole set."""
        self.stop()
        if self._quiet or self._path is None:
            return
        from usage_cli.partitions import set_manifest

        elapsed = self._runtime.monotonic() - self._started
        folders = len({part["path"].split("/")[0] for part in manifest.parts})
        parts = len(manifest.parts)
        holds = (
            f"{parts:,} part{'s' * (parts != 1)} in {folders:,} "
            f"folder{'s' * (folders != 1)}, {manifest.bytes:,} bytes; "
            f"manifest {set_manifest(self._path)}"
        )
        if read is None:
            self._runtime.say(
                f"exported {manifest.records:,} records ({_pages(manifest.pages)}) to "
                f"{self._path} in {elapsed:.1f}s: {holds}"
            )
            return
        names = set(read)
        records = sum(e["records"] for e in manifest.partitions or [] if e["folder"] in names)
        self._runtime.say(
            f"updated {self._path} in {elapsed:.1f}s: {len(read):,} "
            f"partition{'s' * (len(read) != 1)} read whole ({records:,} records, "
            f"{_pages(manifest.pages)}); the set holds {manifest.records:,} records in {holds}"
        )


def _pages(number: int) -> str:
    return f"{number:,} page{'s' * (number != 1)}"


@contextlib.contextmanager
def run_progress(
    runtime: Runtime,
    quiet: bool,
    path: Path | None,
    *,
    window: Window | None = None,
    color: bool = True,
    doing: str = "exporting",
) -> Iterator[RunProgress]:
    progress = RunProgress(runtime, quiet, path, window=window, color=color, doing=doing)
    try:
        yield progress
    finally:
        progress.stop()
