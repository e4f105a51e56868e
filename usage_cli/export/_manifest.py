"""The proof beside a finished export: what was asked, what came, and the file's hash.

`usage export` writes it and `usage verify` reads it; both go through `Manifest`
(or `SetManifest`, for a partitioned export), so the keys they agree on are
written down once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, Self, cast

from typing_extensions import TypedDict

from usage_cli._files import reason
from usage_cli._version import SCHEMA_VERSION
from usage_cli.errors import VerifyError
from usage_cli.export._json import (
    ApiJson,
    ChainJson,
    FileJson,
    PartitionJson,
    PartJson,
    PricesJson,
    QueryJson,
    StatsJson,
    StringsJson,
    ToolJson,
    WindowJson,
    dumps,
    iso,
    parse,
    parse_iso,
    shape_of,
    this_tool,
)
from usage_cli.formats import Format
from usage_cli.partitions import PartFormat, Partition

if TYPE_CHECKING:
    from usage_cli.query import Query


def window_of(query: Query, started: datetime) -> WindowJson:
    """The span an export covers: as asked, but never past the moment it began reading.

    Records created after that moment were not there to be read, whatever
    `--until` said: a window that claimed them would let the next link of a
    series start after a stretch no export holds.
    """
    from usage_cli.columns import iso_ms
    from usage_cli.query import to_ms

    began = to_ms(started)
    until = began if query.until_ms is None else min(query.until_ms, began)
    since = query.since_ms
    return {
        "since": None if since is None else iso_ms(since),
        "until": iso_ms(until),
        "sinceMs": since,
        "untilMs": until,
    }


def strings_of(*, exact: bool, fmt: str, mended: int) -> StringsJson:
    """A manifest's `strings`: how an export of `fmt` wrote the API's text."""
    strings: StringsJson = {"exact": exact, "mended": 0 if exact else mended}
    if fmt == "csv":
        strings["formulasGuarded"] = not exact
    return strings


def _figures(data: StatsJson) -> StatsJson:
    """The figures of a manifest's JSON, or for it: the same keys either way."""
    figures: StatsJson = {
        "records": data["records"],
        "countTotal": data["countTotal"],
        "countByType": data["countByType"],
        "recordsByType": data["recordsByType"],
        "firstCreatedAt": data["firstCreatedAt"],
        "lastCreatedAt": data["lastCreatedAt"],
        "firstCreatedAtMs": data["firstCreatedAtMs"],
        "lastCreatedAtMs": data["lastCreatedAtMs"],
    }
    # Manifests written before the ids were kept have none: absent, not null.
    for key in ("firstId", "lastId"):
        if key in data:
            figures[key] = data[key]
    return figures


class _Series(TypedDict, total=False):
    window: WindowJson
    chain: ChainJson
    prices: PricesJson


def _series(
    window: WindowJson | None, chain: ChainJson | None, prices: PricesJson | None = None
) -> _Series:
    """The keys only some exports have: absent, not null, when they do not apply."""
    series: _Series = {}
    if window is not None:
        series["window"] = window
    if chain is not None:
        series["chain"] = chain
    if prices is not None:
        series["prices"] = prices
    return series


class ManifestJson(StatsJson):
    """The figures (StatsJson) flat at the top level, where readers expect them, and:"""

    # Written first in every manifest since it was added (`usage schema manifest`);
    # absent from those written before, which still verify.
    schemaVersion: NotRequired[int]
    tool: ToolJson
    api: ApiJson
    query: QueryJson
    format: Format
    gzip: bool
    pages: int
    file: FileJson
    startedAt: str
    finishedAt: str
    window: NotRequired[WindowJson]
    chain: NotRequired[ChainJson]
    # `--cost`: the price table in effect and the sum of the cost column.
    prices: NotRequired[PricesJson]
    strings: NotRequired[StringsJson]


_SHAPE = shape_of(ManifestJson)


class SetManifestJson(StatsJson):
    """The manifest of a partitioned export: the figures of the whole set, and every part."""

    schemaVersion: NotRequired[int]  # as ManifestJson's (`usage schema set-manifest`)
    tool: ToolJson
    api: ApiJson
    query: QueryJson
    partition: Partition
    format: PartFormat
    pages: int
    parts: list[PartJson]
    # `--update`: every partition read, with its window and figures, empty ones too.
    partitions: NotRequired[list[PartitionJson]]
    startedAt: str
    finishedAt: str
    window: NotRequired[WindowJson]
    chain: NotRequired[ChainJson]
    # `--cost`: the price table in effect and the sum of the cost column.
    prices: NotRequired[PricesJson]
    strings: NotRequired[StringsJson]


_SET_SHAPE = shape_of(SetManifestJson)


