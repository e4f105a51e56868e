"""When a request is asked again, and how long to wait first.

Retries are a small policy of our own rather than tenacity/stamina: the rules
are few (which statuses, full-jitter backoff, `Retry-After`) and they need the
response in hand, which a decorator-shaped library only makes harder to read.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from usage_cli.errors import UsageCliError
from usage_cli.runtime import utc_now

# Statuses a later attempt can cure. 501 and 505 are answers about the request
# itself, which no amount of asking changes.
RETRY_STATUSES = frozenset({408, 429}) | (frozenset(range(500, 600)) - {501, 505})


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


class Transient(Exception):
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


WINDOW_HINT = (
    "the account is over the API's per-minute request limit: wait a minute and run "
    "again, with fewer clients sharing the token"
)
