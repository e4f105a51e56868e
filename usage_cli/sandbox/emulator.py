"""The emulated list endpoint as a pure answer: a request in, an `Answer` out.

Routing, auth, filters, `meta[...]`, order, take, cursors, the end of the list
and every injected fault are decided here and returned as values, so the same
behaviour serves real HTTP (`server.Sandbox`, a thin shell) and in-memory
tests (`Emulator.transport()`, an `httpx.MockTransport`). Nothing here touches
a socket, and the one clock it reads (the rate-limit window's) is injected:
latency and dripping belong to the HTTP shell.

Pages are rendered from pre-encoded records so the emulator is never what a
client benchmark measures.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from usage_cli._text import json_escaping_surrogates
from usage_cli.query import meta_matches
from usage_cli.relations import TABLE

if TYPE_CHECKING:
    import httpx

DEFAULT_TOKEN = "sandbox-token"
MAX_TAKE = 100
PATHS = frozenset({"/api/v1/usage/list", "/v1/usage/list"})
_FILTERS = tuple(relation.api for relation in TABLE)
JSON = "application/json; charset=utf-8"


@dataclass
class SeenRequest:
    """What the sandbox received, for tests to assert on (never the token).

    It is logged before the answer goes out, so a client that has its answer
    always finds its request in the log. `status` is 0 for a dropped connection.
    """

    path: str
    params: tuple[tuple[str, str], ...]
    run_as: str | None
    authorized: bool
    status: int = 0

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)


FAULT_KINDS = (
    "drop",
    "html",
    "malformed",
    "error200",
    "drip",
    "500",
    "502",
    "503",
    "504",
    "429",
)
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
MALFORMED = b'{"items":[{"id":"rec_cut","type":"OPENAI_GPT'
# What the platform sends when a slow request fails after committing its 200.
ERROR_200 = {"message": "An unexpected error occurred", "code": "GENERIC_ERROR"}
# The pace of a `drip` fault when `Faults.drip` does not set one.
DEFAULT_DRIP = 0.05
# The platform's rate limit on `/list` paths is a sliding window of this many seconds.
RATE_WINDOW = 60.0


@dataclass
class Faults:
    """Failures the sandbox injects, by chance (`rate_*`) or by schedule (`every`).

    `every` maps a kind to N: every Nth request to the list gets that fault
    (the first kind in FAULT_KINDS order wins when several fall due).

    `rate_limit` N admits at most N list requests in any `RATE_WINDOW`
    seconds of `clock` and answers the rest 429 `LIMITS_REACHED` without
    `Retry-After`, as the platform does; refused requests do not count.
    `drip` is seconds between the bytes of a body: of every answer, or with
    `every={"drip": N}` of every Nth only (at DEFAULT_DRIP when unset).
    """

    latency: float = 0.0  # seconds from a request to its answer (HTTP shell only)
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    retry_after: float | None = 1.0  # None: a 429 without Retry-After, as the platform sends
    every: dict[str, int] = field(default_factory=dict)
    max_take: int | None = None  # silently serve at most this many items a page
    loop_after: int | None = None  # from this many pages on, hand back the cursor it was given
    rate_limit: int | None = None  # list requests admitted per sliding RATE_WINDOW
    drip: float = 0.0  # seconds between body bytes (HTTP shell only)
    clock: Callable[[], float] = time.monotonic  # the rate-limit window's clock
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _count: int = field(default=0, init=False, repr=False)
    _admitted: deque[float] = field(default_factory=deque, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError("rate_limit needs at least 1 request a window")
        if not self.drip >= 0:
            raise ValueError("drip needs 0 or more seconds a byte")
        for kind, period in self.every.items():
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
            if period < 1:
                raise ValueError(f"fault {kind!r} needs a period of at least 1")

    def admit(self) -> bool:
        """Whether the rate-limit window has room for one more list request (taking it)."""
        if self.rate_limit is None:
            return True
        now = self.clock()
        with self._lock:
            while self._admitted and self._admitted[0] <= now - RATE_WINDOW:
                self._admitted.popleft()
            if len(self._admitted) >= self.rate_limit:
                return False
            self._admitted.append(now)
            return True

    def pace(self, kind: str | None) -> float:
        """Seconds between body bytes for an answer drawn as `kind`."""
        if "drip" in self.every:
            return (self.drip or DEFAULT_DRIP) if kind == "drip" else 0.0
        return self.drip

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


@dataclass(frozen=True)
class Answer:
    """What the endpoint says: a status, headers and a body, or nothing at all (`drop`).

    Framing (Content-Length, Date, keep-alive) is the transport's business, so
    `headers` holds only what the API itself decides.
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    drop: bool = False
    drip: float = 0.0  # seconds between body bytes, for the HTTP shell

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of `name`."""
        return _lookup(self.headers, name)

    def json(self) -> Any:
        return json.loads(self.body)


DROPPED = Answer(0, drop=True)


def _lookup(headers: Mapping[str, str] | Sequence[tuple[str, str]], name: str) -> str | None:
    # HTTP header names are case-insensitive, whoever built the mapping.
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    wanted = name.lower()
    return next((value for key, value in pairs if key.lower() == wanted), None)


def _error(status: int, message: str, code: str, *headers: tuple[str, str]) -> Answer:
    body = json.dumps({"message": message, "code": code}).encode()
    return Answer(status, (("Content-Type", JSON), *headers), body)


@dataclass(frozen=True)
class _Data:
    """The records, pre-encoded, and where each id stands: swapped whole by `add`."""

    records: list[dict[str, Any]]
    encoded: list[str]
    position: dict[str, int]

    @classmethod
    def of(cls, records: list[dict[str, Any]]) -> _Data:
        # A lone surrogate (`--odd-data`) is written as its escape, as the platform does.
        encoded = [
            json_escaping_surrogates(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
            for r in records
        ]
        return cls(records, encoded, {r["id"]: i for i, r in enumerate(records)})


class Emulator:
    """The list endpoint over a list of records (newest first; `add` brings new ones),
    with a token and faults.

    Safe to call from several threads at once: the request log, the page count
    and the fault schedule are each updated under a lock.
    """

    def __init__(
        self,
        records: list[dict[str, Any]],
        *,
        token: str = DEFAULT_TOKEN,
        faults: Faults | None = None,
    ) -> None:
        self.token = token
        self.faults = faults or Faults()
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._pages = 0
        self._data = _Data.of(records)

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every record served, newest first (a snapshot: `add` makes a new list)."""
        return self._data.records

    def add(self, records: list[dict[str, Any]]) -> None:
        """Serve `records` too, as the newest: usage arriving while a client follows it."""
        with self._lock:
            fresh = sorted(records, key=lambda r: (r["createdAt"], r["id"]), reverse=True)
            # One assignment: a page being rendered keeps the snapshot it started with.
            self._data = _Data.of([*fresh, *self._data.records])

    def answer(
        self, path: str, params: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> Answer:
        """The answer to `GET path?params` with `headers`, logged in `requests`."""
        authorized = _lookup(headers, "Authorization") == f"Bearer {self.token}"
        seen = SeenRequest(path, tuple(params), _lookup(headers, "X-RunAs-User-Id"), authorized)
        with self._lock:
            self.requests.append(seen)
        answer = self._answer(path, dict(params), authorized)
        seen.status = answer.status
        return answer

    def transport(self) -> httpx.MockTransport:
        """An `httpx.MockTransport` over `answer`: the same data and faults, no sockets.

        A dropped answer raises what httpx raises when a server hangs up
        without a word; injected latency and dripping are not applied (they
        are HTTP affairs).
        """
        import httpx

        def handle(request: httpx.Request) -> httpx.Response:
            url = request.url
            answer = self.answer(url.path, url.params.multi_items(), request.headers)
            if answer.drop:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                )
            return httpx.Response(answer.status, headers=answer.headers, content=answer.body)

        return httpx.MockTransport(handle)

    # Deciding the answer ----------------------------------------------

    def _answer(self, path: str, params: dict[str, str], authorized: bool) -> Answer:
        if path not in PATHS:
            return _error(404, f"no route for {path}", "NOT_FOUND")
        if not authorized:
            return _error(401, "Not authenticated", "NOT_AUTHENTICATED")
        if not self.faults.admit():
            return _error(429, "Too many requests", "LIMITS_REACHED")
        injected = self.faults.draw()
        answer = self._list(params) if injected in (None, "drip") else self._inject(injected)
        pace = self.faults.pace(injected)
        return replace(answer, drip=pace) if pace and not answer.drop else answer

    def _list(self, params: dict[str, str]) -> Answer:
        try:
            take = int(params.get("take", MAX_TAKE))
        except ValueError:
            return _error(400, "take must be an integer", "BAD_REQUEST")
        if not 1 <= take <= MAX_TAKE:
            return _error(400, f"take must be between 1 and {MAX_TAKE}", "BAD_REQUEST")
        order = params.get("order", "desc")
        if order not in ("asc", "desc"):
            return _error(400, "order must be asc or desc", "BAD_REQUEST")
        cursor = params.get("cursor")
        if cursor and cursor not in self._data.position:
            return _error(400, f"invalid cursor {cursor!r}", "BAD_REQUEST")
        served = min(take, self.faults.max_take or take)
        with self._lock:
            self._pages += 1
            looping = self.faults.loop_after is not None and self._pages > self.faults.loop_after
        body = self._page(params, order, served, cursor, repeat=cursor if looping else None)
        return Answer(200, (("Content-Type", JSON),), body)

    def _inject(self, kind: str) -> Answer:
        if kind == "drop":
            # No answer at all, as from a crashed backend.
            return DROPPED
        if kind == "html":
            return Answer(502, (("Content-Type", "text/html"),), HTML_502)
        if kind == "malformed":
            return Answer(200, (("Content-Type", JSON),), MALFORMED)
        if kind == "error200":
            return Answer(200, (("Content-Type", JSON),), json.dumps(ERROR_200).encode())
        if kind == "429":
            wait = self.faults.retry_after
            extra = () if wait is None else (("Retry-After", f"{wait:g}"),)
            return _error(429, "Too many requests", "LIMITS_REACHED", *extra)
        return _error(int(kind), "Service unavailable", "GENERIC_ERROR")

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
        data = self._data
        size = len(data.records)
        ordered = range(size) if order == "desc" else range(size - 1, -1, -1)
        start = 0
        if cursor:
            index = data.position[cursor]
            start = (index if order == "desc" else size - 1 - index) + 1
        found: list[int] = []
        for step in range(start, size):
            index = ordered[step]
            record = data.records[index]
            if all(record.get(name) in values for name, values in wanted.items()) and all(
                meta_matches(record.get("meta"), key, value) for key, value in meta
            ):
                found.append(index)
                if len(found) == take:
                    break
        if not found:
            return b'{"items":[]}'
        items = ",".join(data.encoded[i] for i in found)
        last = json.dumps(repeat or data.records[found[-1]]["id"])
        return f'{{"items":[{items}],"cursor":{last}}}'.encode()
