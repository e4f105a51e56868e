"""Every Typer/click private name we rely on still exists: an upgrade fails here, by name."""

from __future__ import annotations

import importlib
import pathlib
import re
from typing import Any

import pytest
import typer

from usage_cli._defaults import DEFAULT_TIMEOUT
from usage_cli.cli import app, run
from usage_cli.cli._argv import command_index
from usage_cli.cli._invocation import Invocation
from usage_cli.cli._typer_internals import (
    APP_NAMES,
    COERCION_INSTANCE_NAMES,
    COERCION_NAMES,
    COMMAND_INFO_NAMES,
    GROUP_INFO_NAMES,
    INSTANCE_NAMES,
    PRIVATE_NAMES,
    coerces_with_pydantic,
    command_for,
    missing_names,
)
from usage_cli.query import Order
from usage_cli.runtime import Runtime, written

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "usage_cli"


@pytest.mark.parametrize(
    ("module", "dotted", "why"), PRIVATE_NAMES, ids=[f"{m}.{d}" for m, d, _ in PRIVATE_NAMES]
)
def test_private_name_exists(module: str, dotted: str, why: str) -> None:
    found: Any = importlib.import_module(module)
    for part in dotted.split("."):
        assert hasattr(found, part), f"typer {typer.__version__} has no {module}.{dotted} ({why})"
        found = getattr(found, part)


# CI runs this file again against the newest Typer the pin allows, where these run.
needs_pydantic_typer = pytest.mark.skipif(
    not coerces_with_pydantic(), reason="this Typer coerces with click's types, not pydantic"
)


@needs_pydantic_typer
@pytest.mark.parametrize(
    ("module", "dotted", "why"), COERCION_NAMES, ids=[f"{m}.{d}" for m, d, _ in COERCION_NAMES]
)
def test_coercion_name_exists(module: str, dotted: str, why: str) -> None:
    test_private_name_exists(module, dotted, why)


@needs_pydantic_typer
@pytest.mark.parametrize("name", COERCION_INSTANCE_NAMES)
def test_coercion_attribute_exists_on_every_built_parameter(name: str) -> None:
    for param in _built_params():
        found = param
        for part in name.split("."):
            assert hasattr(found, part), f"{param.name}: no {name}"
            found = getattr(found, part)


def test_values_come_out_as_typer_coerces_them_typed_or_default() -> None:
    group: Any = typer.main.get_command(app)
    ctx = group.make_context("usage", ["--retries", "7", "--profile", "p", "list"])
    assert ctx.params["retries"] == 7
    assert type(ctx.params["retries"]) is int
    assert ctx.params["timeout"] == DEFAULT_TIMEOUT
    assert (ctx.params["profile"], ctx.params["token"], ctx.params["verbose"]) == ("p", None, 0)
    listing = group.commands["list"]
    ctx = listing.make_context("list", ["--order", "asc", "--take", "50", "--bot-id", "b1"])
    assert ctx.params["order"] == Order.asc  # 0.28 makes the member only at the call
    assert ctx.params["take"] == 50
    assert list(ctx.params["bot_id"]) == ["b1"]
    assert not ctx.params["task_id"]
    assert listing.make_context("list", []).params["order"] == Order.desc
    # A bad value is refused in click's words, as Typer 0.28 did (0.29's are pydantic's).
    with pytest.raises(typer.BadParameter, match=r"^'many' is not a valid int\.$"):
        listing.make_context("list", ["--take", "many"])
    with pytest.raises(typer.BadParameter, match=r"^'1\.5' is not a valid int\.$"):
        listing.make_context("list", ["--take", "1.5"])
    with pytest.raises(typer.BadParameter, match=r"^'x' is not a valid float\.$"):
        group.make_context("usage", ["--timeout", "x", "list"])
    with pytest.raises(typer.BadParameter, match=r"^'up' is not one of 'asc', 'desc'\.$"):
        listing.make_context("list", ["--order", "up"])
    summary = group.commands["summary"]
    assert summary.make_context("summary", ["--sort", "cost"]).params["sort"] == "cost"
    with pytest.raises(
        typer.BadParameter, match=r"^'x' is not one of 'count', 'records', 'cost'\.$"
    ):
        summary.make_context("summary", ["--sort", "x"])


