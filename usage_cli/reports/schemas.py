"""The JSON documents `usage` itself defines, as JSON Schemas scripts can pin.

Records (`list`, `export`) stay as the API sent them and have no schema here.
Each document carries `schemaVersion`; within a version fields may be added
(a schema allows what it does not name), never renamed, removed or retyped:
that takes a new version. `usage schema NAME` prints one (`verify.schemas`
adds the manifests and `verify -o json` to these); the tests hold every
output to its schema.
"""

from __future__ import annotations

from typing import Any, NotRequired

from typing_extensions import TypedDict


class Window(TypedDict):
    since: str
    until: str


class PriceLayer(TypedDict):
    origin: str
    version: str
    sha256: str


class Prices(TypedDict):
    sha256: str
    currency: str
    tables: list[PriceLayer]


class Unpriced(TypedDict):
    records: int
    count: int
    types: dict[str, int]


class SummaryGroup(TypedDict):
    key: dict[str, str | None]
    records: int
    count: int
    firstCreatedAt: str | None
    lastCreatedAt: str | None
    cost: NotRequired[str | None]
    costShare: NotRequired[float | None]
    pricedCount: NotRequired[int]
    unpriced: NotRequired[Unpriced]
    # True on the row `--top` folded the rest into (its key reads "(other)").
    folded: NotRequired[bool]


class SummaryTotal(TypedDict):
    records: int
    count: int
    firstCreatedAt: str | None
    lastCreatedAt: str | None
    cost: NotRequired[str | None]
    pricedCount: NotRequired[int]
    unpriced: NotRequired[Unpriced]
    coverage: NotRequired[float | None]


class Summary(TypedDict):
    """`usage summary -o json`."""

    schemaVersion: int
    by: list[str]
    groups: list[SummaryGroup]
    total: SummaryTotal
    prices: NotRequired[Prices]


class CompareFigures(TypedDict):
    records: int | None
    previousRecords: int | None
    recordsChange: int | None
    recordsChangeRatio: float | None
    count: int | None
    previousCount: int | None
    countChange: int | None
    countChangeRatio: float | None
    cost: NotRequired[str | None]
    previousCost: NotRequired[str | None]
    costChange: NotRequired[str | None]
    costChangeRatio: NotRequired[float | None]
    unpricedCount: NotRequired[int | None]
    previousUnpricedCount: NotRequired[int | None]


class CompareGroup(CompareFigures):
    key: dict[str, str | None]
    status: str


class Compare(TypedDict):
    """`usage summary --compare ... -o json`."""

    schemaVersion: int
    by: list[str]
    window: Window
    previous: Window
    groups: list[CompareGroup]
    total: CompareFigures
    prices: NotRequired[Prices]


class CheckResult(TypedDict):
    rule: str
    metric: str
    group: dict[str, str | None] | None
    value: int | str | None
    limit: int | str
    used: float | None
    status: str
    baseline: NotRequired[int | str]
    unpricedCount: NotRequired[int]


class SpikeBaseline(TypedDict):
    windows: int
    withRecords: int


class Check(TypedDict):
    """`usage check -o json`."""

    schemaVersion: int
    status: str
    window: Window
    by: list[str]
    warnAt: float | None
    checks: int
    breaches: int
    warnings: int
    results: list[CheckResult]
    spikeBaseline: NotRequired[SpikeBaseline]
    prices: NotRequired[Prices]


class PriceEntry(TypedDict):
    type: str
    price: str
    per: int
    # `from` is a Python keyword: named by the functional form below.
    until: str | None
    origin: str
    source: str
    notes: str


PriceEntryWithFrom = TypedDict("PriceEntryWithFrom", {"from": str | None})


class PriceEntryFull(PriceEntry, PriceEntryWithFrom):
    pass


class PriceTable(TypedDict):
    """`usage prices -o json`."""

    schemaVersion: int
    sha256: str
    currency: str
    tables: list[PriceLayer]
    entries: list[PriceEntryFull]


DOCUMENTS: dict[str, Any] = {
    "summary": Summary,
    "compare": Compare,
    "check": Check,
    "prices": PriceTable,
}
