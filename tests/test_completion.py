"""Shell completion: the committed scripts are current, and TAB really completes.

Each installed shell (bash, zsh, fish) loads the committed script and completes
a command line. `usage` on the PATH is a stand-in that notes each call: a TAB
for a command, a flag or a fixed value must not start it (no Python at TAB);
only `--profile` asks it, for the profiles of the user's config file.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from usage_cli import config
from usage_cli.cli.completion import SHELLS, script, spec
from usage_cli.summary import DIMENSIONS

from .conftest import subprocess_env, usage_command

ROOT = Path(__file__).resolve().parent.parent
INSTALLED = [shell for shell in SHELLS if shutil.which(shell)]


# The zone names are this machine's zone database's (tzdata releases add and drop
# some): the rest of a script must be current, the zones need only be plausible.
ZONE_LINES = re.compile(r"^_usage_(zones|regions)=.*$", re.MULTILINE)


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_scripts_are_current(shell: str) -> None:
    committed = (ROOT / "completions" / f"usage.{shell}").read_text(encoding="utf-8")
    current = script(shell)
    assert ZONE_LINES.sub("", committed) == ZONE_LINES.sub("", current), (
        "run: python -m usage_cli.cli.completion completions/"
    )
    zones = next(m[0] for m in ZONE_LINES.finditer(committed) if "_zones=" in m[0]).split()
    assert {"Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "local"} <= {
        zone.strip("'\\").split("=")[-1].strip("'\\") for zone in zones
    }


def test_bash_is_installed() -> None:
    # The one shell every test machine has; zsh and fish are tested where installed
    # (CI installs them).
    assert "bash" in INSTALLED


FAKE_USAGE = """#!/bin/sh
echo "$*" >> "$USAGE_CALLS"
if [ "$1 $2" = "config list" ]; then
    printf 'default\\ttoken\\nwork\\tapi_url, tz\\n'
fi
"""


def _bash_words(words: list[str]) -> list[str]:
    """`words` as bash's COMP_WORDS holds them: `--tz=Eur` is `--tz`, `=`, `Eur`."""
    split: list[str] = []
    for word in words:
        if word.startswith("-") and "=" in word:
            name, value = word.split("=", 1)
            split += [name, "=", value] if value else [name, "="]
        else:
            split.append(word)
    return split


def _program(shell: str, words: list[str]) -> list[str]:
    path = ROOT / "completions" / f"usage.{shell}"
    if shell == "bash":
        split = _bash_words(words)
        body = f"""source {path}
COMP_WORDS=({" ".join(shlex.quote(w) for w in split)})
COMP_CWORD={len(split) - 1}
_usage_completion usage
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
        return ["bash", "--norc", "--noprofile", "-c", body]
    if shell == "zsh":
        # compadd and _files record what the script hands them (no terminal here).
        body = f"""compdef() {{ : }}
