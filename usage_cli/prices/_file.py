"""The price table from TOML: the bundled `prices.toml`, extended or replaced by a file.

A file given with `--prices` (or the profile key `prices`) *extends* the
bundled table: the most specific entry in force wins (an exact type, then the
wildcard with the most fixed characters), and of two as specific, the file's.
So a file's `OPENAI_GPT_4O*` reprices GPT-4o but not GPT-4o mini, which the
bundled `OPENAI_GPT_4O_MINI*` names more closely. A file with `replace = true`
at the top is the whole table. Every mistake is an InputError naming the file
and the entry, before any request.
"""

from __future__ import annotations

import decimal
import hashlib
import itertools
import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from usage_cli.errors import InputError
from usage_cli.prices._table import BUNDLED, Layer, Price, PriceTable

_PATTERN = re.compile(r"[A-Za-z0-9_.*-]+")
_ENTRY_KEYS = frozenset({"type", "price", "per", "from", "until", "source", "notes"})
_TOP_KEYS = frozenset({"version", "currency", "replace", "price"})
_CURRENCY = re.compile(r"[A-Z]{3}")


def bundled_bytes() -> bytes:
    from importlib import resources

    return resources.files("usage_cli.prices").joinpath("prices.toml").read_bytes()


def load(path: str | None = None, *, flag: str = "--prices") -> PriceTable:
    """The table in effect: the bundled one, extended or replaced by the file at `path`."""
    bundled = bundled_bytes()
    if path is None:
        return _table([(BUNDLED, bundled)])
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot read the price file: {exc.strerror}") from None
    document = _parse(data, path, flag)
    if document.get("replace") is True:
        return _table([(path, data)], flag=flag)
    return _table([(path, data), (BUNDLED, bundled)], flag=flag)


def _parse(data: bytes, origin: str, flag: str) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise InputError(f"{flag} {origin}: the price file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{flag} {origin}: not a valid TOML price file: {exc}") from None


def _table(files: list[tuple[str, bytes]], *, flag: str = "--prices") -> PriceTable:
    """`files` in the order they are consulted (a user's file before the bundled one)."""
    entries: list[Price] = []
    layers: list[Layer] = []
    currencies: set[str] = set()
    warnings: list[str] = []
    for layer, (origin, data) in enumerate(files):
        document = _parse(data, origin, flag)
        where = f"{flag} {origin}" if origin != BUNDLED else "the bundled price table"
        version, currency, found = _read(document, where, origin, layer)
        currencies.add(currency)
        entries += found
        warnings += _warnings(found, where)
        layers.append(Layer(origin, version, hashlib.sha256(data).hexdigest()))
    if len(currencies) > 1:
        raise InputError(
            f"{flag} {files[0][0]}: the price file's currency differs from the bundled table's "
            f"({', '.join(sorted(currencies))})",
            hint="add `replace = true` to the file to use it alone",
        )
    digest = hashlib.sha256()
    # Bundled first, as `cat bundled mine | sha256sum` reads them.
    for _, data in reversed(files):
        digest.update(data)
    return PriceTable(
        tuple(entries),
        tuple(reversed(layers)),
        currencies.pop(),
        digest.hexdigest(),
        tuple(warnings),
    )


def _read(
    document: Mapping[str, Any], where: str, origin: str, layer: int
) -> tuple[str, str, list[Price]]:
    unknown = set(document) - _TOP_KEYS
    if unknown:
        raise InputError(
            f"{where}: unknown key {sorted(unknown)[0]!r}",
            hint="top-level keys: version, currency, replace, and [[price]] tables",
        )
    version = document.get("version")
    if not isinstance(version, str) or not version.strip():
        raise InputError(f'{where}: needs a version = "..." naming this edition of the prices')
    currency = document.get("currency", "USD")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise InputError(f"{where}: currency must be a three-letter code such as USD")
    if not isinstance(document.get("replace", False), bool):
        raise InputError(f"{where}: replace must be true or false")
    rows = document.get("price", [])
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise InputError(f"{where}: prices are [[price]] tables")
    entries = [
        _entry(row, f"{where}: price #{n}", origin, layer, n) for n, row in enumerate(rows, 1)
    ]
    _refuse_overlaps(entries, where)
    _refuse_ambiguous(entries, where)
    return version, currency, entries


