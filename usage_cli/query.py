"""From command-line words to one validated, immutable `Query`.

Everything that can be wrong with the user's input is found here, before any
request is sent; the errors are `InputError` (exit 2).
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from usage_cli.errors import InputError

# Here too, where a query's words are: `paging` keeps them light for `--help`.
from usage_cli.paging import DEFAULT_TAKE as DEFAULT_TAKE
from usage_cli.paging import Order as Order
from usage_cli.relations import TABLE
from usage_cli.runtime import utc_now

# Query attribute -> API parameter, in the contract's order.
FILTERS: dict[str, str] = {relation.attribute: relation.api for relation in TABLE}
_FLAGS: dict[str, str] = {relation.attribute: relation.flag for relation in TABLE}

# A cursor is the id of the last record of a page (or, from another server,
# an opaque token): a word, never what a copy from a sentence drags along
# (spaces, quotes, brackets, a trailing comma or full stop).
_CURSOR = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_\-=+/~]|[.:](?=[A-Za-z0-9_\-=+/~]))*")
_SPAN = re.compile(r"(\d+)\s*(mo|MO|Mo|min|MIN|[smhdwSMHDW])")
_SPAN_UNITS = {
    "s": "seconds",
    "m": "minutes",
    "min": "minutes",
    "h": "hours",
    "d": "days",
    "w": "weeks",
}


def flag_name(attribute: str) -> str:
    """The flag of a filter, by its `Query` attribute."""
    return _FLAGS[attribute]


def _split_meta(items: Iterable[str]) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--meta {item!r} is not KEY=VALUE", hint="e.g. --meta reason=retry")
        pairs.append((key, value))
    return tuple(pairs)


def parse_meta(items: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """`KEY=VALUE` words to checked pairs; split on the first `=`, so values may hold `=`."""
    pairs = _split_meta(items)
    check_meta(pairs)
    return pairs


def check_meta(pairs: Iterable[tuple[str, str]]) -> None:
    """Keys the deep-object encoding `meta[KEY]=VALUE` can carry, each once."""
    seen: set[str] = set()
    for key, value in pairs:
        if not key.strip():
            word = f"{key}={value}"
            raise InputError(f"--meta {word!r} has an empty key", hint="e.g. --meta reason=retry")
        if any(ch in key for ch in "[]"):
            raise InputError(f"--meta key {key!r} may not contain '[' or ']'")
        if key in seen:
            raise InputError(f"--meta key {key!r} is given more than once")
        seen.add(key)


def parse_when(text: str, *, now: datetime | None = None, end_of_day: bool = False) -> datetime:
    """An ISO 8601 date or date-time (UTC when it has no zone), or a span back from now.

    A bare date under `end_of_day` means the last millisecond of that day, so that
    `--until 2026-01-31` includes the 31st, as a reader of the flag expects.
    Spans: `s`, `m`/`min`, `h`, `d`, `w` and `mo` (calendar months); a capital
    `M` is refused, since it reads as months to some and minutes to others.
    """
    value = text.strip()
    span = _SPAN.fullmatch(value)
    try:
        if span:
            return _span_back(int(span.group(1)), span.group(2), text, now or utc_now())
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1, milliseconds=-1) if end_of_day else moment
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        raise InputError(
            f"cannot read {text!r} as a date or time",
            hint="use ISO 8601 (2026-01-31, 2026-01-31T12:00:00Z) or a span such as 30m, 12h, 7d",
        ) from None
    except OverflowError:
        raise InputError(f"{text!r} is outside the years 1 to 9999 in UTC") from None


def _span_back(amount: int, unit: str, text: str, now: datetime) -> datetime:
    if unit == "M":
        raise InputError(
            f"{text!r}: 'M' is ambiguous",
            hint=f"write {amount}mo for months or {amount}m for minutes",
        )
    unit = unit.lower()
    if unit == "mo":
        months = now.year * 12 + now.month - 1 - amount
        year, month = divmod(months, 12)
        if year < 1:
            raise OverflowError
        last_day = calendar.monthrange(year, month + 1)[1]
        return now.replace(year=year, month=month + 1, day=min(now.day, last_day))
    return now - timedelta(**{_SPAN_UNITS[unit]: amount})


def _when(text: str | None, flag: str, now: datetime) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_when(text, now=now, end_of_day=flag == "--until")
    except InputError as exc:
        raise InputError(f"{flag}: {exc.message}", hint=exc.hint) from None


def _require_utf8(value: str | None, flag: str) -> None:
    # Undecodable bytes in argv arrive as lone surrogates, which no URL can carry.
    try:
        (value or "").encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{flag} {value!r} is not valid UTF-8 text") from None


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def meta_matches(meta: Mapping[str, Any] | None, key: str, wanted: str) -> bool:
    """Whether `meta[KEY]=VALUE` matches a record's meta, as the platform decides it.

    A string matches itself; `true`/`false` a boolean; anything else its
    compact JSON. The sandbox answers by it and the archive filters by it.
    """
    if not meta or key not in meta:
        return False
    value = meta[key]
    if isinstance(value, bool):
        return wanted in ("true", "false") and value == (wanted == "true")
    if isinstance(value, str):
        return value == wanted
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False) == wanted


@dataclass(frozen=True, kw_only=True)
class Query:
    """What to ask the API for, and which `createdAt` window to keep."""

    type: str | None = None
    conversation_id: str | None = None
    message_id: str | None = None
    task_id: str | None = None
    contact_id: str | None = None
    blueprint_id: str | None = None
    bot_id: str | None = None
    dataset_id: str | None = None
    skillset_id: str | None = None
    ability_id: str | None = None
    meta: tuple[tuple[str, str], ...] = ()
    order: Order = Order.desc
    take: int = DEFAULT_TAKE
    cursor: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for attribute in FILTERS:
            value = getattr(self, attribute)
            if value is not None and not value.strip():
                raise InputError(f"{flag_name(attribute)} must not be empty")
            if value is not None and attribute != "type" and "" in value.split(","):
                raise InputError(f"{flag_name(attribute)} {value!r} has an empty id in its list")
            _require_utf8(value, flag_name(attribute))
        _require_utf8(self.cursor, "--cursor")
        for key, value in self.meta:
            _require_utf8(f"{key}={value}", "--meta")
        try:
            object.__setattr__(self, "order", Order(self.order))
        except ValueError:
            raise InputError(f"--order must be asc or desc, not {self.order!r}") from None
        if isinstance(self.take, bool) or not isinstance(self.take, int) or self.take < 1:
            raise InputError(f"--take must be a whole number of at least 1, not {self.take!r}")
        if self.cursor is not None and not self.cursor.strip():
            raise InputError("--cursor must not be empty")
        check_meta(self.meta)
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise InputError(f"--{name} needs a time zone")
        if self.since and self.until and self.since > self.until:
            raise InputError(
                f"--since ({_utc(self.since)}) is after --until ({_utc(self.until)})",
                hint="swap them: --since is the earlier end of the window",
            )

    @classmethod
    def from_words(
        cls,
        *,
        filters: Mapping[str, str | None] | None = None,
        meta: Iterable[str] | None = None,
        order: str = Order.desc,
        take: int = DEFAULT_TAKE,
        cursor: str | None = None,
        since: str | None = None,
        until: str | None = None,
        now: datetime,
    ) -> Query:
        """The query the command-line words describe, or one `InputError` naming the flag.

        `filters` are keyed by `Query` attribute (`bot_id`); `meta` holds the
        `KEY=VALUE` words as typed; `since`/`until` are read against `now`.
        """
        unknown = set(filters or {}) - set(FILTERS)
        if unknown:
            raise ValueError(f"not a filter: {', '.join(sorted(unknown))}")
        if cursor is not None and cursor.strip() and not _CURSOR.fullmatch(cursor):
            # Only the user's words are held to this: a cursor the API hands
            # back is followed whatever it looks like.
            raise InputError(
                f"--cursor {cursor!r} cannot be a cursor the API gave",
                hint="paste the word printed after 'Continue with: --cursor', nothing around it",
            )
        return cls(
            **dict(filters or {}),
            meta=_split_meta(meta or ()),
            order=order,  # type: ignore[arg-type]  # checked in __post_init__
            take=take,
            cursor=cursor,
            since=_when(since, "--since", now),
            until=_when(until, "--until", now),
        )

    @property
    def since_ms(self) -> int | None:
        return None if self.since is None else to_ms(self.since)

    @property
    def until_ms(self) -> int | None:
        return None if self.until is None else to_ms(self.until)

    def filters(self) -> dict[str, str]:
        """The filters that are set, by API parameter name."""
        return {api: getattr(self, attr) for attr, api in FILTERS.items() if getattr(self, attr)}

    def params(self, *, cursor: str | None, take: int) -> list[tuple[str, str]]:
        """Query-string pairs for one page request."""
        pairs: list[tuple[str, str]] = list(self.filters().items())
        pairs += [(f"meta[{key}]", value) for key, value in self.meta]
        pairs += [("order", self.order.value), ("take", str(take))]
        if cursor:
            pairs.append(("cursor", cursor))
        return pairs

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (for manifests and checkpoints)."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, datetime):
                value = value.isoformat().replace("+00:00", "Z")
            elif isinstance(value, Order):
                value = value.value
            elif item.name == "meta":
                value = dict(value)
            out[item.name] = value
        return out


def _utc(moment: datetime) -> str:
    """A moment as the tool writes times everywhere: UTC, to the millisecond, with Z."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