@needs_pydantic_typer
def test_defaults_and_absent_options_build_no_pydantic_adapter() -> None:
    group: Any = typer.main.get_command(app)
    group.make_context("usage", ["list"])
    listing = group.commands["list"]
    ctx = listing.make_context("list", ["--since", "7d"])
    params = listing.get_params(ctx)
    assert params
    # `_typer` is Typer's own coercion, built only for a value that needs it.
    assert all(param._runtime_param._typer is None for param in group.get_params(ctx))
    assert all(param._runtime_param._typer is None for param in params)


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


def test_each_app_attribute_command_for_reads_exists() -> None:
    for name in APP_NAMES:
        assert hasattr(app, name), name
    assert all(isinstance(info.name, str) for info in app.registered_commands)
    assert all(isinstance(info.name, str) for info in app.registered_groups)
    for info in app.registered_commands:
        for name in COMMAND_INFO_NAMES:
            assert hasattr(info, name), name
    for group in app.registered_groups:
        for name in GROUP_INFO_NAMES:
            assert hasattr(group, name), name


@pytest.mark.parametrize("width", ["60", "80", "140"])
def test_the_outline_of_usage_help_draws_what_the_whole_app_did(
    width: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`usage --help` builds no command's parameters, and shows the same text."""
    monkeypatch.setenv("COLUMNS", width)  # click's help reads the process's
    whole = Runtime.memory()
    with whole.bound():
        typer.main.get_command(app).main(
            ["--help"], prog_name="usage", standalone_mode=False, obj=Invocation(whole)
        )
    outline = Runtime.memory()
    assert run(["--help"], runtime=outline) == 0
    assert written(outline.stdout) == written(whole.stdout)


@pytest.mark.parametrize(
    ("args", "built"),
    [
        (["export", "x.jsonl", "-o", "csv"], {"export"}),
        (["--api-url", "http://h", "list", "--all"], {"list"}),
        (["-q", "list", "--help"], {"list"}),
        (["config", "set", "api_url", "x"], {"config"}),
        # The value of a global option that happens to be a command's name.
        (["--profile", "export", "list"], None),
        (["--help", "list"], None),
        (["-h"], None),
        ([], None),
        (["lst"], None),
    ],
)
def test_a_run_builds_only_the_command_it_plainly_names(
    args: list[str], built: set[str] | None
) -> None:
    everything = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    group = command_for(app, args, command_index)
    assert set(group.commands) == (built or everything)


def test_help_and_errors_still_see_every_command() -> None:
    for args in (["--help"], ["list", "--help"], ["-h", "list"], ["lst"]):
        runtime = Runtime.memory()
        code = run(args, runtime=runtime)
        whole = written(runtime.stdout) + written(runtime.stderr)
        assert code in (0, 2), args
        if args[0] in ("--help", "-h"):
            assert {"export", "summary", "sync"} <= set(whole.split()), args
        if args == ["lst"]:
            assert "No such command 'lst'" in whole


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (
            ["prices", "--help"],
            [r"Usage: usage prices \[OPTIONS\] \[TYPE\]\n", r"\n  \[TYPE\]  Only"],
        ),
        (
            ["verify", "--help"],
            [r"Usage: usage verify \[OPTIONS\] PATH\.\.\.\n", r"\n  PATH\.\.\.  A"],
        ),
        (
            ["export", "--help"],
            [r"Usage: usage export \[OPTIONS\] PATH\n", r"\n  PATH  Target"],
        ),
        (["config", "set", "--help"], [r"\[OPTIONS\] KEY \[VALUE\]\n", r"\n  key    token"]),
        (
            ["list", "--help"],
            [r"\n  --bot-id <str> +Records of this bot", r"\n  --meta KEY=VALUE +Match"],
        ),
    ],
)
def test_help_names_arguments_and_repeatable_options_as_typer_0_28_did(
    args: list[str], shown: list[str]
) -> None:
    # Typer 0.29 would say `[[TYPE]]`, `PATH <str>` and `--bot-id <list[str]>`.
    runtime = Runtime.memory()
    assert run(args, runtime=runtime) == 0
    for pattern in shown:
        assert re.search(pattern, written(runtime.stdout)), pattern
