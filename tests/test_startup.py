"""What start-up imports (no timings here: those live in benchmarks/)."""

from __future__ import annotations

import subprocess
import sys

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
        ["--help"],
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