source {path}
compadd() {{ while [[ $1 != -- ]]; do shift; done; shift; print -rl -- "$@" }}
_files() {{ print -r -- '<files>' }}
words=({" ".join(shlex.quote(w) for w in words)})
CURRENT={len(words)}
_usage
"""
        return ["zsh", "-f", "-c", body]
    line = " ".join(words)
    return ["fish", "--no-config", "-c", f"source {path}; complete -C {shlex.quote(line)}"]


def complete(shell: str, line: str, tmp_path: Path) -> tuple[list[str], list[str]]:
    """The candidates `shell` offers at the end of `line`, and the `usage` calls made."""
    words = line.split(" ")
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "usage").write_text(FAKE_USAGE)
    (fake / "usage").chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    env = subprocess_env(PATH=f"{fake}:/usr/bin:/bin", USAGE_CALLS=str(calls))
    done = subprocess.run(
        _program(shell, words), capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    candidates = [row.split("\t")[0] for row in done.stdout.splitlines() if row]
    return candidates, calls.read_text().splitlines()


def bash_complete(line: str) -> list[str]:
    """What bash offers at the end of `line` (for other test files)."""
    with tempfile.TemporaryDirectory() as directory:
        return complete("bash", line, Path(directory))[0]


# Command lines whose TAB is answered from the script alone.
COMMANDS = [
    "check",
    "config",
    "export",
    "list",
    "prices",
    "report",
    "sandbox",
    "schema",
    "summary",
    "sync",
    "verify",
]
STATIC = [
    ("usage ", COMMANDS),
    ("usage su", ["summary"]),
    ("usage sy", ["sync"]),
    ("usage list --bot", ["--bot-id"]),
    ("usage list --order ", ["asc", "desc"]),
    ("usage config s", ["set", "show"]),
    # A file's formats only: a table is for people, and export refuses it.
    ("usage export audit/ -o ", ["csv", "json", "jsonl", "parquet"]),
    ("usage list -o t", ["table"]),
    ("usage export audit/ --partition ", ["day", "month"]),
    ("usage summary --by ", sorted([*DIMENSIONS, "meta."])),
    ("usage summary --by w", ["week"]),
    # A check measures one window: no time buckets.
    ("usage check --by m", ["message", "meta."]),
    ("usage check --by h", []),
    ("usage list --type CHATBOTKIT_T", ["CHATBOTKIT_TASK_RUN"]),
    ("usage summary --type OPENAI_GPT_4O_M", ["OPENAI_GPT_4O_MINI_TOKEN"]),
    ("usage prices ANTHROPIC", ["ANTHROPIC_CLAUDE_SONNET_4_TOKEN"]),
    ("usage list --tz Europe/Be", ["Europe/Belfast", "Europe/Belgrade", "Europe/Berlin"]),
    ("usage --tz UT", ["UTC"]),
    ("usage list --columns id,ty", ["id,type"]),
    ("usage list --columns bot", ["botId"]),
    ("usage summary --compare ", ["previous"]),
    ("usage export audit/ --window ", ["day", "hour", "month"]),
    ("usage report r.html --window m", ["month"]),
    ("usage config set ", sorted(config.KEYS)),
    ("usage config unset api", ["api_url"]),
    ("usage config set tz Europe/Berl", ["Europe/Berlin"]),
    # The global flags, after the command name too.
    ("usage list --ti", ["--timeout"]),
    ("usage summary --no-c", ["--no-color"]),
    ("usage --profile work list --bo", ["--bot-id"]),
    # A bare --db takes no flag as its archive.
    ("usage list --db --or", ["--order"]),
    ("usage export audit.csv --res", ["--resume"]),
]


@pytest.mark.parametrize("shell", INSTALLED)
@pytest.mark.parametrize(("line", "expected"), STATIC, ids=[line for line, _ in STATIC])
def test_static_completion_runs_no_usage(
    shell: str, line: str, expected: list[str], tmp_path: Path
) -> None:
    candidates, calls = complete(shell, line, tmp_path)
    assert sorted(candidates) == sorted(expected)
    assert calls == []


@pytest.mark.parametrize("shell", INSTALLED)
def test_zones_complete_by_region_first(shell: str, tmp_path: Path) -> None:
    candidates, calls = complete(shell, "usage list --tz ", tmp_path)
    assert {"Europe/", "America/", "UTC", "local"} <= set(candidates)
    assert not [zone for zone in candidates if "/" in zone.rstrip("/")]
    assert calls == []


@pytest.mark.parametrize("shell", INSTALLED)
def test_an_option_written_with_equals(shell: str, tmp_path: Path) -> None:
    candidates, _ = complete(shell, "usage summary --tz=Europe/Berl", tmp_path)
    # bash replaces only what follows the `=`; zsh and fish the whole word.
    assert candidates == (["Europe/Berlin"] if shell == "bash" else ["--tz=Europe/Berlin"])


@pytest.mark.parametrize("shell", INSTALLED)
def test_flags_are_the_commands_own(shell: str, tmp_path: Path) -> None:
    candidates, _ = complete(shell, "usage export audit.csv --", tmp_path)
    assert {"--resume", "--partition", "--tz"} <= set(candidates)
    assert "--follow" not in candidates  # list's
    assert "--streams" not in candidates  # hidden


@pytest.mark.parametrize("shell", INSTALLED)
def test_profiles_are_asked_of_usage(shell: str, tmp_path: Path) -> None:
    candidates, calls = complete(shell, "usage list --profile ", tmp_path)
    assert candidates == ["default", "work"]
    assert calls == ["config list"]


@pytest.mark.parametrize("shell", INSTALLED)
def test_paths_are_the_shells(shell: str, tmp_path: Path) -> None:
    (tmp_path / "audit.csv").write_text("")
    candidates, calls = complete(shell, "usage verify aud", tmp_path)
    if shell == "bash":
        # An empty reply and `compopt -o default`: bash completes the file name itself.
        assert candidates == []
    elif shell == "zsh":
        assert candidates == ["<files>"]
    else:
        assert candidates == ["audit.csv"]
    assert calls == []


def core(line: str) -> list[str]:
    """The shared core's answer in bash: the mode line, then the candidates."""
    program = f"""source {ROOT / "completions" / "usage.bash"}
_usage_candidates {" ".join(shlex.quote(w) for w in line.split(" ")[1:])}
"""
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_modes_the_shells_act_on() -> None:
    assert core("usage verify aud") == ["f"]
    assert core("usage export out.csv --prices ")[0] == "f"
    assert core("usage config set prices ")[0] == "f"
    # No space after a zone's region, nor inside a list of columns.
    assert core("usage list --tz Eur") == ["n", "Europe/"]
    assert core("usage list --columns id,ty") == ["n", "id,type"]
    assert core("usage list --order a") == ["w", "asc"]
    assert core("usage list --since ") == ["w"]


