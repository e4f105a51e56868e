"""How far an interrupted export got, and what it was exporting.

A checkpoint counts the bytes of the partial file that are whole pages, their
sha256 (so that a resume appends only to the very bytes it wrote) and the
cursor that follows them. It is only worth continuing by the same command
line: `differences` says where this one departs from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, NotRequired

from typing_extensions import TypedDict

from usage_cli._files import open_own, reason, sha256_of_start
from usage_cli.errors import InputError
from usage_cli.export._json import (
    ApiJson,
    PricesJson,
    QueryJson,
    StatsJson,
    ToolJson,
    dumps,
    iso,
    parse,
    parse_iso,
    shape_of,
    this_tool,
)
from usage_cli.export._stats import Stats
from usage_cli.export._target import Target
from usage_cli.formats import Format
from usage_cli.query import Query

# 2: `sha256` of the whole pages, so a partial changed since is refused.
CHECKPOINT_VERSION = 2
# 3: an export with `--cost`, whose checkpoint keeps the price table's sha256 and
# the cost so far. A tool that knows only 2 refuses it rather than resume it
# without the cost column; an export without `--cost` still writes 2.
COST_CHECKPOINT_VERSION = 3
EMPTY_SHA256 = hashlib.sha256().hexdigest()
START_OVER = "start over with --force (it replaces the checkpoint and the partial file)"


class CheckpointJson(TypedDict):
    version: int
    tool: ToolJson
    query: QueryJson
    format: Format
    gzip: bool
    api: ApiJson
    target: str
    startedAt: str
    cursor: str | None
    end: bool
    bytes: int
    sha256: str
    pages: int
    stats: StatsJson
    prices: NotRequired[PricesJson]
    # `--exact`; absent from a checkpoint written before there was a choice, which
    # wrote text as sent.
    exact: NotRequired[bool]


_SHAPE = shape_of(CheckpointJson)


def _no_stats() -> StatsJson:
    return Stats().to_json()


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """An export's command line, and the whole pages of its partial file."""

    query: QueryJson
    fmt: Format
    gzip: bool
    api: ApiJson
    target: str
    started_at: datetime
    # Where the next page starts; None once the last page is in the file.
    cursor: str | None = None
    bytes: int = 0
    # Of those `bytes` first bytes of the partial file.
    sha256: str = EMPTY_SHA256
    pages: int = 0
    stats: StatsJson = field(default_factory=_no_stats)
    # `--cost`: the price table in effect and the cost column so far; None without it.
    prices: PricesJson | None = None
    # `--exact`: text as the API sent it, neither mended nor guarded.
    exact: bool = False
    tool: ToolJson = field(default_factory=this_tool)

    @property
    def end(self) -> bool:
        return self.cursor is None

    def to_json(self) -> CheckpointJson:
        data: CheckpointJson = {
            "version": CHECKPOINT_VERSION if self.prices is None else COST_CHECKPOINT_VERSION,
            "tool": self.tool,
            "query": self.query,
            "format": self.fmt,
            "gzip": self.gzip,
            "api": self.api,
            "target": self.target,
            "startedAt": iso(self.started_at),
            "cursor": self.cursor,
            "end": self.end,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "pages": self.pages,
            "stats": self.stats,
            "exact": self.exact,
        }
        if self.prices is not None:
            data["prices"] = self.prices
        return data

    def to_text(self) -> str:
        return dumps(self.to_json())

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """A checkpoint this version wrote; ValueError for anything else."""
        data = parse(_SHAPE, text)
        stats = data["stats"]
        if stats["countByType"].keys() != stats["recordsByType"].keys():
            raise ValueError("stats: countByType and recordsByType name different types")
        if data["bytes"] < 0 or data["pages"] < 0:
            raise ValueError("bytes and pages cannot be negative")
        _check_figures(stats, data["pages"])
        prices = data.get("prices")
        if (prices is not None) != (data["version"] == COST_CHECKPOINT_VERSION):
            raise ValueError(f"prices: given with version {data['version']}")
        if prices is not None:
            from usage_cli.export._costs import check_prices

            check_prices(prices, stats["countTotal"], stats["records"])
            if not _SHA256.fullmatch(prices["sha256"]):
                raise ValueError("prices.sha256: not a sha256 in hex")
        if not _SHA256.fullmatch(data["sha256"]):
            raise ValueError("sha256: not a sha256 in hex")
        if data["end"] != (data["cursor"] is None):
            raise ValueError("end and cursor disagree")
        if data["cursor"] == "":
            raise ValueError("cursor: empty")
        return cls(
            query=data["query"],
            fmt=data["format"],
            gzip=data["gzip"],
            api=data["api"],
            target=data["target"],
            started_at=parse_iso(data["startedAt"]),
            cursor=data["cursor"],
            bytes=data["bytes"],
            sha256=data["sha256"],
            pages=data["pages"],
            stats=stats,
            prices=prices,
            exact=data.get("exact", True),
            tool=data["tool"],
        )

    @classmethod
    def load(cls, target: Target) -> Checkpoint | None:
        """The checkpoint of an interrupted export to `target`, if there is one.

        InputError (before any request) when there is one but it cannot be
        continued: unreadable, from another version, or not what its partial
        file holds (shorter, or changed since).
        """
        if not target.waiting:
            return None
        name = str(target.checkpoint)
        for kept in (target.checkpoint, target.partial):
            try:
                os.close(open_own(kept, os.O_RDONLY))
            except OSError as refused:
                # Another user's (or a link, or writable by others): continuing it would
                # publish what they wrote as this user's export.
                raise InputError(
                    f"the interrupted export's {kept.name} cannot be trusted: {refused.strerror}",
                    hint=START_OVER,
                ) from None
        try:
            text = target.checkpoint.read_text(encoding="utf-8")
            version = _version_of(text)
        except (OSError, ValueError, RecursionError):
            raise InputError(f"the checkpoint {name!r} cannot be read", hint=START_OVER) from None
        if version not in (CHECKPOINT_VERSION, COST_CHECKPOINT_VERSION):
            raise InputError(f"the checkpoint {name!r} is from another version", hint=START_OVER)
        try:
            checkpoint = cls.from_text(text)
        except (ValueError, RecursionError) as exc:
            raise InputError(
                f"the checkpoint {name!r} cannot be read ({exc})", hint=START_OVER
            ) from None
        checkpoint.check_partial(target)
        return checkpoint

    def check_partial(self, target: Target) -> None:
        """InputError unless the partial file starts with the bytes this checkpoint counted."""
        try:
            with open(target.partial, "rb") as handle:
                self.hash_kept(handle, target)
        except OSError as exc:
            raise InputError(
                f"the partial file {str(target.partial)!r} cannot be read ({reason(exc)})",
                hint="start over with --force",
            ) from None

    def hash_kept(self, handle: BinaryIO, target: Target) -> hashlib._Hash:
        """The running hash of the bytes this checkpoint counted, read from `handle`'s start;
        InputError when the partial is shorter or they are not those bytes."""
        partial = str(target.partial)
        try:
            digest = sha256_of_start(handle, self.bytes)
        except EOFError:
            raise InputError(
                f"the partial file {partial!r} is shorter than its checkpoint says",
                hint="start over with --force",
            ) from None
        if digest.hexdigest() != self.sha256:
            raise InputError(
                f"the partial file {partial!r} has changed since its checkpoint was written",
                hint="start over with --force",
            )
        return digest

    def differences(
        self,
        query: Query,
        fmt: Format,
        gzip: bool,
        api: ApiJson,
        prices: str | None = None,
        *,
        exact: bool = False,
    ) -> list[str]:
        """What of this command line differs from the one that made the checkpoint.

        `prices` is the sha256 of the price table of `--cost`, None without it.
        """
        found: list[str] = []
        mine = query.to_dict()
        if self.query != mine:
            detail = [
                f"{name}: {_shown(self.query.get(name))} then, {_shown(value)} now"
                for name, value in mine.items()
                if self.query.get(name) != value
            ]
            found.append("query" + (f" ({'; '.join(detail)})" if detail else ""))
        if self.fmt != fmt:
            found.append("format")
        if self.gzip != gzip:
            found.append("gzip")
        if self.api != api:
            found.append("api")
        if self.exact != exact:
            # Half the file's text as sent and half mended (or guarded) proves nothing.
            found.append(
                "--exact ("
                + ("used then, not now" if self.exact else "not used then, used now")
                + ")"
            )
        then = None if self.prices is None else self.prices["sha256"]
        if (then is None) != (prices is None):
            found.append(
                "--cost ("
                + ("used then, not now" if prices is None else "not used then, used now")
                + ")"
            )
        elif then != prices:
            found.append(f"price table (sha256 {then} then, {prices} now)")
        return found


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _version_of(text: str) -> object:
    """The `version` a checkpoint's JSON claims; ValueError when it is not a JSON object."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data.get("version")


def _check_figures(stats: StatsJson, pages: int) -> None:
    """The figures a manifest will be built on must add up; ValueError where they do not.

    The partial's own hash vouches for its bytes, not for these: a checkpoint
    edited or damaged here would otherwise yield a manifest its file fails.
    """
    by_type = stats["recordsByType"].values()
    if stats["records"] < 0 or any(records < 1 for records in by_type):
        raise ValueError("stats: record counts cannot be below zero (or zero for a type)")
    if stats["records"] != sum(by_type):
        raise ValueError("stats: records differ from the sum of recordsByType")
    if stats["countTotal"] != sum(stats["countByType"].values()):
        raise ValueError("stats: countTotal differs from the sum of countByType")
    if (stats["records"] == 0) != (stats["firstCreatedAtMs"] is None):
        raise ValueError("stats: times given without records, or records without times")
    if stats["records"] and pages < 1:
        raise ValueError("pages: records were written in no page")


def _shown(value: object) -> str:
    """A query value as a message says it: None is an option not given."""
    return "not given" if value is None else repr(value)
