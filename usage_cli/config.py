"""Named profiles in a TOML file in the user's config directory.

    [profiles.default]
    token = "..."
    api_url = "https://api.chatbotkit.com"
    run_as = "user_123"
    tz = "Europe/Berlin"
    prices = "/home/me/contract-prices.toml"

The file is written with mode 0600. Like ssh with a private key, a file that
holds a token and is readable by others is refused rather than used.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from usage_cli.errors import InputError

CONFIG_ENV = "USAGE_CONFIG"
PROFILE_ENV = "USAGE_PROFILE"
DEFAULT_PROFILE = "default"
KEYS = ("token", "api_url", "run_as", "tz", "prices")
Profiles = dict[str, dict[str, str]]


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    import platformdirs

    return platformdirs.user_config_path("usage", appauthor=False) / "config.toml"


def normalise_key(key: str) -> str:
    name = key.strip().lower().replace("-", "_")
    if name not in KEYS:
        raise InputError(f"unknown setting {key!r}", hint="settings: " + ", ".join(KEYS))
    return name


def check_profile_name(name: str) -> str:
    if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
        raise InputError(f"profile name {name!r} may use only letters, digits, '-' and '_'")
    return name


def _too_open(path: Path) -> int | None:
    """The file's mode when group or others may read or write it, else None."""
    mode = stat.S_IMODE(path.stat().st_mode)
    return mode if mode & 0o077 else None


class Unreachable(InputError):
    """The config's folder cannot be searched (a home of another user's, after `sudo -u`):
    whether a config is there cannot be told."""


def load(path: Path) -> Profiles:
    """Every profile in the file; an absent file has none. `Unreachable` when whether
    there is one cannot be told."""
    try:
        if not path.exists():
            return {}
    except PermissionError:
        raise Unreachable(
            f"cannot look for the config file {str(path)!r}: permission denied",
            hint="set USAGE_CONFIG (or HOME) to a place of your own",
        ) from None
    if path.stat().st_uid != os.geteuid():
        # Whoever wrote it chose the API your token goes to: as ssh refuses such a file.
        raise InputError(
            f"the config file {str(path)!r} belongs to another user: it is not used",
            hint="set USAGE_CONFIG to a file of your own",
        )
    import tomllib  # only with a file to read: most runs have none, and start-up counts

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read the config file {str(path)!r}: {exc}") from None
    raw = data.get("profiles", {})
    if not isinstance(raw, dict):
        raise InputError(f"{str(path)!r}: 'profiles' must be a table")
    profiles: Profiles = {}
    for name, values in raw.items():
        if not isinstance(values, dict):
            raise InputError(f"{str(path)!r}: profile {name!r} must be a table")
        for key, value in values.items():
            if key not in KEYS or not isinstance(value, str):
                raise InputError(
                    f"{str(path)!r}: profile {name!r} has an unknown or non-text setting {key!r}",
                    hint="settings: " + ", ".join(KEYS),
                )
        profiles[name] = dict(values)
    return profiles


def exposure(path: Path) -> str | None:
    """Why a token in this file is unsafe to use, or None when it is private (`load`
    has refused a file another user owns)."""
    mode = _too_open(path)
    if mode is None:
        return None
    return f"permissions {mode:04o} for {str(path)!r} are too open: others can read its token"


def render(profiles: Profiles) -> str:
    lines = ["# usage profiles: written by `usage config set`", ""]
    for name in sorted(profiles):
        lines.append(f"[profiles.{name}]")
        for key in KEYS:
            if key in profiles[name]:
                # A JSON string is a valid TOML basic string.
                lines.append(f"{key} = {json.dumps(profiles[name][key], ensure_ascii=False)}")
        lines.append("")
    return "\n".join(lines)


def save(path: Path, profiles: Profiles) -> None:
    """Write atomically with mode 0600, creating the directory (0700) if needed."""
    from usage_cli._files import write_atomically

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(path, render(profiles), mode=0o600)


def mask(token: str) -> str:
    """Enough to tell tokens apart, never enough to use one."""
    return "*" * 12 + token[-4:] if len(token) >= 16 else "*" * 8


def mask_url(url: str) -> str:
    """`url` with any password in it (user:pw@host) masked."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
