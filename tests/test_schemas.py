"""Every JSON document usage defines carries schemaVersion and holds to its schema."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest

from usage_cli._version import SCHEMA_VERSION
from usage_cli.cli._schema import DocumentName
from usage_cli.reports.schemas import DOCUMENTS, adapter
from usage_cli.sandbox import Sandbox

from .conftest import run_in_memory

WINDOW = ("--since", "2026-01-24", "--until", "2026-01-30")

OUTPUTS: list[tuple[str, tuple[str, ...]]] = [
    ("summary", ("summary", "--by", "bot")),
    ("summary", ("summary", "--by", "type", "--by", "day", "--cost")),
    ("compare", ("summary", *WINDOW, "--by", "type", "--compare", "previous")),
    ("compare", ("summary", *WINDOW, "--by", "type", "--compare", "previous", "--cost")),
    ("check", ("check", "--since", "30d", "--max-cost", "5", "--max-count", "type=NOPE:1")),
    ("check", ("check", "--since", "1d", "--by", "bot", "--spike", "3x")),
    ("check", ("check", "--since", "30d", "--by", "bot", "--spike", "cost:3x")),
    ("prices", ("prices",)),
]


@pytest.mark.parametrize(("name", "args"), OUTPUTS, ids=[" ".join(a) for _, a in OUTPUTS])
def test_each_output_holds_to_its_schema(
    cli: Any, server: Sandbox, name: str, args: tuple[str, ...]
) -> None:
    result = cli(*args, "-o", "json")
    assert result.code in (0, 7), result.err
    document = json.loads(result.out)
    assert document["schemaVersion"] == SCHEMA_VERSION
    # Strict: an int is not text, nor text a number; a field the schema names is there.
    adapter(name).validate_python(document, strict=True)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_usage_schema_prints_each_documents_json_schema(name: str) -> None:
    result = run_in_memory(["schema", name])
    assert result.code == 0, result.err
    printed = json.loads(result.out)
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert printed["$id"] == f"usage:{name}/v{SCHEMA_VERSION}"
    assert "schemaVersion" in printed["required"]


def test_the_command_names_every_document() -> None:
    assert set(get_args(DocumentName)) == set(DOCUMENTS)


def test_an_unknown_schema_is_exit_2() -> None:
    result = run_in_memory(["schema", "manifest"])
    assert result.code == 2
    assert "'manifest' is not one of" in result.err
