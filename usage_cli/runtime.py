"""Everything a run takes from the outside world, in one frozen object.

Standard streams (and whether each is a terminal), the environment, the clock,
`sleep` and the HTTP transport come in through a `Runtime`, as gh's
`iostreams` and httpx's `transport=` do: `run(args, runtime=...)` puts it on
the context, and every command reads from it. This module is the only one in
the package that touches `sys.std*`, `time.sleep` or `datetime.now`, so a test
builds a `Runtime.memory(...)` and needs to patch nothing.

Light on purpose: `usage --help` imports it.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from usage_cli._colour import DIM, RED, RESET, YELLOW, colour_allowed
from usage_cli._text import for_terminal, wrapped

if TYPE_CHECKING:
    import httpx


def utc_now() -> datetime:
    """The wall clock, timezone-aware, in UTC."""
    return datetime.now(UTC)


def system_sleep(seconds: float) -> None:
    time.sleep(seconds)


class _MemoryBytes(io.BytesIO):
    """A byte stream that says whether it is a terminal, as a test wants it to."""

    def __init__(self, initial: bytes = b"", *, tty: bool = False) -> None:
        super().__init__(initial)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def memory_stream(text: str = "", *, tty: bool = False) -> TextIO:
    """An in-memory text stream over bytes (it has a `.buffer`), like a real std stream."""
    raw = _MemoryBytes(text.encode("utf-8"), tty=tty)
    return io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=True)


def written(stream: TextIO) -> str:
    """What was written to a `memory_stream`, decoded."""
    stream.flush()
    raw = stream.buffer
    assert isinstance(raw, io.BytesIO)
    return raw.getvalue().decode("utf-8")


@dataclass(frozen=True)
class Recorder:
    """A `sleep` that only notes how long it was asked to wait."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """The outside world of one run."""

    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    stdin_tty: bool = False
    stdout_tty: bool = False
    stderr_tty: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    argv: tuple[str, ...] = ()
    now: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = system_sleep
    # An `httpx.BaseTransport` for every client of this run (tests: MockTransport).
    transport: httpx.BaseTransport | None = None
    # Whether this is the process's own world (signals are the process's too).
    process: bool = False
    # Columns of the terminal stdout is; None when unknown (tables keep their natural width).
    width: int | None = None
    # False: `--no-color` was given, and nothing this run writes carries colour.
    color_allowed: bool = True

    @classmethod
    def system(cls) -> Runtime:
        """The process's own streams, environment and clock."""

        def tty(stream: Any) -> bool:
            try:
                return bool(stream.isatty())
            except (AttributeError, ValueError):
                return False

        return cls(
            stdin=sys.stdin,
            stdout=sys.stdout,
            stderr=sys.stderr,
            stdin_tty=tty(sys.stdin),
            stdout_tty=tty(sys.stdout),
            stderr_tty=tty(sys.stderr),
            env=os.environ,
            argv=tuple(sys.argv),
            # `COLUMNS` first (what `tmux`/CI set), then the terminal's own size.
            width=shutil.get_terminal_size((80, 24)).columns if tty(sys.stdout) else None,
            process=True,
        )

    @classmethod
    def memory(
        cls,
        *,
        stdin: str = "",
        env: Mapping[str, str] | None = None,
        tty: bool = False,
        sleep: Callable[[float], None] | None = None,
        now: Callable[[], datetime] | None = None,
        transport: httpx.BaseTransport | None = None,
        argv: tuple[str, ...] = (),
        width: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> Runtime:
        """In-memory streams (read them back with `written`), for tests and embedding."""
        return cls(
            stdin=memory_stream(stdin),
            stdout=memory_stream(tty=tty),
            stderr=memory_stream(tty=tty),
            stdin_tty=False,
            stdout_tty=tty,
            stderr_tty=tty,
            env=dict(os.environ if env is None else env),
            argv=argv,
            now=now or utc_now,
            sleep=sleep or Recorder(),
            transport=transport,
            width=width,
            monotonic=monotonic,
        )

    @contextlib.contextmanager
    def bound(self) -> Iterator[None]:
        """Point `sys.std*` at this runtime's streams while a run lasts.

        Our code writes to the runtime's streams; this is for what click
        writes on its own (help, usage errors), so that it lands there too.
        """
        saved = sys.stdin, sys.stdout, sys.stderr
        sys.stdin, sys.stdout, sys.stderr = self.stdin, self.stdout, self.stderr
        try:
            yield
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved

    def stdout_is_process_stdout(self) -> bool:
        """Whether stdout is the process's own (whose descriptor may be redirected)."""
        return self.stdout is sys.__stdout__ or self.stdout is sys.stdout

    def ignore_interrupts(self) -> None:
        """From now on a Ctrl-C is ignored: a run that ends on one is already ending.

        A second interrupt (a double Ctrl-C, or `timeout` signalling the child
        and then its process group) would otherwise cut the ending short.
        Only for the process's own runtime: an embedding program keeps its own.
        """
        if self.process:
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)

    def colors(self, tty: bool) -> bool:
        """Whether a stream may carry colour: `usage_cli._colour.colour_allowed`, with
        `--no-color` as this run's."""
        return colour_allowed(self.env, tty, allowed=self.color_allowed)

    def say(self, message: str, *, wrap: bool = True) -> None:
        """One line for a person, on stderr (stdout is for data).

        Messages quote API data (error bodies, ids): its control codes are shown
        escaped, never sent to the terminal. On a terminal of known width a long
        line is broken between words, its continuation indented (`wrap=False`
        for a line to copy whole, such as a command).
        """
        text = for_terminal(message)
        if wrap and self.stderr_tty:
            text = wrapped(text, self.width)
        if self.colors(self.stderr_tty):
            text = _coloured(text)
        self.stderr.write(text + "\n")
        self.stderr.flush()


def _coloured(text: str) -> str:
    for label, colour in (("error:", RED), ("warning:", YELLOW)):
        if text.startswith(label):
            return colour + label + RESET + text[len(label) :]
    if text.startswith("hint:"):
        return text
    return DIM + text + RESET
