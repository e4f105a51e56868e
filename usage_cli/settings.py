"""Where the token, API root and run-as user come from: flag, then environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

from usage_cli.errors import InputError

TOKEN_ENV = (
    "CHATBOTKIT_API_TOKEN",
    "CBK_API_TOKEN",
    "CHATBOTKIT_API_SECRET",
    "CBK_API_SECRET",
    "CHATBOTKIT_API_KEY",
    "CBK_API_KEY",
)
API_URL_ENV = ("CHATBOTKIT_API_URL", "CBK_API_URL")
RUN_AS_ENV = ("CHATBOTKIT_API_RUNAS_USERID", "CBK_API_RUNAS_USERID")
DEFAULT_API_URL = "https://api.chatbotkit.com"
DEFAULT_RETRIES = 5
DEFAULT_TIMEOUT = 30.0


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((env[name] for name in names if env.get(name)), None)


@dataclass(frozen=True)
class Settings:
    token: str | None = None
    api_url: str = DEFAULT_API_URL
    run_as: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    verbose: int = 0
    debug: bool = False
    quiet: bool = False

    def __repr__(self) -> str:
        # Keep the token out of any traceback or debug print of the settings.
        shown = "***" if self.token else None
        return (
            f"Settings(token={shown!r}, api_url={self.api_url!r}, run_as={self.run_as!r}, "
            f"timeout={self.timeout}, retries={self.retries})"
        )


def resolve(
    *,
    token: str | None = None,
    token_stdin: bool = False,
    api_url: str | None = None,
    run_as: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    verbose: int = 0,
    debug: bool = False,
    quiet: bool = False,
    env: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
) -> Settings:
    """Flags first, then the environment, then defaults."""
    env = os.environ if env is None else env
    if timeout <= 0:
        raise InputError(f"--timeout must be more than 0 seconds, not {timeout:g}")
    if retries < 0:
        raise InputError(f"--retries must be 0 or more, not {retries}")
    if token_stdin:
        if token:
            raise InputError("--token and --token-stdin cannot be used together")
        if stdin is None:
            raise InputError("--token-stdin: no standard input to read")
        token = stdin.readline().strip()
        if not token:
            raise InputError("--token-stdin: standard input held no token")
    return Settings(
        token=token or _first(env, TOKEN_ENV),
        api_url=api_url or _first(env, API_URL_ENV) or DEFAULT_API_URL,
        run_as=run_as or _first(env, RUN_AS_ENV),
        timeout=timeout,
        retries=retries,
        verbose=verbose,
        debug=debug,
        quiet=quiet,
    )
