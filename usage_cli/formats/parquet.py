"""Parquet parts: typed columns for engines, and each record's exact JSON beside them.

Needs pyarrow (`pip install 'chatbotkit-usage[parquet]'`), so only a parquet export
or the verification of one imports this module; `require_pyarrow` turns its
absence into one line naming the extra, before any request.

The columns are the CSV's, typed: `count` int64, `createdAt`/`updatedAt`
timestamp(ms, UTC), `meta` as compact JSON text (as in the CSV), and `raw`,
the record exactly as `-o jsonl` writes it (unknown fields included). The
typed columns are for queries; `raw` is the lossless copy. A lone surrogate
(half an emoji) in a text column shows as U+FFFD (parquet text is UTF-8, as
for CSV); in `meta` and `raw`, which are JSON, it is U+FFFD as the records
arrive mended, or its escape with `--exact`. A
number the typed columns cannot hold (a count beyond int64) stops the export
with an error instead of being written altered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from usage_cli._text import without_surrogates
from usage_cli.columns import json_bytes
from usage_cli.errors import InputError, UnrepresentableError
from usage_cli.relations import ID_FIELDS

if TYPE_CHECKING:
    import pyarrow

    from usage_cli.records import UsageRecord

EXTRA_HINT = (
    "pip install 'chatbotkit-usage[parquet]' (from a source checkout: pip install '.[parquet]')"
)
# Records per row group (engines skip and parallelise by row group). Measured
# at 100k records: a parquet export peaks near 140 MB at 20,000, 120 MB at
# 10,000 and 165 MB at 50,000, of which pyarrow itself takes about 55 MB.
ROW_GROUP = 20_000
# zstd, not snappy: measured at 100k sandbox records, the parts took 7.1 MB with
# zstd and 12.5 MB with snappy (jsonl.gz: 4.0 MB), in the same write time; `raw`
# is 65% of them. Every reader named in docs/readers.md reads zstd.
COMPRESSION = "zstd"
TEXT_COLUMNS: tuple[str, ...] = ("id", "type", *ID_FIELDS, "name", "description")
INTEGER_COLUMNS: tuple[str, ...] = ("count", "createdAt", "updatedAt")
_INT64 = range(-(2**63), 2**63)


def require_pyarrow() -> Any:
    """`pyarrow.parquet`, or InputError (exit 2) naming the extra that brings it."""
    try:
        import pyarrow.parquet
    except ImportError as exc:
        raise InputError(
            f"parquet needs pyarrow, which is not installed ({exc}); "
            f"install the extra: {EXTRA_HINT}",
            hint="or export -o jsonl or -o csv parts, which need nothing more",
        ) from None
    return pyarrow.parquet


def schema() -> pyarrow.Schema:
    import pyarrow as pa

    moment = pa.timestamp("ms", tz="UTC")
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("type", pa.string(), nullable=False),
            pa.field("count", pa.int64(), nullable=False),
            *(pa.field(name, pa.string()) for name in ID_FIELDS),
            pa.field("name", pa.string()),
            pa.field("description", pa.string()),
            pa.field("meta", pa.string()),
            pa.field("createdAt", moment, nullable=False),
            pa.field("updatedAt", moment),
            pa.field("raw", pa.string(), nullable=False),
        ]
    )


def _text(values: list[str | None]) -> pyarrow.Array:
    import pyarrow as pa

    try:
        return pa.array(values, pa.string())
    except UnicodeEncodeError:
        # Only a lone surrogate gets here (a cut emoji); `raw` keeps it exactly.
        return pa.array([None if v is None else without_surrogates(v) for v in values], pa.string())


def _check_fits(raws: Sequence[dict[str, Any]]) -> None:
    for raw in raws:
        for column in INTEGER_COLUMNS:
            value = raw.get(column)
            if value is not None and value not in _INT64:
                raise UnrepresentableError(
                    f"record {raw['id']!r} has {column} {value}, beyond what parquet's "
                    "int64 column holds; nothing was written altered",
                    hint="export it as -o jsonl, which keeps every value exactly",
                )


def to_table(records: Sequence[UsageRecord]) -> pyarrow.Table:
    import pyarrow as pa

    raws = [record.raw for record in records]
    _check_fits(raws)
    target = schema()
    arrays: dict[str, pyarrow.Array] = {
        name: _text([raw.get(name) for raw in raws]) for name in TEXT_COLUMNS
    }
    arrays["count"] = pa.array([raw["count"] for raw in raws], pa.int64())
    arrays["meta"] = _text(
        [None if raw.get("meta") is None else json_bytes(raw["meta"]).decode() for raw in raws]
    )
    for name in ("createdAt", "updatedAt"):
        arrays[name] = pa.array([raw.get(name) for raw in raws], target.field(name).type)
    # The very bytes a jsonl line holds (pydantic-core's, or escaped surrogates): valid UTF-8.
    arrays["raw"] = pa.array([json_bytes(raw).decode() for raw in raws], pa.string())
    return pa.Table.from_arrays([arrays[name] for name in target.names], schema=target)


class ParquetWriter:
    """Records to one parquet file on `stream`, a row group at a time.

    Each page becomes Arrow columns at once, which hold a record in far less
    memory than its decoded dict; a row group is written once enough are in.
    """

    def __init__(self, stream: BinaryIO, *, row_group: int = ROW_GROUP) -> None:
        parquet = require_pyarrow()
        self._writer = parquet.ParquetWriter(stream, schema(), compression=COMPRESSION)
        self._row_group = row_group
        self._pending: list[pyarrow.Table] = []
        self._rows = 0

    def write(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        self._pending.append(to_table(records))
        self._rows += len(records)
        if self._rows >= self._row_group:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            table = pa.concat_tables(self._pending)
            self._pending, self._rows = [], 0
            self._writer.write_table(table, row_group_size=len(table))

    def close(self) -> None:
        self._flush()
        self._writer.close()
