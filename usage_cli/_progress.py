"""The progress of an export on stderr: live (rich) on a terminal, one line otherwise."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

from usage_cli.settings import Settings


def say(message: str) -> None:
    """One line for a person, on stderr (stdout is for data)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class ExportProgress:
    """Progress of an export on stderr: live on a terminal, one line otherwise."""

    def __init__(self, settings: Settings, path: Any) -> None:
        self._quiet = settings.quiet
        self._path = path
        self._started = time.monotonic()
        self._live: Any = None
        self._task: Any = None
        if not self._quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._live = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.fields[records]:,}[/bold] records"),
                TextColumn("{task.fields[pages]:,} pages"),
                TextColumn("{task.fields[rate]:,.0f} records/s"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._live.add_task("export", records=0, pages=0, rate=0.0)
            self._live.start()

    def update(self, progress: Any) -> None:
        if self._live is not None:
            rate = progress.records / max(time.monotonic() - self._started, 1e-6)
            self._live.update(self._task, records=progress.records, pages=progress.pages, rate=rate)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def done(self, manifest: dict[str, Any]) -> None:
        self.stop()
        if self._quiet or self._path is None:
            return
        elapsed = time.monotonic() - self._started
        say(
            f"exported {manifest['records']:,} records ({manifest['pages']:,} pages, "
            f"{manifest['file']['bytes']:,} bytes) to {self._path} in {elapsed:.1f}s; "
            f"manifest {self._path}.manifest.json"
        )


@contextlib.contextmanager
def export_progress(settings: Settings, path: Any) -> Iterator[ExportProgress]:
    progress = ExportProgress(settings, path)
    try:
        yield progress
    finally:
        progress.stop()
