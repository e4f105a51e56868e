"""`usage list --follow`: new records as they appear, until Ctrl-C.

A follow never ends on its own and never gives up on a transient fault: a
poll that fails after the client's own retries is tried again after a wait
that doubles up to a minute, said on stderr. Ctrl-C is how it ends: exit 0.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from usage_cli.cli._output import data_bytes
from usage_cli.errors import ServerError
from usage_cli.formats import Format, make_writer

if TYPE_CHECKING:
    from usage_cli.cli._invocation import Invocation
    from usage_cli.client import Client
    from usage_cli.display import Display
    from usage_cli.formats import Writer
    from usage_cli.query import Query
    from usage_cli.records import UsageRecord
    from usage_cli.settings import Settings

DEFAULT_INTERVAL = 5.0  # 12 requests a minute: well inside the platform's per-minute limit
MAX_BACKOFF = 60.0


class _Status:
    """One line on a terminal's stderr: the last minute's rate and the last poll.

    Drawn only when stdout is that terminal too (in `| jq` the lines of the
    reader would land on it), and never wider than the terminal, so that a
    carriage return can take it back whole.
    """

    def __init__(self, run: Invocation, display: Display) -> None:
        runtime = run.runtime
        self._run = run
        self._display = display
        self._live = runtime.stderr_tty and runtime.stdout_tty and not run.options.quiet
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
        moment = runtime.now().astimezone(self._display.zone)
        seen = len(self._recent)
        # Most telling first: a narrow terminal cuts the end.
        line = (
            f"following: {seen:,} record{'' if seen == 1 else 's'}/min ({count:,} count); "
            f"polled {moment:%H:%M:%S} {self._display.zone_name}; Ctrl-C stops"
        )
        width = (self._display.width or runtime.width or 80) - 1
        if len(line) > width:
            line = line[: max(width - 1, 0)] + "…"
        runtime.stderr.write(f"\r\x1b[K{line}")
        runtime.stderr.flush()
        self._drawn = True


def follow(
    run: Invocation,
    settings: Settings,
    query: Query,
    *,
    fmt: Format,
    columns: tuple[str, ...] | None,
    last: int | None,
    interval: float,
    display: Display,
    demo: bool,
    exact: bool = False,
) -> None:
    """Print the query's new records, oldest first, every `interval` seconds, until Ctrl-C."""
    runtime = run.runtime
    writer: Writer
    if fmt is Format.table:
        from usage_cli.formats.lines import LineWriter

        writer = LineWriter(runtime.stdout, display, columns)
        if writer.hidden:
            run.note(f"hidden: {', '.join(writer.hidden)}; --columns shows them")
    else:
        out = data_bytes(run.runtime, fmt)
        writer = make_writer(fmt, out, columns, display=display, exact=exact)
    status = _Status(run, display)
    with run.client(settings, demo=demo, say=status.say) as client:
        _follow(
            run, client, query, writer, status, fmt=fmt, last=last, interval=interval, exact=exact
        )


def _follow(
    run: Invocation,
    client: Client,
    query: Query,
    writer: Writer,
    status: _Status,
    *,
    fmt: Format,
    last: int | None,
    interval: float,
    exact: bool,
) -> None:
    from usage_cli.reading.follow import Follower

    runtime = run.runtime
    follower = Follower(client, query, since_ms=query.since_ms, exact=exact)
    wait = interval
    backlog = last
    try:
        while True:
            try:
                # The backlog is fetched in the loop too: a fault then is waited out.
                fresh = follower.poll() if backlog is None else follower.backlog(backlog)
                backlog = None
            except ServerError as failure:
                wait = min(max(wait * 2, interval), MAX_BACKOFF)
                reason = failure.message.rstrip(".")
                status.say(f"following: {reason}; polling again in {wait:g}s")
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
        runtime.ignore_interrupts()
        status.clear()
        writer.close()
        run.note("stopped following")