def test_the_real_usage_lists_profiles(tmp_path: Path) -> None:
    """The one dynamic case, end to end: the installed `usage` reads the config file."""
    env = subprocess_env(USAGE_CONFIG=str(tmp_path / "config.toml"))
    for profile in ("work", "home"):
        subprocess.run(
            [*usage_command(), "--profile", profile, "config", "set", "tz", "UTC"],
            check=True,
            env=env,
            capture_output=True,
            timeout=60,
        )
    env["PATH"] = str(Path(usage_command()[0]).parent) + ":/usr/bin:/bin"
    program = f"""source {ROOT / "completions" / "usage.bash"}
COMP_WORDS=(usage list --profile w); COMP_CWORD=3
_usage_completion usage
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, env=env)
    assert done.stdout.splitlines() == ["work"]


def test_every_command_and_flag_is_in_the_scripts() -> None:
    built = spec()
    assert sorted(built.commands) == COMMANDS
    assert built.groups == {"config": ["set", "unset", "show", "list"]}
    bash = script("bash")
    for flags in built.flags.values():
        for flag in flags:
            assert f" {flag} " in bash.replace("'", " ")


def protocol(shell: str, line: str) -> str:
    env = subprocess_env(
        _USAGE_COMPLETE=f"complete_{shell}",
        _TYPER_COMPLETE_ARGS=line,
        _TYPER_COMPLETE_FISH_ACTION="get-args",
    )
    done = subprocess.run(usage_command(), capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_typers_protocol_still_answers() -> None:
    """Scripts generated before the lists were baked in run `usage` at TAB: still answered."""
    assert '"--format"' in protocol("zsh", "usage list --form")
    assert protocol("fish", "usage sum").startswith("summary\t")
    assert "--since" in protocol("fish", "usage summary --si")


@pytest.mark.skipif("zsh" not in INSTALLED, reason="zsh is not installed")
def test_zsh_finds_it_on_fpath(tmp_path: Path) -> None:
    """Installed as the README says: `_usage` on $fpath, found by compinit."""
    (tmp_path / "_usage").write_text((ROOT / "completions" / "usage.zsh").read_text())
    body = f"""fpath=({tmp_path} $fpath); autoload -U compinit; compinit -u -D -d {tmp_path}/dump
print -r -- "$_comps[usage]"
compadd() {{ while [[ $1 != -- ]]; do shift; done; shift; print -rl -- "$@" }}
words=(usage list --order ''); CURRENT=4
_usage
"""
    done = subprocess.run(["zsh", "-f", "-c", body], capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines() == ["_usage", "asc", "desc"], done.stderr
