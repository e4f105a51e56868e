"""The sandbox HTTP server: a faithful, seeded stand-in for the list endpoint.

It follows the contract (auth, filters, `meta[...]`, order, take, cursors, the
end of list, JSON errors) and can inject latency, 429s and 5xx responses.
Pages are rendered from pre-encoded records so the server is never what a
client benchmark measures.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from usage_cli.records import RELATIONS
from usage_cli.sandbox.data import generate_records

DEFAULT_TOKEN = "sandbox-token"
MAX_TAKE = 100
PATHS = frozenset({"/api/v1/usage/list", "/v1/usage/list"})
_FILTERS = ("type", *RELATIONS)


@dataclass
class SeenRequest:
    """What the sandbox received, for tests to assert on (never the token).

    It is logged before the answer goes out, so a client that has its answer
    always finds its request in the log.
    """

    path: str
    params: tuple[tuple[str, str], ...]
    run_as: str | None
    authorized: bool
    status: int = 0

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)


FAULT_KINDS = ("drop", "html", "malformed", "500", "502", "503", "504", "429")
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


@dataclass
class Faults:
    """Failures the sandbox injects, by chance (`rate_*`) or by schedule (`every`).

    `every` maps a kind to N: every Nth request to the list gets that fault
    (the first kind in FAULT_KINDS order wins when several fall due).
    """

    latency: float = 0.0  # seconds from a request to its answer
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    retry_after: float | None = 1.0  # None: a 429 without Retry-After, as the platform sends
    every: dict[str, int] = field(default_factory=dict)
    max_take: int | None = None  # silently serve at most this many items a page
    loop_after: int | None = None  # from this many pages on, hand back the cursor it was given
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _count: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        for kind, period in self.every.items():
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
            if period < 1:
                raise ValueError(f"fault {kind!r} needs a period of at least 1")

    def draw(self) -> str | None:
        """The fault for the next request, if any."""
        with self._lock:
            self._count += 1
            count = self._count
            roll = self._rng.random()
        for kind in FAULT_KINDS:
            period = self.every.get(kind)
            if period and count % period == 0:
                return kind
        if roll < self.rate_429:
            return "429"
        if roll < self.rate_429 + self.rate_5xx:
            return "503"
        return None


def parse_fault(text: str) -> tuple[str, int]:
    """`KIND=N` (for --fail-every)."""
    kind, sep, period = text.partition("=")
    if not sep or kind not in FAULT_KINDS or not period.isdigit() or int(period) < 1:
        raise ValueError(
            f"--fail-every {text!r} is not KIND=N with KIND one of {', '.join(FAULT_KINDS)}"
        )
    return kind, int(period)


def _meta_matches(meta: dict[str, Any] | None, key: str, wanted: str) -> bool:
    if not meta or key not in meta:
        return False
    value = meta[key]
    if isinstance(value, bool):
        return wanted in ("true", "false") and value == (wanted == "true")
    if isinstance(value, str):
        return value == wanted
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False) == wanted


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY, delayed ACKs cost ~40 ms a page on keep-alive.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        stream = self.server.sandbox.log
        if stream is not None:
            stream.write(f"sandbox: {self.address_string()} {format % args}\n")
            stream.flush()

    seen: SeenRequest | None = None

    received = 0.0

    def send_response(self, code: int, message: str | None = None) -> None:
        if self.seen is not None:
            self.seen.status = code
        # Injected latency is the time to answer, our own work included, so
        # that a benchmark at 50 ms a page measures the client, not us.
        wait = self.received + self.server.sandbox.faults.latency - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        super().send_response(code, message)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, code: str, **headers: str) -> None:
        body = json.dumps({"message": message, "code": code}).encode()
        self._send(status, body, headers)

    def parse_request(self) -> bool:
        # The request line has just arrived: the answer is due `latency` after it.
        self.received = time.monotonic()
        return super().parse_request()

    def do_GET(self) -> None:
        self.server.sandbox.handle(self)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (a prefetch cut short, Ctrl-C) is
        # normal for a server; anything else is reported where the log goes.
        import sys
        import traceback

        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError) or self.sandbox.log is None:
            return
        self.sandbox.log.write("sandbox: error while answering:\n" + traceback.format_exc())


class Sandbox:
    """The emulator. `start()` serves in a background thread; `serve_forever()` blocks."""

    def __init__(
        self,
        *,
        records: int = 1000,
        seed: int = 1,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        anchor: datetime | None = None,
        faults: Faults | None = None,
        log: TextIO | None = None,
    ) -> None:
        self.token = token
        self.faults = faults or Faults()
        self.log = log
        self.records = generate_records(records, seed=seed, anchor=anchor)
        self._encoded = [
            json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in self.records
        ]
        self._position = {r["id"]: i for i, r in enumerate(self.records)}
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._pages = 0
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Sandbox:
        self._serving = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._serving = True
        self._httpd.serve_forever()

    def stop(self) -> None:
        # shutdown() waits for a serve loop to end: only ask when one began.
        if self._serving:
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # The request path -------------------------------------------------

    def handle(self, request: _Handler) -> None:
        parts = urlsplit(request.path)
        params = tuple(parse_qsl(parts.query, keep_blank_values=True))
        authorized = request.headers.get("Authorization") == f"Bearer {self.token}"
        request.seen = SeenRequest(
            parts.path, params, request.headers.get("X-RunAs-User-Id"), authorized
        )
        with self._lock:
            self.requests.append(request.seen)
        self._respond(request, parts.path, dict(params), authorized)

    def _respond(
        self, request: _Handler, path: str, params: dict[str, str], authorized: bool
    ) -> None:
        if path not in PATHS:
            return request._error(404, f"no route for {path}", "NOT_FOUND")
        if not authorized:
            return request._error(401, "Not authenticated", "NOT_AUTHENTICATED")
        injected = self.faults.draw()
        if injected is not None:
            return self._inject(request, injected)
        try:
            take = int(params.get("take", MAX_TAKE))
        except ValueError:
            return request._error(400, "take must be an integer", "BAD_REQUEST")
        if not 1 <= take <= MAX_TAKE:
            return request._error(400, f"take must be between 1 and {MAX_TAKE}", "BAD_REQUEST")
        order = params.get("order", "desc")
        if order not in ("asc", "desc"):
            return request._error(400, "order must be asc or desc", "BAD_REQUEST")
        cursor = params.get("cursor")
        if cursor and cursor not in self._position:
            return request._error(400, f"invalid cursor {cursor!r}", "BAD_REQUEST")
        served = min(take, self.faults.max_take or take)
        with self._lock:
            self._pages += 1
            looping = self.faults.loop_after is not None and self._pages > self.faults.loop_after
        body = self._page(params, order, served, cursor, repeat=cursor if looping else None)
        request._send(200, body)

    def _inject(self, request: _Handler, kind: str) -> None:
        if kind == "drop":
            # Close the connection without a word, as a crashed backend would.
            request.close_connection = True
            return
        if kind == "html":
            request.send_response(502)
            request.send_header("Content-Type", "text/html")
            request.send_header("Content-Length", str(len(HTML_502)))
            request.end_headers()
            request.wfile.write(HTML_502)
            return
        if kind == "malformed":
            request._send(200, b'{"items":[{"id":"rec_cut","type":"OPENAI_GPT')
            return
        if kind == "429":
            headers = {}
            if self.faults.retry_after is not None:
                headers["Retry-After"] = f"{self.faults.retry_after:g}"
            return request._error(429, "Too many requests", "LIMITS_REACHED", **headers)
        return request._error(int(kind), "Service unavailable", "GENERIC_ERROR")

    def _page(
        self,
        params: dict[str, str],
        order: str,
        take: int,
        cursor: str | None,
        *,
        repeat: str | None = None,
    ) -> bytes:
        wanted = {
            name: set(params[name].split(",")) if name != "type" else {params[name]}
            for name in _FILTERS
            if params.get(name)
        }
        meta: list[tuple[str, str]] = []
        for key, value in params.items():
            if key.startswith("meta[") and key.endswith("]"):
                meta.append((key[5:-1], value))
            elif key.startswith("meta."):
                meta.append((key[5:], value))
        size = len(self.records)
        ordered = range(size) if order == "desc" else range(size - 1, -1, -1)
        start = 0
        if cursor:
            index = self._position[cursor]
            start = (index if order == "desc" else size - 1 - index) + 1
        found: list[int] = []
        for step in range(start, size):
            index = ordered[step]
            record = self.records[index]
            if all(record.get(name) in values for name, values in wanted.items()) and all(
                _meta_matches(record.get("meta"), key, value) for key, value in meta
            ):
                found.append(index)
                if len(found) == take:
                    break
        items = ",".join(self._encoded[i] for i in found)
        if not found:
            return b'{"items":[]}'
        last = json.dumps(repeat or self.records[found[-1]]["id"])
        return f'{{"items":[{items}],"cursor":{last}}}'.encode()