@dataclass(frozen=True, kw_only=True)
class _Proof:
    """What every manifest says, a file's or a folder's: the run, its figures, its place."""

    api: ApiJson
    query: QueryJson
    figures: StatsJson
    pages: int
    started_at: datetime
    finished_at: datetime
    tool: ToolJson = field(default_factory=this_tool)
    # Where this export stands in a series (`--chain`), and what span it covers.
    window: WindowJson | None = None
    chain: ChainJson | None = None
    # `--cost`: the price table in effect and what the cost column sums to.
    prices: PricesJson | None = None
    # How the text was written (`--exact` or not); None in a manifest from before.
    strings: StringsJson | None = None

    @property
    def formulas_guarded(self) -> bool:
        """Whether a CSV's text cells may carry the `'` that keeps a spreadsheet from
        running them (to be taken off when they are read as data)."""
        return self.strings is not None and self.strings.get("formulasGuarded", False)

    @property
    def records(self) -> int:
        return self.figures["records"]

    @property
    def count_total(self) -> int:
        return self.figures["countTotal"]

    @property
    def count_by_type(self) -> dict[str, int]:
        return self.figures["countByType"]

    def _json(self, kind: dict[str, Any], contents: dict[str, Any]) -> dict[str, Any]:
        """The manifest's keys in the order people read them: its schema's version, the
        run, what kind of export, its figures, what it holds, when, and its place in a
        series."""
        return {
            "schemaVersion": SCHEMA_VERSION,
            "tool": self.tool,
            "api": self.api,
            "query": self.query,
            **kind,
            **_figures(self.figures),
            "pages": self.pages,
            **({} if self.strings is None else {"strings": self.strings}),
            **contents,
            "startedAt": iso(self.started_at),
            "finishedAt": iso(self.finished_at),
            **_series(self.window, self.chain, self.prices),
        }

    @staticmethod
    def _shared(data: ManifestJson | SetManifestJson) -> dict[str, Any]:
        """The constructor's arguments every manifest's JSON gives."""
        return {
            "tool": data["tool"],
            "api": data["api"],
            "query": data["query"],
            "figures": _figures(data),
            "window": data.get("window"),
            "chain": data.get("chain"),
            "prices": data.get("prices"),
            "strings": data.get("strings"),
            "pages": data["pages"],
            "started_at": parse_iso(data["startedAt"]),
            "finished_at": parse_iso(data["finishedAt"]),
        }

    def to_json(self) -> Any:
        raise NotImplementedError

    def to_text(self) -> str:
        return dumps(self.to_json())

    @classmethod
    def from_text(cls, text: str) -> Self:
        raise NotImplementedError

    @classmethod
    def load(cls, path: Path) -> Self:
        """The manifest at `path`; VerifyError (exit 6) when it cannot be read as one.

        The manifest is the proof: one that is damaged or of the wrong shape
        proves nothing, so the export it stands for cannot be trusted, the
        same answer as for a mismatch. (No manifest at all is another matter:
        `verify` was pointed at something that is not an export, exit 2.)
        """
        try:
            return cls.from_text(path.read_text(encoding="utf-8"))
        except OSError as exc:
            detail = reason(exc)
        except (ValueError, RecursionError) as exc:
            detail = str(exc) or type(exc).__name__
        raise VerifyError(
            f"cannot read the manifest {str(path)!r}: {detail}; the export cannot be proven",
            hint="export it again to get a new manifest",
        )


@dataclass(frozen=True, kw_only=True)
class Manifest(_Proof):
    """`FILE.manifest.json`: the proof beside a file export."""

    fmt: Format
    gzip: bool
    file: FileJson

    def to_json(self) -> ManifestJson:
        kind = {"format": self.fmt, "gzip": self.gzip}
        return cast(ManifestJson, self._json(kind, {"file": self.file}))

    @classmethod
    def from_text(cls, text: str) -> Self:
        """A manifest as `usage export` writes it; ValueError for anything else."""
        data = parse(_SHAPE, text)
        return cls(fmt=data["format"], gzip=data["gzip"], file=data["file"], **cls._shared(data))


@dataclass(frozen=True, kw_only=True)
class SetManifest(_Proof):
    """`DIR.manifest.json`: one proof for every part of a partitioned export."""

    partition: Partition
    fmt: PartFormat
    parts: list[PartJson]
    # A dataset `--update` adds to: each partition read, and the window it was read in.
    partitions: list[PartitionJson] | None = None

    @property
    def bytes(self) -> int:
        return sum(part["bytes"] for part in self.parts)

    def to_json(self) -> SetManifestJson:
        kind = {"partition": self.partition, "format": self.fmt}
        contents: dict[str, Any] = {"parts": self.parts}
        if self.partitions is not None:
            contents["partitions"] = self.partitions
        return cast(SetManifestJson, self._json(kind, contents))

    @classmethod
    def from_text(cls, text: str) -> Self:
        """A manifest as a partitioned `usage export` writes it; ValueError for anything else."""
        data = parse(_SET_SHAPE, text)
        return cls(
            partition=data["partition"],
            fmt=data["format"],
            parts=data["parts"],
            partitions=data.get("partitions"),
            **cls._shared(data),
        )
