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

from usage_cli import __version__
from usage_cli.errors import AuthError, InputError, ServerError, UsageCliError
from usage_cli.query import Query
from usage_cli.records import Page, error_from_response, parse_page
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
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; `Retry-After` wins, within `max_wait`."""

    retries: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_wait: float = 120.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


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
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = list_url(api_url)
        if not token:
            raise AuthError("no API token configured", hint=TOKEN_HINT)
        if timeout <= 0:
            raise InputError(f"--timeout must be more than 0 seconds, not {timeout}")
        self.api_url = api_url
        self.run_as = run_as
        self.retry = retry or RetryPolicy()
        self._on_event = on_event
        self._sleep = sleep
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": f"usage-cli/{__version__}",
        }
        if run_as:
            headers["X-RunAs-User-Id"] = run_as
        self._http = httpx.Client(headers=headers, timeout=timeout, transport=transport)
        self.requests = 0

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
            self.requests += 1
            failure: UsageCliError
            try:
                response = self._http.get(self.url, params=params)
            except httpx.TransportError as exc:
                reason = str(exc) or type(exc).__name__
                failure = ServerError(
                    f"cannot reach {urlsplit(self.url).netloc}: {reason}",
                    hint="check --api-url and your network; raise --timeout for a slow API",
                )
                wait = self.retry.delay(attempt)
                status = type(exc).__name__
            else:
                if response.status_code == 200:
                    return parse_page(response.content)
                failure = error_from_response(response.status_code, response.content)
                if response.status_code not in RETRY_STATUSES:
                    raise failure
                wait = self.retry.delay(
                    attempt, retry_after_seconds(response.headers.get("Retry-After"))
                )
                status = f"HTTP {response.status_code}"
            if attempt >= self.retry.retries:
                if self.retry.retries:
                    failure.message += f" (gave up after {attempt + 1} attempts)"
                    failure.args = (failure.message,)
                raise failure
            attempt += 1
            self._event(f"retry {attempt}/{self.retry.retries} after {status}: waiting {wait:.2f}s")
            self._sleep(wait)
