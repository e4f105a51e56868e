"""Shell completion: the committed scripts are current, and TAB really completes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from usage_cli.cli.completion import SHELLS, script

from .conftest import subprocess_env, usage_command

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_scripts_are_current(shell: str) -> None:
    committed = (ROOT / "completions" / f"usage.{shell}").read_text(encoding="utf-8")
    assert committed == script(shell), "run: python -m usage_cli.cli.completion completions/"


def bash_complete(line: str) -> list[str]:
    """Source completions/usage.bash in a real bash and press TAB at the end of `line`."""
    words = line.split(" ")
    program = f"""
source {ROOT / "completions" / "usage.bash"}
COMP_WORDS=({" ".join(repr(w) for w in words)})
COMP_CWORD={len(words) - 1}
_usage_completion usage
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    bin_dir = str(Path(usage_command()[0]).parent)
    env = subprocess_env()
    env["PATH"] = bin_dir + ":" + env.get("PATH", "")
    done = subprocess.run(
        ["bash", "-c", program], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_subcommands() -> None:
    assert sorted(bash_complete("usage ")) == [
        "check",
        "config",
        "export",
        "list",
        "prices",
        "sandbox",
        "schema",
        "summary",
        "sync",
        "verify",
    ]
    assert bash_complete("usage su") == ["summary"]
    assert bash_complete("usage sy") == ["sync"]


def test_bash_completes_flags_and_choices() -> None:
    assert bash_complete("usage list --bot") == ["--bot-id"]
    assert bash_complete("usage list --order ") == ["asc", "desc"]
    assert "--resume" in bash_complete("usage export audit.csv --")
    assert bash_complete("usage config s") == ["set", "show"]
    # A file's formats only: a table is for people, and export refuses it.
    assert bash_complete("usage export audit/ -o ") == ["json", "jsonl", "csv", "parquet"]
    assert "table" in bash_complete("usage list -o ")


def protocol(shell: str, line: str) -> str:
    env = subprocess_env(
        _USAGE_COMPLETE=f"complete_{shell}",
        _TYPER_COMPLETE_ARGS=line,
        _TYPER_COMPLETE_FISH_ACTION="get-args",
    )
    done = subprocess.run(usage_command(), capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_zsh_and_fish_answer_the_same_question() -> None:
    assert '"--format"' in protocol("zsh", "usage list --form")
    assert protocol("fish", "usage sum").startswith("summary\t")
    assert "--since" in protocol("fish", "usage summary --si")
