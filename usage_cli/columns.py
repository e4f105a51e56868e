"""Columns of the tabular formats (csv, table) and how a record fills them."""

from __future__ import annotations

import json
import operator
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, cast

from pydantic_core import PydanticSerializationError, to_json

from usage_cli._text import json_escaping_surrogates
from usage_cli.errors import InputError, unknown_choice
from usage_cli.records import UsageRecord
from usage_cli.relations import ID_FIELDS

CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "type",
    "count",
    *ID_FIELDS,
    "name",
    "description",
    "meta",
    "createdAt",
    "updatedAt",
)
TABLE_COLUMNS: tuple[str, ...] = ("createdAt", "id", "type", "count", "botId", "meta")
TIME_COLUMNS = frozenset({"createdAt", "updatedAt"})
# What a person needs to tell records apart and read their cost: never cut.
LIST_KEYS: tuple[str, ...] = ("createdAt", "id", "type", "count")
META_PREFIX = "meta."
# Columns no record carries, worked out from one (`cost`, from the price table).
Derived = Mapping[str, Callable[[dict[str, Any]], Any]]


def parse_columns(text: str, computed: Sequence[str] = ()) -> tuple[str, ...]:
    """`id,type,meta.reason` to a tuple; unknown names are refused with a suggestion.

    `computed` names the derived columns the command can fill (`cost`).
    """
    names = tuple(part.strip() for part in text.split(","))
    if not text.strip() or any(not name for name in names):
        raise InputError(f"--columns {text!r} has an empty column name")
    for name in names:
        if name.startswith(META_PREFIX):
            if not name[len(META_PREFIX) :]:
                raise InputError(f"--columns: {name!r} needs a key after 'meta.'")
            continue
        if name not in CSV_COLUMNS and name not in computed:
            known = (*CSV_COLUMNS, *computed)
            raise unknown_choice(
                f"--columns: unknown column {name!r}",
                name,
                known,
                hint="columns: " + ",".join(known) + ", or meta.KEY",
            )
    return names


