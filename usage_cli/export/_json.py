"""The JSON that checkpoints and manifests share, as types a checker can follow.

People and scripts read these files, so their keys and layout are part of the
interface; the shapes here say what each key holds, and `parse` holds a file
to them strictly (a count written as "5" is wrong, not 5).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import (
    TYPE_CHECKING,
    Any,
    NotRequired,  # pydantic reads typing's own only from 3.12
    TypeVar,
)

from typing_extensions import TypedDict

from usage_cli._version import __version__

if TYPE_CHECKING:
    from pydantic import JsonValue, TypeAdapter

T = TypeVar("T")

# The query as `Query.to_dict()` writes it; compared key by key, never rebuilt.
if TYPE_CHECKING:
    QueryJson = dict[str, JsonValue]
else:
    # Only ever validated from JSON text, where any value is a JSON value: the
    # same check as JsonValue, without importing pydantic to define it.
    QueryJson = dict[str, Any]


class ToolJson(TypedDict):
    name: str
    version: str


class ApiJson(TypedDict):
    url: str
    runAs: str | None


class StatsJson(TypedDict):
    records: int
    countTotal: int
    countByType: dict[str, int]
    recordsByType: dict[str, int]
    firstCreatedAt: str | None
    lastCreatedAt: str | None
    firstCreatedAtMs: int | None
    lastCreatedAtMs: int | None
    # The ids of the oldest and newest records (by createdAt, then id).
    firstId: NotRequired[str | None]
    lastId: NotRequired[str | None]
    # A checkpoint's: the strings mended so far (see StringsJson). No manifest has it.
    stringsMended: NotRequired[int]


class StringsJson(TypedDict):
    """How an export wrote the API's text: exactly as sent (`--exact`), or safe for its
    readers. Absent from manifests written before it: those wrote text as sent."""

    exact: bool
    # Strings with a lone surrogate (half an emoji), written with U+FFFD in its place.
    mended: int
    # CSV: whether a text cell a spreadsheet would run as a formula got a leading `'`.
    formulasGuarded: NotRequired[bool]


class WindowJson(TypedDict):
    """The span of `createdAt` an export was asked for, inclusive, in epoch ms.

    `until` is the export's start when no `--until` was given: what existed
    then is what it could hold. Windows of a chain meet with no gap when each
    `sinceMs` is the `untilMs` before it plus one.
    """

    since: str | None
    until: str
    sinceMs: int | None
    untilMs: int


class ChainJson(TypedDict):
    """The manifest before this one in a series (`--chain`), by the sha256 of its bytes."""

    previous: str
    previousName: str


class PriceFileJson(TypedDict):
    """One file of the price table in effect: `bundled` or the path given, and its edition."""

    origin: str
    version: str
    sha256: str


class UnpricedJson(TypedDict):
    """Records the table has no price for: never $0, counted apart."""

    records: int
    count: int
    types: dict[str, int]  # sum of `count` per unpriced type


class PricesJson(TypedDict):
    """The money of an export made with `--cost`: the table in effect and what it priced.

    `cost` is the exact sum of the file's `cost` column, as decimal text;
    `coverage` the share of `countTotal` that has a price (null: no count).
    """

    sha256: str
    currency: str
    tables: list[PriceFileJson]
    cost: str
    pricedCount: int
    unpriced: UnpricedJson
    coverage: float | None


class FileJson(TypedDict):
    name: str
    bytes: int
    sha256: str


class PartJson(TypedDict):
    """One part of a partitioned export, as its manifest lists it."""

    path: str  # inside the set, `/`-separated: `date=2026-11-24/part-00000.jsonl.gz`
    records: int
    bytes: int
    sha256: str


class PartitionJson(StatsJson):
    """One partition of a dataset that `--update` keeps: its folder, the window of the
    run that read it whole, and the figures of what it held (none: an empty period,
    with no folder)."""

    folder: str
    window: WindowJson


def this_tool() -> ToolJson:
    return {"name": "usage", "version": __version__}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """The moment `iso` wrote; ValueError for anything else."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment


def dumps(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def shape_of(kind: type[T]) -> Callable[[], TypeAdapter[T]]:
    """The validator of a TypedDict, built on first use.

    Building it imports pydantic and compiles a schema: an export only writes
    these files, so it should not pay for reading them.
    """

    @functools.cache
    def adapter() -> TypeAdapter[T]:
        from pydantic import TypeAdapter

        return TypeAdapter(kind)

    return adapter


def parse(shape: Callable[[], TypeAdapter[T]], text: str) -> T:
    """`text` held to `shape`; ValueError naming the first thing wrong with it."""
    from pydantic import ValidationError

    try:
        return shape().validate_json(text, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise ValueError(f"{where}: {first['msg'].lower()}") from None
