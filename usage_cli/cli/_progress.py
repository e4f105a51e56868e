"""The progress of an export on stderr: live (rich) on a terminal, one line otherwise."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from usage_cli._text import for_terminal
from usage_cli.runtime import Runtime

if TYPE_CHECKING:
    from pathlib import Path

    from usage_cli.export import Manifest, Progress


class ExportProgress:
    """Progress of an export on stderr: live on a terminal, one line otherwise."""

    def __init__(self, runtime: Runtime, quiet: bool, path: Path | None) -> None:
        self._runtime = runtime
        self._quiet = quiet
        self._path = path
        self._started = runtime.monotonic()
        self._live: Any = None
        self._task: Any = None
        if not self._quiet and runtime.stderr_tty:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._live = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.fields[records]:,}[/bold] records"),
                TextColumn("{task.fields[pages]:,} pages"),
                TextColumn("{task.fields[rate]:,.0f} records/s"),
                TimeElapsedColumn(),
                console=Console(file=runtime.stderr, force_terminal=True),
                transient=True,
            )
            self._task = self._live.add_task("export", records=0, pages=0, rate=0.0)
            self._live.start()

    def say(self, message: str) -> None:
        """A line for a person: above the live display while it runs, not through it."""
        if self._live is None:
            self._runtime.say(message)
            return
        from rich.text import Text

        self._live.console.print(Text(for_terminal(message)), highlight=False)

    def update(self, progress: Progress) -> None:
        if self._live is not None:
            rate = progress.records / max(self._runtime.monotonic() - self._started, 1e-6)
            self._live.update(self._task, records=progress.records, pages=progress.pages, rate=rate)

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
            f"exported {manifest.records:,} records ({manifest.pages:,} pages, "
            f"{manifest.file['bytes']:,} bytes) to {self._path} in {elapsed:.1f}s; "
            f"manifest {manifest_path(self._path)}"
        )


@contextlib.contextmanager
def export_progress(runtime: Runtime, quiet: bool, path: Path | None) -> Iterator[ExportProgress]:
    progress = ExportProgress(runtime, quiet, path)
    try:
        yield progress
    finally:
        progress.stop()
