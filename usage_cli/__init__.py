"""`usage`: an audit tool for the ChatBotKit usage-records API.

The package is usable as a library; nothing here imports Typer or rich::

    from usage_cli import Client, Query, iter_records

    with Client(token="...") as client:
        for record in iter_records(client, Query(bot_id="bot_1")):
            print(record.id, record.count)

`iter_records` writes half an emoji (a lone surrogate the API sent) as U+FFFD,
as the command does; `iter_records(..., exact=True)` keeps the text as sent.
"""

from __future__ import annotations

from usage_cli._version import __version__

# Not `from typing import TYPE_CHECKING`: importing typing would double the cost
# of `usage --version`, which reads only __version__ from here.
TYPE_CHECKING = False

__all__ = [
    "Client",
    "Query",
    "UsageRecord",
    "__version__",
    "iter_records",
]

if TYPE_CHECKING:
    from typing import Any

    from usage_cli.client import Client
    from usage_cli.query import Query
    from usage_cli.reading import iter_records
    from usage_cli.records import UsageRecord

# `usage --version` must stay cheap, so the heavy modules load on first use only.
_LAZY = {
    "Client": "usage_cli.client",
    "Query": "usage_cli.query",
    "UsageRecord": "usage_cli.records",
    "iter_records": "usage_cli.reading",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'usage_cli' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
