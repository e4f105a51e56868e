"""What makes two exports links of one series: the same records asked for, from the same
API, as the same user, written in the same format.

Only the window moves from link to link (and how the list was paged: order and
page size change no record). A link that asks for other records (a filter
added, say by a daily job someone edited), reads another API or user, or
writes another format is no continuation of the series before it: `export
--chain` refuses it, and `verify --chain` reports it as a break.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from usage_cli.relations import TABLE

# How the list is read, not which records: free to differ between links.
_PAGING = frozenset({"order", "take", "cursor", "since", "until"})
_FLAGS = {relation.attribute: relation.flag for relation in TABLE}


def kind(query: Mapping[str, Any], api: Mapping[str, Any], fmt: str) -> dict[str, Any]:
    """An export's kind, from its manifest's (or its run's) query, API and format."""
    filters = {key: value for key, value in query.items() if key not in _PAGING}
    meta = filters.get("meta")
    if meta:
        # Key order is no difference.
        filters["meta"] = sorted(dict(meta).items())
    else:
        filters.pop("meta", None)
    url = api.get("url")
    return {
        "filters": filters,
        "api": url.rstrip("/") if isinstance(url, str) else url,
        "runAs": api.get("runAs"),
        "format": str(fmt),
    }


def unlike(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """How the kind `after` differs from `before`, in a person's words; none when alike."""
    found: list[str] = []
    was, now = before["filters"], after["filters"]
    for key in sorted(set(was) | set(now)):
        if was.get(key) != now.get(key):
            flag = _FLAGS.get(key, f"--{key}")
            found.append(f"{flag} {_shown(now.get(key))} (was {_shown(was.get(key))})")
    for key, words in (("api", "the API"), ("runAs", "--run-as"), ("format", "the format")):
        if before[key] != after[key]:
            found.append(f"{words} {_shown(after[key])} (was {_shown(before[key])})")
    return found


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ", ".join(f"{key}={item}" for key, item in value)
    return str(value)
