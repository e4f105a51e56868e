"""Money from counts: a price table, and exact sums of cost.

A record carries only a `count`; its cost is `count x price / per` for the
entry of the table in force at its `createdAt`. Types the table has no price
for are *unpriced*: reported with their counts, never counted as $0.

Everything is `Decimal`, and a group's cost is kept as whole counts per price
entry until it is asked for, so sums are exact whatever the order of the
records; rounding happens only where money is shown to a person.

The table is TOML (see the bundled `prices.toml` for its shape). A file given
with `--prices` (or the profile key `prices`) *extends* the bundled table: the
most specific entry in force wins (an exact type, then the wildcard with the
most fixed characters), and of two as specific, the file's. So a file's
`OPENAI_GPT_4O*` reprices GPT-4o but not GPT-4o mini, which the bundled
`OPENAI_GPT_4O_MINI*` names more closely. A file with `replace = true` at the
top is the whole table.
"""

from __future__ import annotations

import decimal
import hashlib
import itertools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from usage_cli.errors import InputError

BUNDLED = "bundled"
# Enough digits that no count times price loses one before it is shown.
_PRECISION = 80
_PATTERN = re.compile(r"[A-Za-z0-9_.*-]+")
_ENTRY_KEYS = frozenset({"type", "price", "per", "from", "until", "source", "notes"})
_TOP_KEYS = frozenset({"version", "currency", "replace", "price"})
_CURRENCY = re.compile(r"[A-Z]{3}")


# Compared and hashed by identity: each entry is one object, and a cost tally is
# keyed by it on the hot path of a summary.
@dataclass(frozen=True, eq=False)
class Price:
    """One entry of a price table."""

    pattern: str
    price: Decimal
    per: int
    start_ms: int | None
    end_ms: int | None
    source: str
    notes: str
    # Where it was read from: `bundled`, or the path of a price file.
    origin: str
    # The order of the tables consulted (0 first) and of the entry in its file.
    layer: int
    index: int

    @property
    def exact(self) -> bool:
        return "*" not in self.pattern

    @property
    def specificity(self) -> int:
        return len(self.pattern.replace("*", ""))

    def matches(self, kind: str) -> bool:
        if self.exact:
            return kind == self.pattern
        return _wildcard(self.pattern).fullmatch(kind) is not None

    def in_force(self, at_ms: int) -> bool:
        return (self.start_ms is None or at_ms >= self.start_ms) and (
            self.end_ms is None or at_ms < self.end_ms
        )

    def cost(self, count: int) -> Decimal:
        with decimal.localcontext(prec=_PRECISION):
            return Decimal(count) * self.price / self.per


_WILDCARDS: dict[str, re.Pattern[str]] = {}


def _wildcard(pattern: str) -> re.Pattern[str]:
    found = _WILDCARDS.get(pattern)
    if found is None:
        found = re.compile(".*".join(re.escape(part) for part in pattern.split("*")))
        _WILDCARDS[pattern] = found
    return found


@dataclass(frozen=True)
class Layer:
    """One file of the table in effect."""

    origin: str
    version: str
    sha256: str


