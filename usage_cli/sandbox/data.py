"""Deterministic, realistic usage records: same seed and anchor, same records."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from usage_cli.relations import ID_FIELDS
from usage_cli.runtime import utc_now

DAY_MS = 86_400_000
SPAN_DAYS = 30

# (type, typical count range, relations it tends to carry)
_KINDS: tuple[tuple[str, tuple[int, int], tuple[str, ...]], ...] = (
    ("OPENAI_GPT_4O_TOKEN", (50, 4000), ("botId", "conversationId", "messageId", "contactId")),
    ("OPENAI_GPT_4O_MINI_TOKEN", (20, 2500), ("botId", "conversationId", "messageId")),
    ("ANTHROPIC_CLAUDE_SONNET_4_TOKEN", (80, 6000), ("botId", "conversationId", "taskId")),
    ("CHATBOTKIT_CONVERSATION", (1, 1), ("botId", "conversationId", "contactId", "blueprintId")),
    ("CHATBOTKIT_MESSAGE", (1, 3), ("botId", "conversationId", "messageId")),
    ("CHATBOTKIT_TASK_RUN", (1, 1), ("taskId", "botId", "blueprintId")),
    ("CHATBOTKIT_ABILITY_CALL", (1, 5), ("abilityId", "skillsetId", "botId", "conversationId")),
    ("CHATBOTKIT_DATASET_SEARCH", (1, 20), ("datasetId", "botId", "conversationId")),
)
# The API's usage types the sandbox serves (shell completion offers them for --type).
TYPES: tuple[str, ...] = tuple(kind for kind, _, _ in _KINDS)
_WEIGHTS = (30, 20, 10, 10, 12, 6, 7, 5)
_POOL_SIZES = {
    "conversationId": 120,
    "messageId": 100_000,
    "taskId": 8,
    "contactId": 40,
    "blueprintId": 3,
    "botId": 5,
    "datasetId": 4,
    "skillsetId": 3,
    "abilityId": 12,
}
_PREFIX = {
    "conversationId": "conv",
    "messageId": "msg",
    "taskId": "task",
    "contactId": "contact",
    "blueprintId": "bp",
    "botId": "bot",
    "datasetId": "ds",
    "skillsetId": "sk",
    "abilityId": "ab",
}
_REASONS = ("conversation/complete", "retry", "task/run", "ability/call", "dataset/search")
# Values that break naive CSV writers and spreadsheet importers.
_AWKWARD: tuple[Any, ...] = (
    'said "hello", then left',
    "line one\nline two",
    "=SUM(A1:A9)",
    "+1 (555) 0100",
    "café — naïve — 日本語 — 🚀",
    "comma, separated, words",
    "trailing space ",
    "",
    42,
    3.5,
    True,
    False,
    None,
    {"nested": {"depth": 2, "list": [1, "two", None]}},
    ["a", "b,c"],
)


def default_anchor() -> datetime:
    """The start of the current UTC day: demo data stays recent, and stable for a day."""
    now = utc_now()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


# Valid but hostile strings (`--odd-data`): half an emoji as JavaScript cuts
# it (a lone surrogate), and terminal escape sequences a table must not obey.
ODD_NOTES: tuple[str, ...] = (
    "cut emoji \ud83d",
    "\x1b]0;title changed\x07",
    "\x1b[31mred\x1b[0m \x1b[2J cleared",
    "bell \x07 and C1 \x9b2J",
)
ODD_EVERY = 7


def generate_records(
    count: int, *, seed: int = 1, anchor: datetime | None = None, odd: bool = False
) -> list[dict[str, Any]]:
    """`count` records spread over the 30 days before `anchor`, newest first.

    With `odd`, every 7th record's `meta.note` is one of `ODD_NOTES`; the other
    records are the same as without it.
    """
    rng = random.Random(seed)
    end_ms = int((anchor or default_anchor()).timestamp() * 1000)
    records: list[dict[str, Any]] = []
    ids: set[str] = set()
    for _ in range(count):
        kind, (low, high), carried = rng.choices(_KINDS, weights=_WEIGHTS)[0]
        record_id = f"rec_{rng.getrandbits(64):016x}"
        while record_id in ids:
            record_id = f"rec_{rng.getrandbits(64):016x}"
        ids.add(record_id)
        created = end_ms - rng.randrange(SPAN_DAYS * DAY_MS)
        record: dict[str, Any] = {"id": record_id, "type": kind, "count": rng.randint(low, high)}
        for relation in ID_FIELDS:
            # Sparse: a relation the kind carries is still sometimes missing.
            if relation in carried and rng.random() < 0.85:
                number = rng.randrange(_POOL_SIZES[relation]) + 1
                record[relation] = f"{_PREFIX[relation]}_{number}"
            else:
                record[relation] = None
        record["name"] = None
        record["description"] = None
        if rng.random() < 0.08:
            record["meta"] = None
        else:
            meta: dict[str, Any] = {"reason": rng.choice(_REASONS)}
            if rng.random() < 0.3:
                meta["note"] = rng.choice(_AWKWARD)
            if rng.random() < 0.2:
                meta["cached"] = rng.random() < 0.5
            if rng.random() < 0.1:
                meta["region"] = rng.choice(("eu-west-1", "us-east-1"))
            record["meta"] = meta
        if rng.random() < 0.05:
            record["name"] = rng.choice(("Nightly digest", 'Support "VIP" run', "Ünïcode naming"))
            record["description"] = rng.choice(("scheduled", "manual, with retries", None))
        record["createdAt"] = created
        record["updatedAt"] = created
        if rng.random() < 0.1:
            # Fields the models do not know yet must survive a round trip.
            record["origin"] = rng.choice(("api", "widget", {"channel": "slack", "v": 2}))
        records.append(record)
    records.sort(key=lambda r: (r["createdAt"], r["id"]), reverse=True)
    if odd:
        for index in range(0, len(records), ODD_EVERY):
            note = ODD_NOTES[index // ODD_EVERY % len(ODD_NOTES)]
            records[index]["meta"] = {**(records[index]["meta"] or {}), "note": note}
    return records


def arrivals(count: int, *, seed: int, now_ms: int) -> list[dict[str, Any]]:
    """`count` records created in the second before `now_ms`, newest first: new usage."""
    records = generate_records(count, seed=seed)
    for offset, record in enumerate(records):
        record["createdAt"] = record["updatedAt"] = now_ms - offset * (1000 // max(count, 1))
    return records


SPIKE_BOT = "bot_2"
SPIKE_TYPE = "OPENAI_GPT_4O_TOKEN"
HOUR_MS = 3_600_000


def with_spike(
    records: list[dict[str, Any]], count: int, *, seed: int = 1, at_ms: int
) -> list[dict[str, Any]]:
    """`records` plus a runaway: `count` large `OPENAI_GPT_4O_TOKEN` records of `bot_2`
    in the hour before `at_ms`, newest first, so that `usage check --spike` has one to find.
    """
    rng = random.Random(seed * 7_919 + count)
    burst = []
    for record in generate_records(count, seed=seed * 104_729 + 1):
        created = at_ms - 1 - rng.randrange(HOUR_MS)
        record |= {
            "type": SPIKE_TYPE,
            "botId": SPIKE_BOT,
            "count": rng.randint(20_000, 60_000),
            "createdAt": created,
            "updatedAt": created,
            "meta": {"reason": "retry"},
        }
        record["id"] = "rec_spike" + record["id"][len("rec_") + len("spike") :]
        burst.append(record)
    merged = [*records, *burst]
    merged.sort(key=lambda r: (r["createdAt"], r["id"]), reverse=True)
    return merged
