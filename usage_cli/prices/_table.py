"""The price table in memory, exact costs from it, and money as people read it.

A record carries only a `count`; its cost is `count x price / per` for the
entry of the table in force at its `createdAt`. Types the table has no price
for are *unpriced*: reported with their counts, never counted as $0.

Everything is `Decimal`, and a group's cost is kept as whole counts per price
entry until it is asked for, so sums are exact whatever the order of the
records; rounding happens only where money is shown to a person. Reading the
table from TOML is `usage_cli.prices._file`'s.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

BUNDLED = "bundled"
# Enough digits that no count times price loses one before it is shown.
_PRECISION = 80


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
    # What a person should hear about the files, such as an entry that looks like a typo.
    warnings: tuple[str, ...] = ()
    _by_type: dict[str, tuple[Price, ...]] = field(default_factory=dict, repr=False)

    def candidates(self, kind: str) -> tuple[Price, ...]:
        """Every entry that matches `kind`, in the order they are tried."""
        found = self._by_type.get(kind)
        if found is None:
            found = tuple(sorted((e for e in self.entries if e.matches(kind)), key=_tried))
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
        return sorted(self.entries, key=_tried)

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

    def note(self, *, short: bool = False) -> str:
        """One line naming the table in effect, for people; `short` for a terminal,
        where 12 hex digits tell tables apart (JSON and CSV carry the whole hash)."""
        digest = self.sha256[:12] + "…" if short else self.sha256
        return f"prices: {self.label()} (sha256 {digest})"


def _tried(entry: Price) -> tuple[Any, ...]:
    """The order entries are tried in, which `usage prices` shows as it is.

    Two entries of one file as specific as each other that could price one type
    at one moment are refused when the file is read, so within a file the order
    of equals is never what decides a price; the pattern and start only make
    the listing stable.
    """
    return (not entry.exact, -entry.specificity, entry.layer, entry.pattern, entry.start_ms or 0)


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