@dataclass
class PriceTable:
    """The prices in effect: the most specific entry first; of equals, the first layer's."""

    entries: tuple[Price, ...]
    layers: tuple[Layer, ...]
    currency: str
    # sha256 of the bytes of the files in effect, bundled first (`cat a b | sha256sum`).
    sha256: str
    _by_type: dict[str, tuple[Price, ...]] = field(default_factory=dict, repr=False)

    def candidates(self, kind: str) -> tuple[Price, ...]:
        """Every entry that matches `kind`, in the order they are tried."""
        found = self._by_type.get(kind)
        if found is None:
            found = tuple(
                sorted(
                    (entry for entry in self.entries if entry.matches(kind)),
                    key=lambda e: (not e.exact, -e.specificity, e.layer, e.index),
                )
            )
            self._by_type[kind] = found
        return found

    def price_for(self, kind: str, at_ms: int) -> Price | None:
        """The entry that prices a record of `kind` created at `at_ms`, or None: unpriced."""
        for entry in self.candidates(kind):
            if entry.in_force(at_ms):
                return entry
        return None

    def cost_of(self, raw: Mapping[str, Any]) -> Decimal | None:
        """The exact cost of one record (its raw dict), or None when it is unpriced."""
        entry = self.price_for(raw["type"], raw["createdAt"])
        return None if entry is None else entry.cost(raw["count"])

    def cost_cell(self, raw: Mapping[str, Any]) -> str:
        """One record's cost as a CSV cell: the exact amount, or empty when unpriced (never 0)."""
        amount = self.cost_of(raw)
        return "" if amount is None else exact(amount)

    def boundaries(self) -> list[int]:
        """Every moment (epoch ms) at which some price starts or stops, sorted."""
        moments = {m for e in self.entries for m in (e.start_ms, e.end_ms) if m is not None}
        return sorted(moments)

    def ordered(self) -> list[Price]:
        """Every entry in the order entries are tried: most specific first, then first table."""
        return sorted(
            self.entries,
            key=lambda e: (not e.exact, -e.specificity, e.layer, e.pattern, e.start_ms or 0),
        )

    def entry_dict(self, entry: Price) -> dict[str, Any]:
        from usage_cli.columns import iso_ms

        return {
            "type": entry.pattern,
            "price": exact(entry.price),
            "per": entry.per,
            "from": None if entry.start_ms is None else iso_ms(entry.start_ms),
            "until": None if entry.end_ms is None else iso_ms(entry.end_ms),
            "origin": entry.origin,
            "source": entry.source,
            "notes": entry.notes,
        }

    def label(self) -> str:
        return " + ".join(f"{layer.origin} {layer.version}" for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        """What an output that shows money says of the prices behind it."""
        return {
            "sha256": self.sha256,
            "currency": self.currency,
            "tables": [
                {"origin": layer.origin, "version": layer.version, "sha256": layer.sha256}
                for layer in self.layers
            ],
        }

    def note(self) -> str:
        """One line naming the table in effect, for people."""
        return f"prices: {self.label()} (sha256 {self.sha256})"


def bundled_bytes() -> bytes:
    from importlib import resources

    return resources.files("usage_cli").joinpath("prices.toml").read_bytes()


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
    for layer, (origin, data) in enumerate(files):
        document = _parse(data, origin, flag)
        where = f"{flag} {origin}" if origin != BUNDLED else "the bundled price table"
        version, currency, found = _read(document, where, origin, layer)
        currencies.add(currency)
        entries += found
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
    return PriceTable(tuple(entries), tuple(reversed(layers)), currencies.pop(), digest.hexdigest())


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


def _span(entry: Price) -> str:
    from usage_cli.columns import iso_ms

    start = "always" if entry.start_ms is None else f"from {iso_ms(entry.start_ms)[:10]}"
    end = "on" if entry.end_ms is None else f"until {iso_ms(entry.end_ms)[:10]}"
    return f"{start} {end}"


class Costs:
    """Cost of some records, kept exact: whole counts per price entry, and the unpriced."""

    __slots__ = ("_counts", "table", "unpriced")

    def __init__(self, table: PriceTable) -> None:
        self.table = table
        self._counts: dict[Price, int] = {}
        # Unpriced type -> [records, count].
        self.unpriced: dict[str, list[int]] = {}

    def add(self, kind: str, at_ms: int, records: int, count: int) -> None:
        entry = self.table.price_for(kind, at_ms)
        if entry is None:
            tally = self.unpriced.setdefault(kind, [0, 0])
            tally[0] += records
            tally[1] += count
        else:
            self._counts[entry] = self._counts.get(entry, 0) + count

    def absorb(self, other: Costs) -> None:
        for entry, count in other._counts.items():
            self._counts[entry] = self._counts.get(entry, 0) + count
        for kind, (records, count) in other.unpriced.items():
            tally = self.unpriced.setdefault(kind, [0, 0])
            tally[0] += records
            tally[1] += count

    @property
    def amount(self) -> Decimal:
        """The exact cost of the priced records."""
        with decimal.localcontext(prec=_PRECISION):
            return sum((e.cost(n) for e, n in self._counts.items()), Decimal(0))

    @property
    def priced_count(self) -> int:
        return sum(self._counts.values())

    @property
    def unpriced_count(self) -> int:
        return sum(count for _, count in self.unpriced.values())

    @property
    def unpriced_records(self) -> int:
        return sum(records for records, _ in self.unpriced.values())


def exact(amount: Decimal) -> str:
    """The exact amount as plain decimal text (no exponent), for JSON and CSV."""
    text = format(amount.normalize() if amount else Decimal(0), "f")
    return text


def shown(amount: Decimal, currency: str = "USD") -> str:
    """An amount for a person: cents from a unit up, 4 places below; rounded half up."""
    sign = "$" if currency == "USD" else f"{currency} "
    if amount == 0:
        return f"{sign}0.00"
    minus = "-" if amount < 0 else ""
    amount = abs(amount)
    places = Decimal("0.01") if amount >= 1 else Decimal("0.0001")
    rounded = amount.quantize(places, rounding=decimal.ROUND_HALF_UP)
    if rounded == 0:
        return f"{minus}<{sign}0.0001"
    return f"{minus}{sign}{rounded:,}"


def share(part: Decimal, whole: Decimal) -> float | None:
    """`part` as a fraction of `whole`, for a share column; None when there is no whole."""
    if not whole:
        return None
    return round(float(part / whole), 6)
