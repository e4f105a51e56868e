"""The HTTP client: one page of the list endpoint, authenticated, retried, on time.

Where the endpoint is lives in `_urls`, when to ask again in `_retry`, the
whole-response deadline in `_watchdog`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from usage_cli._version import DISTRIBUTION, __version__
from usage_cli.client._retry import (
    RETRY_STATUSES,
    WINDOW_HINT,
    RetryPolicy,
    Transient,
    retry_after_seconds,
)
from usage_cli.client._urls import list_url, tls_for
from usage_cli.client._watchdog import Watchdog, socket_of
from usage_cli.errors import (
    AuthError,
    InputError,
    ReportedError,
    SchemaError,
    ServerError,
)
from usage_cli.query import Query
from usage_cli.records import Page, error_from_response, parse_page
from usage_cli.runtime import system_sleep, utc_now
from usage_cli.settings import DEFAULT_API_URL


def _header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable()


# A page of 100 records is tens of KiB; a server that sends more than this (a
# decompression bomb, a runaway body) is not answering the list endpoint.
MAX_PAGE_BYTES = 64 * 1024 * 1024
MAX_PAGE_ENV = "USAGE_MAX_PAGE_MIB"


class _TooLarge(Exception):
    """A page's decoded body passed `max_page_bytes`."""