def compact_json(value: Any) -> str:
    """Compact JSON text; lone surrogates (cut emoji) escaped, so it stays valid UTF-8."""
    return json_escaping_surrogates(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def json_bytes(value: Any) -> bytes:
    """Compact JSON as UTF-8, serialised in Rust; exact for any value the API sent."""
    try:
        return to_json(value)
    except PydanticSerializationError:
        # Only a lone surrogate gets here: pydantic-core will not encode one.
        return compact_json(value).encode("utf-8")


def _iso_ms_by_calendar(epoch_ms: int) -> str:
    """`iso_ms` the plain way; a time no calendar can show (far past 9999) stays its number."""
    seconds, millis = divmod(epoch_ms, 1000)
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
    except (OverflowError, OSError, ValueError):
        return str(epoch_ms)


# `iso_ms` from tables: a UTC day is always 86,400 seconds, so a time is its
# day's date (asked of the calendar once a day) and lookups for the rest. The
# old LRU cache of whole timestamps missed on nearly every record.
DAY_S = 86_400
_CLOCK = tuple(f"{hour:02d}:{minute:02d}:" for hour in range(24) for minute in range(60))
_SECONDS = tuple(f"{second:02d}." for second in range(60))
_MILLIS = tuple(f"{millis:03d}Z" for millis in range(1000))
_DATES: dict[int, str | None] = {}  # day number -> "YYYY-MM-DDT", None: ask the calendar


def _date_of(day: int) -> str | None:
    """`YYYY-MM-DDT` of a day since the epoch; None when the calendar cannot show all of it."""
    first = _iso_ms_by_calendar(day * DAY_S * 1000)
    last = _iso_ms_by_calendar((day * DAY_S + DAY_S - 1) * 1000)
    date, dated, _ = first.partition("T")
    if not dated or not last.startswith(date + "T"):
        return None
    if len(_DATES) > 100_000:  # centuries of days: keep memory bounded all the same
        _DATES.clear()
    return date + "T"


def iso_ms(epoch_ms: int) -> str:
    """`2026-01-01T00:00:02.123Z`, exactly as `time.strftime` spells it.

    A time no calendar can show (far past the year 9999) stays its number.
    """
    seconds, millis = divmod(epoch_ms, 1000)
    day, second_of_day = divmod(seconds, DAY_S)
    try:
        date = _DATES[day]
    except KeyError:
        date = _DATES[day] = _date_of(day)
    if date is None:
        return _iso_ms_by_calendar(epoch_ms)
    minute, second = divmod(second_of_day, 60)
    return date + _CLOCK[minute] + _SECONDS[second] + _MILLIS[millis]


DAY_MS = DAY_S * 1000


def iso_ms_each(epochs: Sequence[int | None]) -> list[str]:
    """`iso_ms` of each time, and "" for None: a CSV page's column of times.

    A page's times nearly always fall in one UTC day, so its date is found
    once and each time costs only its clock (a third less than `iso_ms` a
    time, which looks up its day); any other page is written time by time.
    """
    if epochs and None not in epochs:
        times = cast("Sequence[int]", epochs)
        day = min(times) // DAY_MS
        if max(times) // DAY_MS == day:
            date = _DATES[day] if day in _DATES else _DATES.setdefault(day, _date_of(day))
            if date is not None:
                return [
                    date
                    + _CLOCK[ms // 60_000 % 1440]
                    + _SECONDS[ms // 1000 % 60]
                    + _MILLIS[ms % 1000]
                    for ms in times
                ]
    return ["" if ms is None else iso_ms(ms) for ms in epochs]


def utc_moment(epoch_ms: int) -> datetime | None:
    """The UTC moment of an epoch-ms time, or None for one beyond Python's calendar."""
    try:
        return datetime.fromtimestamp(epoch_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def value_of(record: UsageRecord, column: str) -> Any:
    if column.startswith(META_PREFIX):
        return (record.meta or {}).get(column[len(META_PREFIX) :])
    return record.field(column)


def iso_ms_in(epoch_ms: int, zone: tzinfo) -> str:
    """`2026-01-01T01:00:02.123+01:00`: ISO 8601 in `zone`, with its offset that day."""
    from usage_cli.zones import offset_text

    moment = utc_moment(epoch_ms)
    if moment is None:
        return str(epoch_ms)
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f".{epoch_ms % 1000:03d}" + offset_text(local)


def getter(
    column: str, zone: tzinfo | None = None, derived: Derived | None = None
) -> Callable[[dict[str, Any]], Any]:
    """A fast cell reader for one CSV column, over a record's raw dict.

    Validation guarantees the plain columns hold text, an int or None, which
    the csv module writes as they are; so for them the reader is a bare,
    C-level `raw.get(column)`.
    """
    if derived and column in derived:
        return derived[column]
    if column.startswith(META_PREFIX):
        key = column[len(META_PREFIX) :]
        return lambda raw: text_of((raw.get("meta") or {}).get(key), column)
    if column in TIME_COLUMNS and zone is not None:
        return lambda raw: "" if raw.get(column) is None else iso_ms_in(raw[column], zone)
    if column in TIME_COLUMNS:
        return lambda raw: "" if raw.get(column) is None else iso_ms(raw[column])
    if column == "meta":
        return lambda raw: "" if raw.get("meta") is None else json_bytes(raw["meta"]).decode()
    return operator.methodcaller("get", column)


def text_of(value: Any, column: str) -> str:
    """A cell as CSV carries it: empty for absent, ISO for times, compact JSON for structures."""
    if value is None:
        return ""
    if column in TIME_COLUMNS and isinstance(value, int | float) and not isinstance(value, bool):
        return iso_ms(int(value))
    if isinstance(value, str):
        return value
    return compact_json(value)


FULL_TIME = "%Y-%m-%d %H:%M:%S"


def shown(value: Any, column: str, zone: tzinfo = UTC, time_format: str = FULL_TIME) -> str:
    """A cell as a person reads it (tables, a follow): local times, grouped counts.

    A time in the hour a fall-back repeats names its zone's abbreviation (`01:30:00
    EDT`, then `01:10:00 EST`): the wall time alone names two instants.
    """
    if value is None:
        return ""
    if column in TIME_COLUMNS and isinstance(value, int | float) and not isinstance(value, bool):
        moment = utc_moment(int(value))
        if moment is None:
            return str(value)
        local = moment.astimezone(zone)
        text = local.strftime(time_format)
        if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
            from usage_cli.zones import offset_text

            text += " " + (local.tzname() or offset_text(local))
        return text
    if column == "count" and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return text_of(value, column)


def zone_label(zone_name: str, zone: tzinfo, moments: Iterable[Any]) -> str:
    """The zone as a time column's header names it: the name when short (UTC), else the
    abbreviations its times use (`EST`, `EDT/EST`), since `America/New_York` in a header
    widens every time column past what 80 columns hold."""
    if len(zone_name) <= 6:
        return zone_name
    names: list[str] = []
    for value in moments:
        moment = utc_moment(int(value)) if isinstance(value, int | float) else None
        if moment is None:
            continue
        name = moment.astimezone(zone).tzname()
        if name and name not in names:
            names.append(name)
            if len(names) > 2:
                return zone_name
    return "/".join(names) or zone_name


def middle_cut(text: str, width: int) -> str:
    """`ANTHROPIC_CL…NET_4_TOKEN`: both ends of a type tell it from its neighbours."""
    if len(text) <= width:
        return text
    keep = max(width - 1, 2)
    head = (keep + 1) // 2
    return text[:head] + "…" + text[len(text) - (keep - head) :]
