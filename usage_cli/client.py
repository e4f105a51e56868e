"""The HTTP client: where the endpoint is, how to authenticate, when to retry.

Retries are a small policy of our own rather than tenacity/stamina: the rules
are few (which statuses, full-jitter backoff, `Retry-After`) and they need the
response in hand, which a decorator-shaped library only makes harder to read.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from usage_cli._version import __version__
from usage_cli.errors import (
    AuthError,
    InputError,
    ReportedError,
    SchemaError,
    ServerError,
    UsageCliError,
)
from usage_cli.query import Query
from usage_cli.records import Page, error_from_response, parse_page
from usage_cli.runtime import system_sleep, utc_now
from usage_cli.settings import DEFAULT_API_URL

# The official SDKs drop the `/api` prefix on the hosted platform, and only there.
HOSTED_HOSTS = frozenset({"api.chatbotkit.com"})
ENDPOINT = "/api/v1/usage/list"
HOSTED_ENDPOINT = "/v1/usage/list"
# Statuses a later attempt can cure. 501 and 505 are answers about the request
# itself, which no amount of asking changes.
RETRY_STATUSES = frozenset({408, 429}) | (frozenset(range(500, 600)) - {501, 505})
TOKEN_HINT = "set CHATBOTKIT_API_TOKEN (or pass --token / --token-stdin)"


@functools.cache
def _verified_tls() -> ssl.SSLContext:
    # Loading the CA bundle costs about 25 ms: once a process, however many
    # clients (two for an export read from both ends).
    return httpx.create_ssl_context()


def _tls_for(url: str) -> ssl.SSLContext:
    """The TLS settings of a client of `url`."""
    if urlsplit(url).scheme == "http" and not any(
        name.lower().endswith("_proxy") for name in os.environ
    ):
        # A plain-HTTP API with no proxy never meets TLS (redirects are not
        # followed), so its CA bundle would be loaded for nothing. This context
        # still demands a verified certificate and trusts none: a TLS
        # connection that did happen would fail closed, never unchecked.
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return _verified_tls()


def _strip_endpoint(path: str, endpoint: str) -> str:
    """`path` without a trailing leading part of `endpoint` (`/api`, `/api/v1`, ...).

    A root copied with part of the endpoint path on it (`http://host/api`)
    would otherwise ask for `/api/api/v1/...` and get a 404.
    """
    segments = endpoint.strip("/").split("/")
    for size in range(len(segments), 0, -1):
        tail = "/" + "/".join(segments[:size])
        if path.endswith(tail):
            return path[: -len(tail)]
    return path


def list_url(api_url: str) -> str:
    """The full URL of the list endpoint for an API root."""
    parts = urlsplit(api_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"--api-url {api_url!r} is not an http(s) URL",
            hint=f"e.g. {DEFAULT_API_URL} or http://127.0.0.1:8080",
        )
    path = _strip_endpoint(parts.path.rstrip("/"), ENDPOINT)
    endpoint = ENDPOINT
    if parts.hostname in HOSTED_HOSTS:
        path, endpoint = _strip_endpoint(path, HOSTED_ENDPOINT), HOSTED_ENDPOINT
    return f"{parts.scheme}://{parts.netloc}{path}{endpoint}"


def _header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable()


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime  # a date is rare: kept off start-up

        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or utc_now())).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """When to ask again, and how long to wait first.

    `retries` bounds the retries of one request after a network error, a
    timeout, a 5xx, a cut body, an error in a 200 or a 429 with `Retry-After`
    (which wins, within `max_wait`); the waits are exponential with full jitter.

    A 429 without `Retry-After` is the platform's sliding 60 s window on
    `/list` paths, which does not say when it reopens. Short waits would
    spend every retry inside the window, so these waits are at least
    `rate_limit_floor` (jittered up to `rate_limit_cap`, so that clients
    limited together do not come back together) and go on, whatever
    `retries` says, until `rate_limit_budget` seconds have been waited: by then
    the whole window has slid past. Only `retries=0` turns them off.
    """

    retries: int = 5
    base: float = 0.5
    cap: float = 30.0
    rate_limit_floor: float = 15.0
    rate_limit_cap: float = 20.0
    rate_limit_budget: float = 65.0
    max_wait: float = 120.0

    def delay(
        self, attempt: int, retry_after: float | None = None, *, rate_limited: bool = False
    ) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        if rate_limited:
            return random.uniform(self.rate_limit_floor, self.rate_limit_cap)
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


class _Transient(Exception):
    """A failure worth another attempt, and how long the server asked us to wait."""

    def __init__(
        self,
        failure: UsageCliError,
        label: str,
        *,
        retry_after: float | None = None,
        rate_limited: bool = False,
    ) -> None:
        super().__init__(label)
        self.failure = failure
        self.label = label
        self.retry_after = retry_after
        self.rate_limited = rate_limited

    @property
    def window(self) -> bool:
        """A 429 that names no time: the platform's 60 s window."""
        return self.rate_limited and self.retry_after is None


