"""The relation table is the one declaration; the places spelled out statically cover it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import typer

from usage_cli.cli import app
from usage_cli.columns import CSV_COLUMNS
from usage_cli.query import FILTERS, Query
from usage_cli.records import RecordSchema, UsageRecord
from usage_cli.relations import BY_ORDER, ID_FIELDS, TABLE
from usage_cli.sandbox import generate_records
from usage_cli.summary import DIMENSIONS

ATTRIBUTES = {relation.attribute for relation in TABLE}


def test_the_table_has_the_ten_filters_of_the_contract() -> None:
    assert [relation.api for relation in TABLE] == [
        "type",
        "conversationId",
        "messageId",
        "taskId",
        "contactId",
        "blueprintId",
        "botId",
        "datasetId",
        "skillsetId",
        "abilityId",
    ]


def test_query_fields_cover_the_table_exactly() -> None:
    fields = {field.name for field in dataclasses.fields(Query)}
    assert fields >= ATTRIBUTES
    assert {name for name in fields if name.endswith("_id") or name == "type"} == ATTRIBUTES
    assert dict(FILTERS) == {relation.attribute: relation.api for relation in TABLE}


def test_record_schema_and_attributes_cover_the_table() -> None:
    declared = set(RecordSchema.__annotations__)
    assert {relation.api for relation in TABLE} <= declared
    assert {name for name in declared if name.endswith("Id")} == set(ID_FIELDS)
    record = UsageRecord.model_validate(
        {"id": "r", "type": "T", "count": 1, "createdAt": 1, "botId": "b"}
    )
    for relation in TABLE:
        assert hasattr(UsageRecord, relation.attribute), relation
    assert record.bot_id == "b"


@pytest.mark.parametrize("name", ["list", "export", "summary"])
def test_every_record_reading_command_has_exactly_the_filter_flags(name: str) -> None:
    group: Any = typer.main.get_command(app)
    command = group.commands[name]
    flags = {opt for param in command.params for opt in param.opts}
    names = {param.name for param in command.params}
    for relation in TABLE:
        assert relation.flag in flags, relation
        assert relation.parameter in names, relation
    id_flags = {flag for flag in flags if flag.endswith("-id")}
    assert id_flags == {relation.flag for relation in TABLE if relation.word != "type"}


def test_summary_groups_and_csv_columns_derive_from_the_table() -> None:
    assert {relation.word for relation in TABLE} <= set(DIMENSIONS)
    assert set(ID_FIELDS) <= set(CSV_COLUMNS)


def test_sandbox_records_carry_every_relation_field() -> None:
    record = generate_records(1, seed=1)[0]
    assert set(ID_FIELDS) <= set(record)


def test_the_by_order_lists_every_relation_once() -> None:
    assert sorted(BY_ORDER) == sorted(relation.word for relation in TABLE)
    assert DIMENSIONS[: len(BY_ORDER)] == BY_ORDER
