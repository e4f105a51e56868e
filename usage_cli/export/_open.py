"""One way into an export, whatever it writes: a file, standard output or a folder of parts.

`open_plan` makes every check that needs no server and returns a `Plan`:
an `ExportPlan` (a file or `-`) or, for `--partition` and parquet, a
`PartitionedPlan`, imported only then. The CLI drives either through this
protocol alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Protocol

from usage_cli.export._plan import plan_export
from usage_cli.formats import Format

if TYPE_CHECKING:
    from usage_cli.export._json import ChainJson
    from usage_cli.export._manifest import Manifest, SetManifest
    from usage_cli.export._run import OnProgress, Sign
    from usage_cli.partitions import Partition
    from usage_cli.prices import PriceTable
    from usage_cli.query import Query
    from usage_cli.reading import PageSource


class Plan(Protocol):
    """An export that has passed every check needing no server, holding its target's lock."""

    @property
    def text(self) -> str:
        """PATH as the user wrote it, for messages."""
        ...

    @property
    def started(self) -> datetime:
        """The query's "now": the start of this export, or of the one it resumes."""
        ...

    @property
    def note(self) -> str | None:
        """A line for the user before the run (the core prints nothing itself)."""
        ...

    @property
    def path(self) -> Path | None:
        """The file or folder written; None for standard output."""
        ...

    @property
    def fmt(self) -> str:
        """What the records are written as: json, jsonl, csv or parquet."""
        ...

    @property
    def manifest_path(self) -> Path | None:
        """Where the manifest goes once the export is complete; None for standard output."""
        ...

    def check_cost(self) -> None:
        """InputError (exit 2) unless this export can carry a cost column (`--cost`).

        `run` asks it again when given prices, for callers that did not; the CLI
        asks before the price table is read, and for a folder even before the
        folder is looked at (the format is known from `-o` alone).
        """
        ...

    def check_resume(self, query: Query, prices: PriceTable | None) -> None:
        """InputError (exit 2) when the export a `--resume` continues was made with other
        options than these; before anything says it is resuming. (The API, known once
        reading starts, is compared again by `run`.)"""
        ...

    def close(self) -> None:
        """Let go of the target (idempotent)."""
        ...

    def __enter__(self) -> Plan: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def run(
        self,
        client: PageSource,
        query: Query,
        *,
        api_root: str,
        run_as: str | None = None,
        stdout: BinaryIO | None = None,
        now: Callable[[], datetime],
        monotonic: Callable[[], float] = ...,
        on_progress: OnProgress | None = None,
        chain: ChainJson | None = None,
        prices: PriceTable | None = None,
        sign: Sign | None = None,
    ) -> Manifest | SetManifest | None:
        """Export every record of `query`; the manifest, once the export is in place."""
        ...


def open_plan(
    path_text: str,
    fmt: str | None,
    partition: Partition | None,
    *,
    force: bool,
    resume: bool,
    now: Callable[[], datetime],
    exact: bool = False,
    update: bool = False,
) -> Plan:
    """The plan of an export to `path_text`: a folder of parts with `partition` or
    parquet (`fmt`, the `-o` word), else a file or `-`. Use it as a context manager.

    `exact` writes the API's text as sent (no U+FFFD, no CSV guard). `update`
    (`--update`) adds the window's partitions to the set at `path_text`.
    """
    if update and partition is None:
        from usage_cli.errors import InputError

        raise InputError(
            "--update adds partitions to a folder of parts: it goes with --partition day or month",
            hint="e.g. usage export usage/ --partition day --window day --update",
        )
    if partition is not None or fmt == "parquet":
        from usage_cli.export._partitioned import plan_partitioned

        return plan_partitioned(
            path_text,
            partition,
            fmt,
            force=force,
            resume=resume,
            now=now,
            exact=exact,
            update=update,
        )
    return plan_export(
        path_text,
        None if fmt is None else Format(fmt),
        force=force,
        resume=resume,
        now=now,
        exact=exact,
    )
