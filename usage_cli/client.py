"""The HTTP client: where the endpoint is, how to authenticate, when to retry.

Retries are a small policy of our own rather than tenacity/stamina: the rules
are few (which statuses, full-jitter backoff, `Retry-After`) and they need the
response in hand, which a decorator-shaped library only makes harder to read.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from usage_cli._version import __version__
from usage_cli.errors import AuthError, InputError, ServerError, UsageCliError
from usage_cli.query import Query
from usage_cli.records import Page, error_from_response, parse_page
from usage_cli.runtime import system_sleep, utc_now
from usage_cli.settings import DEFAULT_API_URL

# The official SDKs drop the `/api` prefix on the hosted platform, and only there.
HOSTED_HOSTS = frozenset({"api.chatbotkit.com"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
TOKEN_HINT = "set CHATBOTKIT_API_TOKEN (or pass --token / --token-stdin)"


def list_url(api_url: str) -> str:
    """The full URL of the list endpoint for an API root."""
    parts = urlsplit(api_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"--api-url {api_url!r} is not an http(s) URL",
            hint=f"e.g. {DEFAULT_API_URL} or http://127.0.0.1:8080",
        )
    root = api_url.strip().rstrip("/")
    if parts.hostname in HOSTED_HOSTS:
        if root.endswith("/api"):
            root = root[: -len("/api")]
        return root + "/v1/usage/list"
    return root + "/api/v1/usage/list"


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
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or utc_now())).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; `Retry-After` wins, within `max_wait`.

    A 429 without `Retry-After` backs off on a longer scale: the platform limits
    `/list` paths over a 60 s sliding window and does not say when it reopens.
    """

    retries: int = 5
    base: float = 0.5
    cap: float = 30.0
    rate_limit_base: float = 4.0
    rate_limit_cap: float = 60.0
    max_wait: float = 120.0

    def delay(
        self, attempt: int, retry_after: float | None = None, *, rate_limited: bool = False
    ) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        base, cap = (
            (self.rate_limit_base, self.rate_limit_cap)
            if rate_limited
            else (
                self.base,
                self.cap,
            )
        )
        return random.uniform(0, min(cap, base * 2**attempt))


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


class Client:
    """Fetches pages of `/usage/list`. Use as a context manager."""

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
        sleep: Callable[[float], None] = system_sleep,
        now: Callable[[], datetime] = utc_now,
        debug: bool = False,
    ) -> None:
        self.url = list_url(api_url)
        if not token:
            raise AuthError("no API token configured", hint=TOKEN_HINT)
        if timeout <= 0:
            raise InputError(f"--timeout must be more than 0 seconds, not {timeout}")
        if not _header_safe(token):
            # Never echo the token, not even a malformed one.
            raise InputError("the API token has characters an HTTP header cannot carry")
        if run_as and not _header_safe(run_as):
            raise InputError(f"--run-as {run_as!r} has characters an HTTP header cannot carry")
        self.api_url = api_url
        self.run_as = run_as
        self.retry = retry or RetryPolicy()
        self._on_event = on_event
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
        self._http = httpx.Client(headers=headers, timeout=timeout, transport=transport)

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
        self._http.close()

    def _event(self, message: str) -> None:
        if self._on_event is not None:
            self._on_event(message)

    def fetch_page(self, query: Query, *, cursor: str | None, take: int) -> Page:
        """One page, retried on transient failures; raises the hierarchy's errors."""
        params: list[tuple[str, str | int | float | bool | None]] = list(
            query.params(cursor=cursor, take=take)
        )
        attempt = 0
        while True:
            try:
                return self._attempt(params)
            except _Transient as transient:
                failure = transient.failure
                if attempt >= self.retry.retries:
                    if self.retry.retries:
                        failure.message += f" (gave up after {attempt + 1} attempts)"
                        failure.args = (failure.message,)
                    raise failure from None
                wait = self.retry.delay(
                    attempt, transient.retry_after, rate_limited=transient.rate_limited
                )
                attempt += 1
                self._event(
                    f"retry {attempt}/{self.retry.retries} after {transient.label}: "
                    f"waiting {wait:.2f}s"
                )
                self._sleep(wait)

    def _attempt(self, params: list[tuple[str, str | int | float | bool | None]]) -> Page:
        if self.debug:
            request = self._http.build_request("GET", self.url, params=params)
            shown = {
                k: ("Bearer ***" if k.lower() == "authorization" else v)
                for k, v in request.headers.items()
            }
            self._event(f"debug: GET {request.url} headers={shown}")
        started = time.monotonic()
        try:
            response = self._http.get(self.url, params=params)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            failure = ServerError(
                f"cannot reach {urlsplit(self.url).netloc}: {reason}",
                hint="check --api-url and your network; raise --timeout for a slow API",
            )
            raise _Transient(failure, type(exc).__name__) from None
        if self.debug:
            self._event(
                f"debug: HTTP {response.status_code}, {len(response.content)} bytes "
                f"in {time.monotonic() - started:.3f}s"
            )
        status = response.status_code
        if status == 200:
            try:
                return parse_page(response.content)
            except AuthError:
                raise
            except ServerError as malformed:
                # A cut or garbled body is as transient as a 502: ask again.
                raise _Transient(malformed, "a malformed response") from None
        refused = error_from_response(status, response.content)
        if status not in RETRY_STATUSES:
            raise refused
        retry_after = retry_after_seconds(response.headers.get("Retry-After"), now=self._now())
        raise _Transient(
            refused, f"HTTP {status}", retry_after=retry_after, rate_limited=status == 429
        )