class _Overdue(Exception):
    """The whole response did not arrive within the timeout."""


WINDOW_HINT = (
    "the account is over the API's per-minute request limit: wait a minute and run "
    "again, with fewer clients sharing the token"
)


class Client:
    """Fetches pages of `/usage/list`. Use as a context manager.

    `timeout` bounds each attempt as a whole: connecting, sending and the
    entire response body, so a server that drips its answer cannot hold a
    request longer than that. `on_event` hears every retry (for -v);
    `on_wait`, when given, hears the long rate-limit waits instead, which a
    person should see even without -v.
    """

    def __init__(
        self,
        *,
        token: str | None,
        api_url: str = DEFAULT_API_URL,
        run_as: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        on_event: Callable[[str], None] | None = None,
        on_wait: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = system_sleep,
        now: Callable[[], datetime] = utc_now,
        debug: bool = False,
    ) -> None:
        self.url = list_url(api_url)
        # Host and port only, for messages: a password in the URL (user:pw@host) is a secret.
        parts = urlsplit(self.url)
        self._host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        if not token:
            raise AuthError("no API token configured", hint=TOKEN_HINT)
        if not timeout > 0 or timeout == float("inf"):
            raise InputError(f"--timeout must be more than 0 seconds, not {timeout}")
        if not _header_safe(token):
            # Never echo the token, not even a malformed one.
            raise InputError("the API token has characters an HTTP header cannot carry")
        if run_as and not _header_safe(run_as):
            raise InputError(f"--run-as {run_as!r} has characters an HTTP header cannot carry")
        self.api_url = api_url
        self.run_as = run_as
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._on_event = on_event
        self._on_wait = on_wait
        self.debug = debug
        self._sleep = sleep
        self._now = now
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": f"usage-cli/{__version__}",
        }
        if run_as:
            headers["X-RunAs-User-Id"] = run_as
        self._http = httpx.Client(
            headers=headers, timeout=timeout, transport=transport, verify=_tls_for(self.url)
        )
        self._watchdog = _Watchdog()
        # The last query's URL without its cursor, and for which query and take.
        self._base: tuple[Query, int, str] | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._watchdog.close()
        self._http.close()

    def _event(self, message: str) -> None:
        if self._on_event is not None:
            self._on_event(message)

    def _notice(self, message: str) -> None:
        notice = self._on_wait or self._on_event
        if notice is not None:
            notice(message)

    def fetch_page(self, query: Query, *, cursor: str | None, take: int) -> Page:
        """One page, retried on transient failures; raises the hierarchy's errors."""
        url = self._page_url(query, cursor=cursor, take=take)
        policy = self.retry
        retried = 0  # retries counted against `policy.retries`
        attempts = 0
        waited_for_window = 0.0
        while True:
            attempts += 1
            try:
                return self._attempt(url)
            except _Transient as transient:
                failure = transient.failure
                if transient.window and policy.retries:
                    again = waited_for_window < policy.rate_limit_budget
                else:
                    again = retried < policy.retries
                if not again:
                    if transient.window and policy.retries:
                        failure.message += (
                            f" (gave up after {attempts} attempts and "
                            f"{waited_for_window:.0f}s waiting for the rate-limit window)"
                        )
                        failure.hint = WINDOW_HINT
                    elif policy.retries:
                        failure.message += f" (gave up after {attempts} attempts)"
                    failure.args = (failure.message,)
                    raise failure from None
                wait = policy.delay(
                    retried, transient.retry_after, rate_limited=transient.rate_limited
                )
                if transient.window:
                    waited_for_window += wait
                    self._notice(
                        f"rate limit reached (HTTP 429 without Retry-After): waiting "
                        f"{wait:.0f}s for the API's 60-second window "
                        f"({waited_for_window:.0f}s of at least "
                        f"{policy.rate_limit_budget:.0f}s)"
                    )
                else:
                    retried += 1
                    self._event(
                        f"retry {retried}/{policy.retries} after {transient.label}: "
                        f"waiting {wait:.2f}s"
                    )
                self._sleep(wait)

    def _page_url(self, query: Query, *, cursor: str | None, take: int) -> str:
        """The URL of one page: the query's part is encoded once, only the cursor per page.

        The same text httpx makes of `query.params(...)` (the cursor is the
        last pair), at a fraction of its cost: merging parameters into a URL
        parses it twice, which was a tenth of the time a page took.
        """
        base = self._base
        if base is None or base[0] is not query or base[1] != take:
            pairs = query.params(cursor=None, take=take)
            base = self._base = (query, take, str(httpx.URL(self.url, params=pairs)))
        if not cursor:
            return base[2]
        return f"{base[2]}&{httpx.QueryParams({'cursor': cursor})}"

    def _attempt(self, url: str) -> Page:
        request = self._http.build_request("GET", url)
        if self.debug:
            shown = {
                k: ("Bearer ***" if k.lower() == "authorization" else v)
                for k, v in request.headers.items()
            }
            self._event(f"debug: GET {request.url} headers={shown}")
        started = time.monotonic()
        try:
            status, headers, body = self._exchange(request, deadline=started + self.timeout)
        except _Overdue:
            failure = ServerError(
                f"no complete answer from {self._host} within --timeout {self.timeout:g}s",
                hint="the API or the network is slow: raise --timeout",
            )
            raise _Transient(failure, "a response slower than --timeout") from None
        except httpx.DecodingError as exc:
            # A body whose Content-Encoding does not decode: as cut as a cut body.
            failure = ServerError(f"the API sent a body that cannot be decoded: {exc}")
            raise _Transient(failure, "a malformed response") from None
        except httpx.RequestError as exc:
            reason = str(exc) or type(exc).__name__
            failure = ServerError(
                f"cannot reach {self._host}: {reason}",
                hint="check --api-url and your network; raise --timeout for a slow API",
            )
            raise _Transient(failure, type(exc).__name__) from None
        if self.debug:
            self._event(
                f"debug: HTTP {status}, {len(body)} bytes in {time.monotonic() - started:.3f}s"
            )
        if status == 200:
            try:
                return parse_page(body)
            except (AuthError, SchemaError):
                # Valid JSON of the wrong shape comes back the same every time.
                raise
            except ReportedError as reported:
                # The platform's slow-request failure: a later attempt is a new request.
                raise _Transient(reported, "an error reported in a 200 response") from None
            except ServerError as malformed:
                # A cut or garbled body is as transient as a 502: ask again.
                raise _Transient(malformed, "a malformed response") from None
        refused = error_from_response(status, body)
        if status not in RETRY_STATUSES:
            raise refused
        retry_after = retry_after_seconds(headers.get("Retry-After"), now=self._now())
        raise _Transient(
            refused, f"HTTP {status}", retry_after=retry_after, rate_limited=status == 429
        )

    def _exchange(
        self, request: httpx.Request, *, deadline: float
    ) -> tuple[int, httpx.Headers, bytes]:
        """Status, headers and the whole body, or `_Overdue` once `deadline` passes.

        httpx's timeouts bound each read, not the response, and it reads a
        streamed body's read timeout once, so a body dripping a byte at a
        time would never time out. Connecting and the head get the whole
        timeout as each phase's bound; the body is read against a watchdog
        that shuts the socket when the deadline comes, which wakes the
        blocked read at once.
        """
        response = self._http.send(request, stream=True)
        try:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Overdue
            alarm = self._watchdog.arm(deadline, _socket_of(response))
            chunks: list[bytes] = []
            try:
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    # Transports without a socket (tests) are checked between chunks.
                    if alarm.is_set() or time.monotonic() > deadline:
                        raise _Overdue
            except httpx.TransportError:
                if alarm.is_set():
                    raise _Overdue from None
                raise
            finally:
                self._watchdog.disarm(alarm)
            return response.status_code, response.headers, b"".join(chunks)
        finally:
            response.close()


