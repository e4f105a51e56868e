"""Where the token, API root and run-as user come from: flag, then environment."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from usage_cli._defaults import DEFAULT_RETRIES, DEFAULT_TIMEOUT
from usage_cli.errors import AuthError, InputError

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
PRICES_ENV = ("USAGE_PRICES",)
DEFAULT_API_URL = "https://api.chatbotkit.com"
# A day: longer is no timeout at all, and sockets refuse what overflows a time_t.
MAX_TIMEOUT = 86_400.0


# `tz` has no variable of its own: `TZ` means the machine's zone, which is `--tz local`.
ENVIRONMENT = {
    "token": TOKEN_ENV,
    "api_url": API_URL_ENV,
    "run_as": RUN_AS_ENV,
    "tz": (),
    "prices": PRICES_ENV,
}


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
    profile: str | None = None
    # The zone of displayed times and time buckets (`--tz`, profile `tz`), checked.
    tz: str = "UTC"
    # A price file (`--prices`, $USAGE_PRICES, profile `prices`); None: the bundled table.
    prices: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    # A profile's token not used (its file is open to others): the error and hint
    # for the moment a request would need it. `--demo`, `--db` and `config show`
    # never do, and go on with the warning alone.
    token_refused: tuple[str, str] | None = None

    def __repr__(self) -> str:
        # Keep the token out of any traceback or debug print of the settings.
        shown = "***" if self.token else None
        return (
            f"Settings(token={shown!r}, api_url={self.api_url!r}, run_as={self.run_as!r}, "
            f"timeout={self.timeout}, retries={self.retries}, profile={self.profile!r})"
        )


def resolve(
    *,
    token: str | None = None,
    token_stdin: bool = False,
    api_url: str | None = None,
    run_as: str | None = None,
    profile: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    verbose: int = 0,
    debug: bool = False,
    quiet: bool = False,
    tz: str | None = None,
    prices: str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
) -> Settings:
    """Flags first, then the environment, then the profile, then defaults."""
    from usage_cli import config

    env = os.environ if env is None else env
    if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
        raise InputError(
            f"--timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, "
            f"not {timeout:g}"
        )
    if retries < 0:
        raise InputError(f"--retries must be 0 or more, not {retries}")
    if token_stdin:
        if token:
            raise InputError("--token and --token-stdin cannot be used together")
        if stdin is None:
            raise InputError("--token-stdin: no standard input to read")
        token = stdin.readline().strip()
        if not token:
            # No token at all, as the contract's exit 3 says, though one was asked for.
            raise AuthError(
                "--token-stdin: standard input held no token",
                hint="pipe it in: usage --token-stdin ... < token-file",
            )
    if tz is not None and not tz.strip():
        raise InputError("--tz needs a zone: an IANA name such as Europe/Berlin, UTC or local")
    chosen: dict[str, str] = {}
    sources: dict[str, str] = {}
    flags = {
        "token": (token, "--token-stdin" if token_stdin else "--token"),
        "api_url": (api_url, "--api-url"),
        "run_as": (run_as, "--run-as"),
        "tz": (tz, "--tz"),
        "prices": (prices, "--prices"),
    }
    for key, (value, flag) in flags.items():
        if value:
            chosen[key], sources[key] = value, flag
            continue
        name = next((name for name in ENVIRONMENT[key] if env.get(name)), None)
        if name:
            chosen[key], sources[key] = env[name], f"environment {name}"
    profile_name = profile or env.get(config.PROFILE_ENV) or None
    warnings: list[str] = []
    token_refused = None
    if profile_name is not None or len(chosen) < len(flags):
        path = config.config_path(env)
        try:
            profiles = config.load(path)
        except config.Unreachable as unreachable:
            if profile_name is not None:
                raise
            # As git does with a config it cannot reach: said, and gone on without.
            warnings.append(f"{unreachable.message}; going on without it")
            profiles = {}
        name = config.check_profile_name(profile_name or config.DEFAULT_PROFILE)
        if profile_name is not None and name not in profiles:
            raise InputError(
                f"no profile {name!r} in {str(path)!r}", hint="see `usage config list`"
            )
        found = profiles.get(name, {})
        unsafe = config.exposure(path) if "token" in found else None
        for key, value in found.items():
            if key in chosen:
                continue
            if key == "token" and unsafe:
                token_refused = (f"{unsafe}; not using it", f"chmod 600 {path}")
                continue
            chosen[key], sources[key] = value, f"profile {name!r} ({path})"
        if unsafe:
            warnings.append(f"{unsafe}; run: chmod 600 {path}")
        profile = name if name in profiles else None
    from usage_cli import zones

    zone = "UTC"
    if "tz" in chosen:
        try:
            zone = zones.check(chosen["tz"])
        except InputError as exc:
            if sources["tz"] != "--tz":
                exc.message += f" (from {sources['tz']})"
            raise
    return Settings(
        tz=zone,
        token=chosen.get("token"),
        api_url=chosen.get("api_url", DEFAULT_API_URL),
        run_as=chosen.get("run_as"),
        prices=chosen.get("prices"),
        timeout=timeout,
        retries=retries,
        verbose=verbose,
        debug=debug,
        quiet=quiet,
        profile=profile,
        sources=sources,
        warnings=tuple(warnings),
        token_refused=token_refused,
    )
