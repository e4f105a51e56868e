"""`usage export --cost`: a `cost` column for CSV, and its sum for the manifest.

Each record's cell is `PriceTable.cost_cell` (exact decimal text, empty when
the table has no price for it), the same cell `usage list --columns ...,cost`
writes. The tally adds up the cells *as written*, with no rounding at all, so
the manifest's `prices.cost` is exactly what the file's column sums to and
`usage verify` can hold one to the other. A checkpoint keeps the tally, so a
resumed export goes on adding where it stopped.

Only CSV takes the column: JSON and JSON lines carry each record exactly as
the API sent it (a `cost` field would be one the API never sent, and could
collide with one it may send one day), and parquet parts keep the schema of
the records; `refuse_cost_unless_csv` says so before any request.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from usage_cli.errors import InputError
from usage_cli.export._json import PricesJson

if TYPE_CHECKING:
    from usage_cli.prices import PriceTable
    from usage_cli.records import UsageRecord

COST_COLUMN = "cost"


def refuse_cost_unless_csv(fmt: str, *, partitioned: bool = False) -> None:
    """InputError (exit 2, before any request) for `--cost` on anything but CSV."""
    if fmt == "csv":
        return
    if partitioned:
        raise InputError(
            f"--cost adds a cost column to csv parts; {fmt} parts keep each record exactly "
            "as the API sent it",
            hint="add -o csv, or price the set with `usage summary --cost`",
        )
    raise InputError(
        f"--cost adds a cost column to csv; {fmt} keeps each record exactly as the API sent it",
        hint="export to a .csv file (or - -o csv), or price records with `usage summary --cost`",
    )


def exact_sum(amounts: Sequence[Decimal], start: Decimal = Decimal(0)) -> Decimal:
    """The sum with no rounding whatever the digits (additions only: never divide in here)."""
    with decimal.localcontext(prec=decimal.MAX_PREC):
        return sum(amounts, start)


def exact_text(amount: Decimal) -> str:
    """`exact`, at a precision that cannot round the amount."""
    # Imported here: the price table module (and its TOML reader) is only for `--cost`,
    # and an export without it should not pay for the import.
    from usage_cli.prices import exact

    with decimal.localcontext(prec=decimal.MAX_PREC):
        return exact(amount)


class CostTally:
    """The cost column so far: the exact sum of its cells, the priced count, the unpriced."""

    def __init__(
        self,
        table: PriceTable,
        *,
        amount: Decimal = Decimal(0),
        priced_count: int = 0,
        unpriced_records: int = 0,
        unpriced: dict[str, int] | None = None,
    ) -> None:
        self.table = table
        self.amount = amount
        self.priced_count = priced_count
        self.unpriced_records = unpriced_records
        # Unpriced type -> sum of its `count`.
        self.unpriced: dict[str, int] = dict(unpriced or {})

    def add_all(self, records: Sequence[UsageRecord]) -> None:
        cell = self.table.cost_cell
        amounts: list[Decimal] = []
        for record in records:
            raw = record.raw
            text = cell(raw)
            if text:
                amounts.append(Decimal(text))
                self.priced_count += raw["count"]
            else:
                self.unpriced_records += 1
                self.unpriced[raw["type"]] = self.unpriced.get(raw["type"], 0) + raw["count"]
        if amounts:
            self.amount = exact_sum(amounts, self.amount)

    def to_json(self) -> PricesJson:
        table = self.table.to_json()
        unpriced_count = sum(self.unpriced.values())
        whole = self.priced_count + unpriced_count
        return {
            "sha256": table["sha256"],
            "currency": table["currency"],
            "tables": table["tables"],
            "cost": exact_text(self.amount),
            "pricedCount": self.priced_count,
            "unpriced": {
                "records": self.unpriced_records,
                "count": unpriced_count,
                "types": dict(sorted(self.unpriced.items())),
            },
            "coverage": round(self.priced_count / whole, 6) if whole else None,
        }

    @classmethod
    def from_json(cls, table: PriceTable, data: PricesJson) -> CostTally:
        """The tally a checkpoint saved, to go on adding to (its table: the same sha256)."""
        if data["sha256"] != table.sha256:
            raise ValueError("a cost tally goes on only with the price table it began with")
        unpriced = data["unpriced"]
        return cls(
            table,
            amount=Decimal(data["cost"]),
            priced_count=data["pricedCount"],
            unpriced_records=unpriced["records"],
            unpriced=unpriced["types"],
        )


def check_prices(data: PricesJson, count_total: int, records: int) -> None:
    """A saved `prices` block must add up with its figures; ValueError where it does not."""
    try:
        cost = Decimal(data["cost"])
    except decimal.InvalidOperation:
        raise ValueError(f"prices.cost: not a decimal amount: {data['cost']!r}") from None
    if not cost.is_finite():
        raise ValueError(f"prices.cost: not an amount: {data['cost']!r}")
    unpriced = data["unpriced"]
    if unpriced["count"] != sum(unpriced["types"].values()):
        raise ValueError("prices.unpriced: count differs from the sum of its types")
    if not 0 <= unpriced["records"] <= records:
        raise ValueError("prices.unpriced: records out of range")
    if data["pricedCount"] + unpriced["count"] != count_total:
        raise ValueError("prices: pricedCount and the unpriced count do not make countTotal")


def cost_of(prices: PricesJson | None) -> str:
    """`, cost 4.23 USD` for the `ok:` line of an export made with `--cost`; else nothing."""
    if prices is None:
        return ""
    return f", cost {prices['cost']} {prices['currency']}"


class CostColumn:
    """A cost column read back by `usage verify`: held to the manifest's `prices`.

    The file's sha256 already vouches for every cell; this holds the
    manifest's claims about them (the total, the priced and unpriced count)
    to what the cells say, so a manifest cannot state a cost its file does
    not add up to.
    """

    SHOWN = 3

    def __init__(self) -> None:
        self.amounts: list[Decimal] = []
        self.priced_count = 0
        self.unpriced_records = 0
        self.unpriced: dict[str, int] = {}
        # Records read without a cost column, and cells that are no amount.
        self.without = 0
        self.bad: list[str] = []

    def add(self, record_id: str, kind: str, count: int, cell: str | None) -> None:
        """One record: `cell` is its cost cell, None when the file has no cost column."""
        if cell is None:
            self.without += 1
        elif not cell:
            self.unpriced_records += 1
            self.unpriced[kind] = self.unpriced.get(kind, 0) + count
        else:
            try:
                amount = Decimal(cell)
            except decimal.InvalidOperation:
                amount = None
            if amount is None or not amount.is_finite():
                self.bad.append(f"{record_id} ({cell!r})")
                return
            self.amounts.append(amount)
            self.priced_count += count

    def problems(self, prices: PricesJson | None, *, records: int) -> list[str]:
        """What of the column disagrees with the manifest's `prices` (None: made without)."""
        if prices is None:
            if records and self.without < records:
                return ["a cost column, but the manifest has no prices (--cost) for it"]
            return []
        if self.without:
            return ["no cost column, but the manifest has prices (--cost)"]
        found: list[str] = []
        if self.bad:
            shown = ", ".join(self.bad[: self.SHOWN])
            more = len(self.bad) - self.SHOWN
            found.append(
                f"{len(self.bad)} cost cells are not amounts: {shown}"
                + (f" and {more} more" if more > 0 else "")
            )
            return found
        total = exact_sum(self.amounts)
        try:
            claimed = Decimal(prices["cost"])
        except decimal.InvalidOperation:
            claimed = None
        if claimed is None or total != claimed:
            found.append(
                f"the cost column sums to {exact_text(total)}, the manifest says {prices['cost']}"
            )
        if self.priced_count != prices["pricedCount"]:
            found.append(
                f"the priced count is {self.priced_count}, "
                f"the manifest says {prices['pricedCount']}"
            )
        unpriced = prices["unpriced"]
        if (
            self.unpriced != unpriced["types"]
            or self.unpriced_records != unpriced["records"]
            or sum(self.unpriced.values()) != unpriced["count"]
        ):
            found.append("the unpriced records (empty cost cells) differ from the manifest's")
        return found