class _Watchdog:
    """Shuts the socket of a response whose deadline has passed, waking its blocked read.

    One thread for the client's life rather than a timer per request: starting
    a thread per page cost more than parsing the page.
    """

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._armed: dict[threading.Event, tuple[float, socket.socket | None]] = {}
        self._thread: threading.Thread | None = None
        self._sleeping_until = float("inf")
        self._closed = False

    def arm(self, deadline: float, sock: socket.socket | None) -> threading.Event:
        """Watch `sock` until `disarm`; the event is set if the deadline came first."""
        alarm = threading.Event()
        with self._wake:
            self._armed[alarm] = (deadline, sock)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="usage-watchdog", daemon=True
                )
                self._thread.start()
            # Deadlines only grow (now + timeout): the thread, asleep until an
            # earlier one, finds this one when it wakes. Waking it per request
            # would cost a thread switch a page.
            if deadline < self._sleeping_until:
                self._wake.notify()
        return alarm

    def disarm(self, alarm: threading.Event) -> None:
        with self._wake:
            self._armed.pop(alarm, None)

    def close(self) -> None:
        """End the thread (with the client): nothing is watched after this."""
        with self._wake:
            self._closed = True
            self._armed.clear()
            self._wake.notify()

    def _watch(self) -> None:
        with self._wake:
            while not self._closed:
                if not self._armed:
                    self._sleeping_until = float("inf")
                    self._wake.wait()
                    continue
                alarm, (deadline, sock) = min(self._armed.items(), key=lambda item: item[1][0])
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    self._sleeping_until = deadline
                    self._wake.wait(remaining)
                    continue
                del self._armed[alarm]
                alarm.set()
                if sock is not None:
                    # A socket already closed needs no cutting.
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)


def _socket_of(response: httpx.Response) -> socket.socket | None:
    """The socket under a streamed response, where the transport has one."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    sock = stream.get_extra_info("socket")
    return sock if isinstance(sock, socket.socket) else None
