"""The list's order and page size: what `--help` shows of paging, without the query.

Kept apart from `query` (its regular expressions, `json`, `calendar` and the
`Query` dataclass) so that `usage list --help` need not import it.
"""

from __future__ import annotations

from enum import StrEnum

DEFAULT_TAKE = 100


class Order(StrEnum):
    asc = "asc"
    desc = "desc"
