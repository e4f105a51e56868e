"""The sandbox HTTP server: a thin shell around the pure `Emulator`.

It parses a request, asks the emulator for the `Answer`, and writes it in one
go; what is HTTP's alone stays here: injected latency, a dripped body,
keep-alive, TCP_NODELAY and closing the connection without a word for a
dropped answer. `stop()` is
prompt: the serve loop polls briefly, and a handler waiting out its latency
wakes up when the server stops.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from usage_cli.runtime import utc_now
from usage_cli.sandbox.data import DEMO_SEED, arrivals, generate_records, with_spike
from usage_cli.sandbox.emulator import (
    DEFAULT_TOKEN,
    FAULT_KINDS,
    HTML_502,
    MAX_TAKE,
    PATHS,
    Answer,
    Emulator,
    Faults,
    SeenRequest,
    parse_fault,
)

__all__ = [
    "DEFAULT_TOKEN",
    "FAULT_KINDS",
    "HTML_502",
    "MAX_TAKE",
    "PATHS",
    "Answer",
    "Emulator",
    "Faults",
    "Hold",
    "Sandbox",
    "SeenRequest",
    "generate_records",
    "parse_fault",
]

# Seconds a connection may sit idle before the sandbox closes it.
IDLE_TIMEOUT = 30.0
# How often the serve loop looks for a stop request: the bound on `stop()`.
POLL_INTERVAL = 0.02


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    # A connection idle this long (a half-sent request, a client gone quiet) is closed:
    # each holds a thread, and a flood of them would hold the sandbox.
    timeout = IDLE_TIMEOUT
    # Without TCP_NODELAY, delayed ACKs cost ~40 ms a page on keep-alive.
    disable_nagle_algorithm = True
    received = 0.0

    def setup(self) -> None:
        super().setup()
        # The sandbox's own bound (`timeout` above is the default StreamRequestHandler
        # applies in its setup).
        self.connection.settimeout(self.server.sandbox.idle_timeout)
        self.server.track(self.connection)

    def finish(self) -> None:
        self.server.untrack(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        stream = self.server.sandbox.log
        if stream is not None:
            stream.write(f"sandbox: {self.address_string()} {format % args}\n")
            stream.flush()

    def parse_request(self) -> bool:
        # The request line has just arrived: the answer is due `latency` after it.
        self.received = time.monotonic()
        return super().parse_request()

    def do_GET(self) -> None:
        hold = self.server.sandbox.held
        if hold is not None and not hold.admit(self.server.stopping):
            self.close_connection = True
            return
        parts = urlsplit(self.path)
        params = parse_qsl(parts.query, keep_blank_values=True)
        answer = self.server.sandbox.emulator.answer(parts.path, params, dict(self.headers.items()))
        if answer.drop:
            # Hang up without a word, as a crashed backend would.
            self.close_connection = True
            return
        # Injected latency is the time to answer, our own work included, so
        # that a benchmark at 50 ms a page measures the client, not us.
        wait = self.received + self.server.sandbox.faults.latency - time.monotonic()
        if wait > 0 and self.server.stopping.wait(wait):
            self.close_connection = True
            return
        self._write(answer)

    def _write(self, answer: Answer) -> None:
        # One write for the whole answer: no small segment waits on an ACK.
        phrase = self.responses.get(answer.status, ("",))[0]
        lines = [
            f"{self.protocol_version} {answer.status} {phrase}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
            *(f"{name}: {value}" for name, value in answer.headers),
            f"Content-Length: {len(answer.body)}",
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if answer.drip <= 0:
            self.wfile.write(head + answer.body)
            self.log_request(answer.status)
            return
        # A server that commits its head at once, then trickles the body: each
        # read the client makes succeeds, so only a bound on the whole response
        # ends it.
        self.log_request(answer.status)
        self.wfile.write(head)
        for index in range(len(answer.body)):
            if self.server.stopping.wait(answer.drip):
                self.close_connection = True
                return
            self.wfile.write(answer.body[index : index + 1])


class Hold:
    """Requests after the first `after` wait, unanswered, until `release` (a test's seam).

    A test that signals a process "mid-run" holds the sandbox there instead of
    racing a slow one: `reached` is set once a request waits, so the process is
    surely between two pages however busy the machine is. A request still held
    when the hold ends (`drop`) is never answered, nor recorded: its process
    is gone, and the test's next run starts from a clean `requests`.
    """

    def __init__(self, after: int) -> None:
        self.after = after
        self.reached = threading.Event()
        self.released = threading.Event()
        self.dropped = threading.Event()
        self._seen = 0
        self._lock = threading.Lock()

    def admit(self, stopping: threading.Event) -> bool:
        """Let this request through now, or once released; False if it is dropped first."""
        with self._lock:
            self._seen += 1
            if self._seen <= self.after:
                return True
        self.reached.set()
        while not self.released.wait(POLL_INTERVAL):
            if stopping.is_set() or self.dropped.is_set():
                return False
        return True

    def drop(self) -> None:
        """Hang up on the requests still held (and on any that comes after)."""
        self.dropped.set()

    def wait(self, timeout: float = 60) -> None:
        """Until a request is held; AssertionError if none came within `timeout`."""
        assert self.reached.wait(timeout), f"no request came after the first {self.after}"

    def release(self) -> None:
        self.released.set()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        # Set by `Sandbox.stop()`: wakes handlers waiting out their latency.
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def hang_up(self) -> None:
        """End every open connection, so no keep-alive handler outlives the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # One its client or handler already closed needs nothing more.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (a prefetch cut short, Ctrl-C) is
        # normal for a server, as is a connection `stop()` ended; anything else
        # is reported where the log goes.
        import sys
        import traceback

        error = sys.exc_info()[1]
        if isinstance(error, OSError) and self.stopping.is_set():
            return
        if isinstance(error, ConnectionError) or self.sandbox.log is None:
            return
        self.sandbox.log.write("sandbox: error while answering:\n" + traceback.format_exc())


class Sandbox:
    """The emulator over HTTP. `start()` serves in a background thread; `serve_forever()` blocks.

    `emulator` is the same endpoint without sockets: `sandbox.emulator.transport()`
    is an `httpx.MockTransport` over the same records, token, faults and log.
    """

    def __init__(
        self,
        *,
        records: int = 1000,
        seed: int = DEMO_SEED,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        anchor: datetime | None = None,
        faults: Faults | None = None,
        log: TextIO | None = None,
        odd_data: bool = False,
        grow: int = 0,
        grow_every: float = 5.0,
        spike: int = 0,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        data = generate_records(records, seed=seed, anchor=anchor, odd=odd_data)
        if spike:
            # In the hour before now, so `--since 1d` (or `1h`) always holds it.
            data = with_spike(data, spike, seed=seed, at_ms=int(utc_now().timestamp() * 1000))
        self.emulator = Emulator(data, token=token, faults=faults)
        self.log = log
        self.idle_timeout = idle_timeout
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None
        self._serving = False
        self._grow = (grow, grow_every, seed)
        self.held: Hold | None = None
        if grow > 0:
            threading.Thread(target=self._growing, name="sandbox-grow", daemon=True).start()

    def _growing(self) -> None:
        """New usage every `grow_every` seconds, created now, until the sandbox stops."""
        count, every, seed = self._grow
        step = 0
        while not self._httpd.stopping.wait(every):
            step += 1
            now_ms = int(utc_now().timestamp() * 1000)
            self.emulator.add(arrivals(count, seed=seed * 1_000_003 + step, now_ms=now_ms))

    @contextlib.contextmanager
    def hold(self, after: int = 0) -> Iterator[Hold]:
        """Hold every request after the next `after` until `release`; the block's end
        hangs up on those still held."""
        hold = Hold(after)
        self.held = hold
        try:
            yield hold
        finally:
            self.held = None
            hold.drop()

    @property
    def token(self) -> str:
        return self.emulator.token

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.emulator.records

    @property
    def requests(self) -> list[SeenRequest]:
        """Every request received, oldest first (tests clear it with `.clear()`)."""
        return self.emulator.requests

    @property
    def faults(self) -> Faults:
        return self.emulator.faults

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Sandbox:
        self._serving = True
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._serving = True
        self._httpd.serve_forever(poll_interval=POLL_INTERVAL)

    def stop(self) -> None:
        self._httpd.stopping.set()
        # shutdown() waits for a serve loop to end: only ask when one began.
        if self._serving:
            self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.hang_up()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
