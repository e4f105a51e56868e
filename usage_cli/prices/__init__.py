"""Money from counts: a price table (`_table`), read from TOML (`_file`), and exact costs."""

from usage_cli.prices._file import bundled_bytes, load
from usage_cli.prices._table import (
    BUNDLED,
    Costs,
    Layer,
    Price,
    PriceTable,
    exact,
    share,
    shown,
)

__all__ = [
    "BUNDLED",
    "Costs",
    "Layer",
    "Price",
    "PriceTable",
    "bundled_bytes",
    "exact",
    "load",
    "share",
    "shown",
]
