"""`usage list --follow`: new records as they appear, until Ctrl-C.

A follow never ends on its own and never gives up on a transient fault: a
poll that fails after the client's own retries is tried again after a wait
that doubles up to a minute, said on stderr. Ctrl-C is how it ends: exit 0.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from usage_cli.errors import ServerError
from usage_cli.formats import Format, make_writer

if TYPE_CHECKING:
    from usage_cli.cli._invocation import Invocation
    from usage_cli.client import Client
    from usage_cli.display import Display
    from usage_cli.formats import Writer
    from usage_cli.query import Query
    from usage_cli.records import UsageRecord

DEFAULT_INTERVAL = 5.0  # 12 requests a minute: well inside the platform's per-minute limit
MAX_BACKOFF = 60.0


class _Status:
    """One line on a terminal's stderr: the last minute's rate and the last poll."""

    def __init__(self, run: Invocation, live: bool) -> None:
        self._run = run
        self._live = live
        self._recent: deque[tuple[float, int]] = deque()
        self._drawn = False

    def clear(self) -> None:
        if self._drawn:
            self._run.runtime.stderr.write("\r\x1b[K")
            self._drawn = False

    def say(self, message: str) -> None:
        self.clear()
        self._run.say(message)

    def polled(self, records: list[UsageRecord]) -> None:
        if not self._live:
            return
        runtime = self._run.runtime
        now = runtime.monotonic()
        self._recent.extend((now, record.count) for record in records)
        while self._recent and self._recent[0][0] < now - 60:
            self._recent.popleft()
        count = sum(count for _, count in self._recent)
        moment = runtime.now().astimezone()
        runtime.stderr.write(
            f"\r\x1b[Kfollowing: {len(self._recent):,} records, {count:,} count in the last "
            f"minute; last poll {moment:%H:%M:%S} (Ctrl-C to stop)"
        )
        runtime.stderr.flush()
        self._drawn = True


def follow(
    run: Invocation,
    client: Client,
    query: Query,
    *,
    fmt: Format,
    columns: tuple[str, ...] | None,
    last: int | None,
    interval: float,
    display: Display,
) -> None:
    """Print the query's new records, oldest first, every `interval` seconds, until Ctrl-C."""
    from usage_cli.pages import Follower

    runtime = run.runtime
    writer: Writer
    if fmt is Format.table:
        from usage_cli.formats.lines import LineWriter

        writer = LineWriter(runtime.stdout, display.zone, display.zone_name)
    else:
        out = run.data_bytes(fmt)
        writer = make_writer(fmt, out, columns, display=display)
    status = _Status(run, live=runtime.stderr_tty and not run.options.quiet)
    follower = Follower(client, query, since_ms=query.since_ms)
    wait = interval
    try:
        if last is not None:
            writer.write(follower.backlog(last))
        while True:
            try:
                fresh = follower.poll()
            except ServerError as failure:
                wait = min(max(wait * 2, interval), MAX_BACKOFF)
                status.say(f"following: {failure.message}; polling again in {wait:g}s")
            else:
                wait = interval
                status.clear()
                if fresh:
                    writer.write(fresh)
                    if fmt.machine:
                        runtime.stdout.buffer.flush()
                status.polled(fresh)
            runtime.sleep(wait)
    except KeyboardInterrupt:
        # Ctrl-C is how a follow ends: not a failure.
        status.clear()
        writer.close()
        run.note("stopped following")