class _Body:
    """A response body as it comes, decoded (gzip or deflate) no further than `limit`.

    `_TooLarge` once the decoded bytes pass it: each piece is inflated at most
    up to the bound (zlib's max_length), so memory never holds more.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        coding = encoding.strip().lower()
        if coding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise httpx.DecodingError(f"a body in {encoding!r}, which was not asked for")
        # 32 + 15: zlib's or gzip's header, whichever the server sent.
        self._inflate = None if coding in ("", "identity") else zlib.decompressobj(wbits=47)
        self._limit = limit
        self._parts: list[bytes] = []
        self._size = 0

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._limit:
            raise _TooLarge
        self._parts.append(data)

    def add(self, chunk: bytes) -> None:
        if self._inflate is None:
            self._keep(chunk)
            return
        try:
            pending = chunk
            while pending:
                room = self._limit - self._size + 1
                self._keep(self._inflate.decompress(pending, room))
                pending = self._inflate.unconsumed_tail
        except zlib.error as exc:
            raise httpx.DecodingError(str(exc)) from None

    def whole(self) -> bytes:
        if self._inflate is not None:
            try:
                self._keep(self._inflate.flush())
            except zlib.error as exc:
                raise httpx.DecodingError(str(exc)) from None
            if not self._inflate.eof and self._size:
                raise httpx.DecodingError("the compressed body ends early")
        return b"".join(self._parts)


TOKEN_HINT = "set CHATBOTKIT_API_TOKEN (or pass --token / --token-stdin)"


class _Overdue(Exception):
    """The whole response did not arrive within the timeout."""


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
        max_page_bytes: int = MAX_PAGE_BYTES,
    ) -> None:
        """`max_page_bytes` bounds a page's body as decoded (gzip included): memory stays
        flat however a server misbehaves."""
        self.url = list_url(api_url)
        self.max_page_bytes = max_page_bytes
        # Host and port only, for messages: a password in the URL (user:pw@host) is a secret.
        parts = urlsplit(self.url)
        self._host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        self._loopback = parts.hostname in ("localhost", "::1") or str(parts.hostname).startswith(
            "127."
        )
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
            # Only what `_Body` decodes within the page bound: never brotli or zstd.
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": f"{DISTRIBUTION}/{__version__}",
        }
        if run_as:
            headers["X-RunAs-User-Id"] = run_as
        self._http = httpx.Client(
            headers=headers, timeout=timeout, transport=transport, verify=tls_for(self.url)
        )
        self._watchdog = Watchdog()
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
            except Transient as transient:
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
                    message = (
                        f"retry {retried}/{policy.retries} after {transient.label}: "
                        f"waiting {wait:.2f}s"
                    )
                    if retried == 1 and transient.label == "ConnectError" and self._loopback:
                        # Nothing listens on this machine's port (a sandbox not started?):
                        # said without --verbose, since quiet retries look like a hang.
                        self._notice(f"{message} (nothing listening on {self._host}?)")
                    else:
                        self._event(message)
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
        except _TooLarge:
            mib = self.max_page_bytes / 2**20
            raise ServerError(
                f"the API at {self._host} sent a page over {mib:g} MiB (decoded); it was "
                "not read further",
                hint=f"a list page is tens of KiB; if a larger one is real, raise {MAX_PAGE_ENV}",
            ) from None
        except _Overdue:
            failure = ServerError(
                f"no complete answer from {self._host} within --timeout {self.timeout:g}s",
                hint="the API or the network is slow: raise --timeout",
            )
            raise Transient(failure, "a response slower than --timeout") from None
        except httpx.DecodingError as exc:
            # A body whose Content-Encoding does not decode: as cut as a cut body.
            failure = ServerError(f"the API sent a body that cannot be decoded: {exc}")
            raise Transient(failure, "a malformed response") from None
        except httpx.RequestError as exc:
            reason = str(exc) or type(exc).__name__
            if _no_such_host(exc):
                # The resolver's final answer (EAI_NONAME), not a resolver that could not
                # be asked (EAI_AGAIN): five more asks would answer the same.
                raise ServerError(
                    f"cannot reach {self._host}: no such host ({reason})",
                    hint="check the host name in --api-url",
                ) from None
            failure = ServerError(
                f"cannot reach {self._host}: {reason}",
                hint="check --api-url and your network; raise --timeout for a slow API",
            )
            raise Transient(failure, type(exc).__name__) from None
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
                raise Transient(reported, "an error reported in a 200 response") from None
            except ServerError as malformed:
                # A cut or garbled body is as transient as a 502: ask again.
                raise Transient(malformed, "a malformed response") from None
        refused = error_from_response(status, body)
        if status == 404 and refused.hint is None:
            path = urlsplit(self.api_url.strip()).path.rstrip("/")
            if path.endswith("/v1"):
                # A root copied from the API's docs with its version on it.
                refused.hint = (
                    f"--api-url is the API's root, without {path}: "
                    f"e.g. {self.api_url.strip().rstrip('/')[: -len(path)]}"
                )
        if status not in RETRY_STATUSES:
            raise refused
        retry_after = retry_after_seconds(headers.get("Retry-After"), now=self._now())
        raise Transient(
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
            alarm = self._watchdog.arm(deadline, socket_of(response))
            body = _Body(response.headers.get("Content-Encoding", ""), self.max_page_bytes)
            try:
                # Raw bytes, decoded here: httpx would inflate a whole network chunk at
                # once, a gzip bomb's 64 KiB into 64 MiB before anything could stop it.
                for chunk in response.iter_raw():
                    body.add(chunk)
                    # Transports without a socket (tests) are checked between chunks.
                    if alarm.is_set() or time.monotonic() > deadline:
                        raise _Overdue
            except httpx.StreamConsumed:
                # An in-process transport's response, read (and decoded) whole before
                # it came: only its size is left to bound.
                body = _Body("", self.max_page_bytes)
                body.add(response.content)
            except httpx.TransportError:
                if alarm.is_set():
                    raise _Overdue from None
                raise
            finally:
                self._watchdog.disarm(alarm)
            return response.status_code, response.headers, body.whole()
        finally:
            response.close()


def _no_such_host(error: BaseException) -> bool:
    """Whether `error` came of a host name the resolver says does not exist."""
    import socket

    seen: BaseException | None = error
    for _ in range(8):  # a chain of causes is short; a cycle must not loop forever
        if seen is None:
            return False
        if isinstance(seen, socket.gaierror):
            return seen.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None))
        seen = seen.__cause__ or seen.__context__
    return False
