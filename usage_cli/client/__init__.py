"""The HTTP client of the list endpoint (`Client`), as httpx splits its own:
`_client` (the client), `_urls` (where the endpoint is), `_retry` (when to ask
again), `_watchdog` (a deadline for a whole response)."""

from usage_cli.client._client import TOKEN_HINT, Client
from usage_cli.client._retry import RETRY_STATUSES, WINDOW_HINT, RetryPolicy, retry_after_seconds
from usage_cli.client._urls import ENDPOINT, HOSTED_ENDPOINT, HOSTED_HOSTS, list_url

__all__ = [
    "ENDPOINT",
    "HOSTED_ENDPOINT",
    "HOSTED_HOSTS",
    "RETRY_STATUSES",
    "TOKEN_HINT",
    "WINDOW_HINT",
    "Client",
    "RetryPolicy",
    "list_url",
    "retry_after_seconds",
]
