"""What start-up imports (no timings here: those live in benchmarks/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import subprocess_env


def imported(*args: str, **env: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "usage_cli", *args],
        capture_output=True,
        text=True,
        env=subprocess_env(**env),
        timeout=60,
    )
    return {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}


def test_version_imports_nothing_heavy() -> None:
    modules = imported("--version")
    assert "usage_cli" in modules
    assert not {"typer", "httpx", "pydantic", "rich", "typing"} & modules


# The archive's code paths (sqlite3) and parquet's (pyarrow) are no start-up cost either.
HEAVY = {"httpx", "pydantic", "rich", "usage_cli.client", "sqlite3", "usage_cli.archive", "pyarrow"}


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--help"],
        ["export", "--help"],
        ["verify", "--help"],
        ["sync", "--help"],
        ["check", "--help"],
        ["prices", "--help"],
        ["report", "--help"],
    ],
)
def test_help_does_not_import_the_client_stack(args: list[str]) -> None:
    modules = imported(*args)
    assert "typer" in modules
    assert not {*HEAVY, "usage_cli.records"} & modules


@pytest.mark.parametrize("args", [["--help"], ["-h"], []])
def test_the_apps_help_imports_no_typer_and_no_command(args: list[str]) -> None:
    # Generated text (usage_cli/_outline.py): Typer and the command modules were 85%
    # of `usage --help` (benchmarks/README.md).
    modules = imported(*args)
    assert "usage_cli._outline" in modules
    assert not {*HEAVY, "typer", "click", "usage_cli.cli", "usage_cli.runtime"} & modules


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_tab_completion_imports_nothing_heavy(shell: str) -> None:
    modules = imported(
        COMP_WORDS="usage list --bo",
        COMP_CWORD="2",
        _TYPER_COMPLETE_ARGS="usage list --bo",
        _TYPER_COMPLETE_FISH_ACTION="get-args",
        _USAGE_COMPLETE=f"complete_{shell}",
    )
    assert "typer" in modules
    assert not HEAVY & modules


COMMAND_MODULES = {"_check", "_config", "_export", "_list", "_prices", "_sandbox", "_summary"}
COMMAND_MODULES |= {"_sync", "_verify"}


@pytest.mark.parametrize("command", ["list", "export", "summary", "sync", "config"])
def test_a_command_imports_only_its_own_module(command: str) -> None:
    modules = imported(command, "--help")
    own = f"_{command}"
    assert f"usage_cli.cli.{own}" in modules
    assert not {f"usage_cli.cli.{m}" for m in COMMAND_MODULES - {own}} & modules


def test_help_imports_no_query() -> None:
    # `--order` and `--take` come from `paging`; a query is made only by a run.
    for args in (["--help"], ["list", "--help"], ["summary", "--help"]):
        assert "usage_cli.query" not in imported(*args), args


def test_command_signatures_are_objects_not_strings() -> None:
    """Under `from __future__ import annotations` Typer evaluates each parameter's
    annotation from its text, twice, at every run: 5.0 ms to build `list` against 1.4 ms
    (benchmarks/README.md). So the modules whose functions Typer reads go without it,
    and quote what exists only for the type checker."""
    cli = Path(__file__).resolve().parent.parent / "usage_cli" / "cli"
    for module in sorted(COMMAND_MODULES | {"_app"}):
        source = (cli / f"{module}.py").read_text(encoding="utf-8")
        assert "\nfrom __future__ import annotations\n" not in source, module
