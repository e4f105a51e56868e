"""Every Typer/click private name we rely on still exists: an upgrade fails here, by name."""

from __future__ import annotations

import importlib
import pathlib
import re
from typing import Any

import pytest
import typer

from usage_cli.cli import app
from usage_cli.cli._typer_internals import INSTANCE_NAMES, PRIVATE_NAMES, missing_names

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "usage_cli"


@pytest.mark.parametrize(
    ("module", "dotted", "why"), PRIVATE_NAMES, ids=[f"{m}.{d}" for m, d, _ in PRIVATE_NAMES]
)
def test_private_name_exists(module: str, dotted: str, why: str) -> None:
    found: Any = importlib.import_module(module)
    for part in dotted.split("."):
        assert hasattr(found, part), f"typer {typer.__version__} has no {module}.{dotted} ({why})"
        found = getattr(found, part)


def _built_params() -> list[Any]:
    group: Any = typer.main.get_command(app)
    return [param for command in group.commands.values() for param in command.params]


@pytest.mark.parametrize("name", INSTANCE_NAMES)
def test_instance_attribute_exists_on_a_built_command(name: str) -> None:
    group: Any = typer.main.get_command(app)
    holders = [group, *group.commands.values(), *_built_params()]
    assert any(hasattr(holder, name) for holder in holders), name


def test_missing_names_is_empty_on_this_typer() -> None:
    assert missing_names() == []


def test_no_other_module_uses_a_private_typer_or_click_name() -> None:
    private = re.compile(r"typer\._|typer\.core|from typer\.(?!main\b)|import click|_click")
    door = PACKAGE / "cli" / "_typer_internals.py"
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path != door and private.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
