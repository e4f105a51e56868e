"""Where the list endpoint is for an API root, and the TLS a client of it needs."""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from usage_cli.errors import InputError
from usage_cli.settings import DEFAULT_API_URL

# The official SDKs drop the `/api` prefix on the hosted platform, and only there.
HOSTED_HOSTS = frozenset({"api.chatbotkit.com"})
ENDPOINT = "/api/v1/usage/list"
HOSTED_ENDPOINT = "/v1/usage/list"


@functools.cache
def _verified_tls() -> ssl.SSLContext:
    # Loading the CA bundle costs about 25 ms: once a process, however many
    # clients (two for an export read from both ends).
    return httpx.create_ssl_context()


def tls_for(url: str) -> ssl.SSLContext:
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


def cleartext_to(api_url: str) -> str | None:
    """The host a plain-HTTP `api_url` would send the token to across a network (None for
    https, or a host on this machine)."""
    parts = urlsplit(api_url.strip())
    host = parts.hostname or ""
    if parts.scheme != "http" or host == "localhost" or host.endswith(".localhost"):
        return None
    try:
        import ipaddress

        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return host


def refuse_cleartext(api_url: str, env: Mapping[str, str]) -> None:
    """InputError, before any request, for a plain-HTTP API off this machine (unless the
    user allows it with USAGE_ALLOW_HTTP=1: a lab network, a TLS proxy in front)."""
    host = cleartext_to(api_url)
    if host is not None and env.get(ALLOW_HTTP_ENV) != "1":
        raise InputError(
            f"--api-url {api_url!r} is plain http to {host}: the token would cross the "
            "network unencrypted",
            hint=f"use https://; or, if that is what you mean, set {ALLOW_HTTP_ENV}=1",
        )


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


# Plain HTTP is for a server on this machine (the sandbox); elsewhere the token would
# cross the network readable by anyone on the way, unless the user says otherwise.
ALLOW_HTTP_ENV = "USAGE_ALLOW_HTTP"


def list_url(api_url: str) -> str:
    """The full URL of the list endpoint for an API root."""
    parts = urlsplit(api_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"--api-url {api_url!r} is not an http(s) URL",
            hint=f"e.g. {DEFAULT_API_URL} or http://127.0.0.1:8080",
        )
    if parts.username is not None or parts.password is not None:
        # Never kept: a manifest, the archive, a message or --debug would show it, and
        # httpx would send it as Basic auth in place of the token.
        raise InputError(
            "--api-url must not carry a user or password (user:pass@host)",
            hint="the token goes in CHATBOTKIT_API_TOKEN, --token or a profile",
        )
    if parts.query or parts.fragment:
        raise InputError(
            "--api-url must be the API's root, with no ?query or #fragment",
            hint=f"e.g. {DEFAULT_API_URL}",
        )
    path = _strip_endpoint(parts.path.rstrip("/"), ENDPOINT)
    endpoint = ENDPOINT
    if parts.hostname in HOSTED_HOSTS:
        path, endpoint = _strip_endpoint(path, HOSTED_ENDPOINT), HOSTED_ENDPOINT
    return f"{parts.scheme}://{parts.netloc}{path}{endpoint}"