def _entry(row: Mapping[str, Any], where: str, origin: str, layer: int, index: int) -> Price:
    unknown = set(row) - _ENTRY_KEYS
    if unknown:
        raise InputError(
            f"{where}: unknown key {sorted(unknown)[0]!r}",
            hint="keys: " + ", ".join(sorted(_ENTRY_KEYS)),
        )
    pattern = row.get("type")
    if not isinstance(pattern, str) or not _PATTERN.fullmatch(pattern) or not pattern.strip("*"):
        raise InputError(
            f"{where}: type must be a usage type such as OPENAI_GPT_4O_TOKEN, `*` matching "
            f"any characters, not {pattern!r}"
        )
    where = f"{where} ({pattern})"
    price = _decimal(row.get("price"), where)
    per = row.get("per", 1)
    if isinstance(per, bool) or not isinstance(per, int) or per < 1:
        raise InputError(f"{where}: per must be a whole number of units, at least 1")
    source = row.get("source")
    if not isinstance(source, str) or not source.strip():
        raise InputError(f'{where}: needs a source = "..." saying where the price comes from')
    notes = row.get("notes", "")
    if not isinstance(notes, str):
        raise InputError(f"{where}: notes must be text")
    start, end = _moment(row.get("from"), where, "from"), _moment(row.get("until"), where, "until")
    if start is not None and end is not None and end <= start:
        raise InputError(f"{where}: until must come after from")
    return Price(pattern, price, per, start, end, source, notes, origin, layer, index)


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise InputError(f"{where}: needs a price, a number such as 2.50")
    try:
        # TOML floats arrive as Decimal (parse_float), so 0.1 is exactly 0.1.
        amount = Decimal(value) if isinstance(value, int | str | Decimal) else None
    except decimal.InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise InputError(f"{where}: price must be a number of 0 or more, not {value!r}")
    return amount


def _moment(value: Any, where: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        raise InputError(f"{where}: {key} must be a TOML date (2026-01-31) or date-time")
    return int(moment.timestamp() * 1000)


def _refuse_overlaps(entries: Iterable[Price], where: str) -> None:
    """One pattern may have several prices over time, never two at once."""
    by_pattern: dict[str, list[Price]] = {}
    for entry in entries:
        by_pattern.setdefault(entry.pattern, []).append(entry)
    low, high = -(2**63), 2**63
    for pattern, found in by_pattern.items():
        spans = sorted(found, key=lambda e: (e.start_ms or low, e.end_ms or high))
        for before, after in itertools.pairwise(spans):
            if (after.start_ms or low) < (before.end_ms or high):
                raise InputError(
                    f"{where}: {pattern} has two prices in force at once: entries "
                    f"{before.index} ({_span(before)}) and {after.index} "
                    f"({_span(after)}) of its file overlap",
                    hint="give each price of one pattern its own from/until range",
                )


def _refuse_ambiguous(entries: list[Price], where: str) -> None:
    """Two wildcards as specific as each other that could price one type at one moment.

    Nothing but their order in the file would choose between them (a 100-fold
    difference, as issue 26 found), so the file is refused rather than read.
    """
    low, high = -(2**63), 2**63
    wildcards = [entry for entry in entries if not entry.exact]
    for first, second in itertools.combinations(wildcards, 2):
        if first.pattern == second.pattern or first.specificity != second.specificity:
            continue
        if (first.start_ms or low) >= (second.end_ms or high) or (second.start_ms or low) >= (
            first.end_ms or high
        ):
            continue
        common = _common(first.pattern, second.pattern)
        if common is not None:
            raise InputError(
                f"{where}: price #{first.index} ({first.pattern}) and price #{second.index} "
                f"({second.pattern}) are as specific as each other and both price {common}",
                hint="make one more specific, or name the type exactly",
            )


def _common(first: str, second: str) -> str | None:
    """A type both wildcard patterns match (`*` as nothing where it can be), or None."""
    from functools import cache

    @cache
    def walk(i: int, j: int) -> str | None:
        if i == len(first) and j == len(second):
            return ""
        a = first[i] if i < len(first) else None
        b = second[j] if j < len(second) else None
        tries: list[tuple[str, int, int]] = []
        if a == "*":
            tries.append(("", i + 1, j))
        if b == "*":
            tries.append(("", i, j + 1))
        if a == "*" and b is not None and b != "*":
            tries.append((b, i, j + 1))
        if b == "*" and a is not None and a != "*":
            tries.append((a, i + 1, j))
        if a is not None and a == b and a != "*":
            tries.append((a, i + 1, j + 1))
        for text, k, m in tries:
            rest = walk(k, m)
            if rest is not None:
                return text + rest
        return None

    return walk(0, 0)


def _warnings(entries: Iterable[Price], where: str) -> list[str]:
    """Entries that look like a typo: usage types are upper case, so this one prices nothing."""
    return [
        f"{where}: price #{entry.index} ({entry.pattern}) has lower-case letters and matches "
        f"no usage type (they are upper case: {entry.pattern.upper()}?)"
        for entry in entries
        if entry.pattern != entry.pattern.upper()
    ]


def _span(entry: Price) -> str:
    from usage_cli.columns import iso_ms

    start = "always" if entry.start_ms is None else f"from {iso_ms(entry.start_ms)[:10]}"
    end = "on" if entry.end_ms is None else f"until {iso_ms(entry.end_ms)[:10]}"
    return f"{start} {end}"
