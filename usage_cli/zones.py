"""Time zones of `--tz`: how tables show times and where summary buckets fall.

Light on purpose (only `zoneinfo`): settings are resolved before any request,
and an unknown zone must be refused there.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from usage_cli.errors import InputError, unknown_choice

LOCAL = "local"
_LOCALTIME = Path("/etc/localtime")


def _available() -> set[str]:
    import zoneinfo

    return set(zoneinfo.available_timezones())


def _loads(name: str) -> bool:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, OSError, zoneinfo.ZoneInfoNotFoundError):
        return False
    return True


def check(name: str) -> str:
    """The canonical spelling of a zone name (`utc` is `UTC`), or exit 2 with a near miss."""
    text = name.strip()
    if text.lower() == "utc":
        return "UTC"
    if text.lower() == LOCAL:
        return LOCAL
    if _loads(text):
        return text  # the common case, without listing every zone (~50 ms)
    known = _available()
    if text in known:
        return text
    folded = {zone.lower(): zone for zone in known}
    if text.lower() in folded:
        return folded[text.lower()]
    if not known:
        raise InputError(
            f"--tz: no time zone database on this machine to look up {name!r}",
            hint="install the tzdata package, or use --tz UTC or --tz local",
        )
    raise unknown_choice(
        f"--tz: unknown time zone {name!r}",
        text,
        sorted(known | {"UTC", LOCAL}),
        hint="an IANA name such as Europe/Berlin or America/New_York, UTC, or local",
    )


def _local(env: Mapping[str, str]) -> tzinfo:
    """The machine's zone: `TZ` when it names one, else /etc/localtime, else UTC."""
    import zoneinfo

    named = env.get("TZ", "").lstrip(":")
    candidates = [named] if named else []
    try:
        target = str(_LOCALTIME.resolve())
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        candidates.append(target.split("zoneinfo/", 1)[1])
    for candidate in candidates:
        try:
            return zoneinfo.ZoneInfo(candidate)
        except (ValueError, OSError, zoneinfo.ZoneInfoNotFoundError):
            continue
    try:
        with _LOCALTIME.open("rb") as file:
            return zoneinfo.ZoneInfo.from_file(file, key="localtime")
    except (OSError, ValueError):
        return UTC


def zone(name: str, env: Mapping[str, str]) -> tzinfo:
    """The `tzinfo` of a name `check` accepted."""
    if name == "UTC":
        return UTC
    if name == LOCAL:
        return _local(env)
    import zoneinfo

    return zoneinfo.ZoneInfo(name)


def label(name: str, found: tzinfo) -> str:
    """How headers name the zone `found` for `name`: `local` shows which zone that is."""
    if name != LOCAL:
        return name
    return str(getattr(found, "key", None) or found.tzname(datetime(2026, 1, 1)) or LOCAL)


def offset_text(moment: datetime) -> str:
    """`+01:00`, or `Z` for UTC: the suffix of an ISO 8601 time."""
    offset = moment.utcoffset()
    if not offset:
        return "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"
