"""The ten things a usage record can be filtered and grouped by, declared once.

Each row names one relation in every vocabulary the tool speaks: the `--by`
word, the `Query` field and `UsageRecord` attribute, and the API's field and
query parameter. Query filters, `summary --by`, help text, CSV columns and the
sandbox's data all derive from this table; a test checks that the places that
must be spelled out statically (Typer options, dataclass and schema fields)
cover it exactly. Light on purpose: `--help` imports it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Relation:
    word: str  # `--by bot`, and the thing's name in help text
    attribute: str  # `Query.bot_id`, `UsageRecord.bot_id`
    api: str  # `botId`: the record's field and the list endpoint's filter

    @property
    def flag(self) -> str:
        return "--" + ("type" if self.word == "type" else self.attribute.replace("_", "-"))

    @property
    def parameter(self) -> str:
        """The CLI function's parameter name (`type` is a builtin, so `type_`)."""
        return "type_" if self.word == "type" else self.attribute


# In the contract's filter order.
TABLE: tuple[Relation, ...] = (
    Relation("type", "type", "type"),
    Relation("conversation", "conversation_id", "conversationId"),
    Relation("message", "message_id", "messageId"),
    Relation("task", "task_id", "taskId"),
    Relation("contact", "contact_id", "contactId"),
    Relation("blueprint", "blueprint_id", "blueprintId"),
    Relation("bot", "bot_id", "botId"),
    Relation("dataset", "dataset_id", "datasetId"),
    Relation("skillset", "skillset_id", "skillsetId"),
    Relation("ability", "ability_id", "abilityId"),
)
BY_WORD = {relation.word: relation for relation in TABLE}
# The relation ids proper (everything but `type`), by API field name.
ID_FIELDS: tuple[str, ...] = tuple(relation.api for relation in TABLE if relation.word != "type")
# The order `--by` offers relations in (help, hints): the most asked-for first.
BY_ORDER: tuple[str, ...] = (
    "type",
    "bot",
    "conversation",
    "task",
    "contact",
    "blueprint",
    "dataset",
    "skillset",
    "ability",
    "message",
)
