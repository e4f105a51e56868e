"""Run the `usage` commands a doc shows, in order, against a sandbox: the docs tests' scene.

Each doc has its own test file (`test_docs_<name>.py`) and so its own scene, so that
pytest-xdist (`--dist loadfile`) spreads the docs over its workers rather than one
long file setting the suite's wall time; a long doc may be split by its sections
over several files (each names its `DOC` and `SECTIONS`), and `test_docs_facts`
checks that every command of every doc is run by exactly one of them.

Commands come from ```sh blocks (also after `&&`), `- run:` lines of ```yaml blocks
and ```crontab lines. A trailing `# exit N` comment names the expected exit code
(default 0). A command with no shell in it (no pipe, redirect, variable or `~`) runs
in-process, as `usage_cli.cli.run` (a follow's wait then ends it as Ctrl-C does);
one with a shell in it runs in bash with the installed `usage` (a follow in a pipe
is sent Ctrl-C once it has polled the scene's sandbox). `usage sandbox` commands
are started on a free port and stopped once they serve. Other lines (`export`,
`pip install`, `cp`) set the scene and are not run: the scene provides it (a token
file, an `audit/` folder, an SSH signing key and its allowed signers, the docs'
`contract-prices.toml`, a `$GITHUB_STEP_SUMMARY` file, and a sandbox with a spike).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from usage_cli.cli import run as run_usage
from usage_cli.runtime import Runtime, written
from usage_cli.sandbox import Sandbox

from .conftest import TOKEN, stopped, subprocess_env, usage_command

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(\w*)\s*$")
EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


def doc_files() -> list[Path]:
    """Every doc whose commands are tested: the README, docs/, CONTRIBUTING, benchmarks."""
    found = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "benchmarks" / "README.md"]
    found += sorted((ROOT / "docs").glob("*.md"))
    return [path for path in found if path.exists()]


def blocks(doc: Path, sections: Collection[str] | None = None) -> Iterator[tuple[str, list[str]]]:
    """Each fenced block of `doc` as (language, lines); only under `sections` if given.

    A block is under a section when one of the headings above it (`## Recipes`, or
    `### A jq pipeline` within it) has that title.
    """
    language: str | None = None
    lines: list[str] = []
    headings: dict[int, str] = {}
    for line in doc.read_text(encoding="utf-8").splitlines():
        fence = FENCE.match(line.strip())
        if fence and language is None:
            language, lines = fence.group(1), []
        elif line.strip().startswith("```") and language is not None:
            if sections is None or set(headings.values()) & set(sections):
                yield language, lines
            language = None
        elif language is not None:
            lines.append(line)
        elif heading := HEADING.match(line):
            level = len(heading.group(1))
            headings = {k: v for k, v in headings.items() if k < level}
            headings[level] = heading.group(2).strip()


def logical_lines(lines: list[str]) -> Iterator[str]:
    buffer = ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        yield buffer + line
        buffer = ""


def strip_comment(line: str) -> tuple[str, int]:
    expected = EXIT.search(line)
    code = int(expected.group(1)) if expected else 0
    command = re.split(r"\s{2,}#|^\s*#", line)[0].strip()
    return command, code


def commands(doc: Path, sections: Collection[str] | None = None) -> list[tuple[str, int]]:
    """The `usage` commands `doc` shows (under `sections`), in order, each with its exit."""
    found: list[tuple[str, int]] = []
    for language, lines in blocks(doc, sections):
        for line in logical_lines(lines):
            if language == "sh":
                command, code = strip_comment(line)
                for part in command.split(" && "):
                    if part.startswith("usage ") or part == "usage":
                        found.append((part, code))
            elif language == "yaml":
                match = re.match(r"\s*-?\s*(?:run|script):\s*(usage .*)$", line) or re.match(
                    r"\s*-\s+(usage .*)$", line
                )
                if match:
                    found.append(strip_comment(match.group(1)))
            elif language == "crontab" and line.strip() and not line.lstrip().startswith("#"):
                fields = line.split(maxsplit=5)
                found.append((fields[5].replace("\\%", "%"), 0))
    return found


def doc_tests(
    name: str, sections: Collection[str] | None = None
) -> tuple[list[tuple[str, int]], Any, Any]:
    """A test file's whole body: its commands, its scene fixture and the test that runs them.

    `COMMANDS, here, test_command = doc_tests(DOC)` in a module gives pytest a
    module-scoped scene (`here`) and one test per command, in the order the doc shows;
    `name` is the doc's path in the repository, `sections` its headings to take.
    """
    found = commands(ROOT / name, sections)
    assert found, f"{name} {sections or ''} shows no `usage` command: it needs no test file"

    @pytest.fixture(scope="module")
    def here(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
        yield from scene(tmp_path_factory.mktemp("home"))

    @pytest.mark.parametrize(("command", "expected"), found, ids=[c for c, _ in found])
    def test_command(here: Scene, command: str, expected: int) -> None:
        run(here, command, expected)

    return found, here, test_command


def contract_prices() -> str:
    """The docs' own example price file, as they show it."""
    for doc in doc_files():
        for language, lines in blocks(doc):
            if language == "toml" and lines and lines[0] == "# contract-prices.toml":
                return "\n".join(lines) + "\n"
    raise AssertionError("no doc shows a contract-prices.toml")


@dataclass(frozen=True)
class Scene:
    home: Path
    env: dict[str, str]
    # The sandbox the scene's commands read (CHATBOTKIT_API_URL).
    server: Sandbox


def scene(home: Path) -> Iterator[Scene]:
    """The scene every doc's commands run in, in the folder `home` (also $HOME)."""
    (home / ".cbk-token").write_text(TOKEN + "\n")
    (home / "audit").mkdir()
    # The audit-trail recipe's signing key and allowed signers, made as it says.
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci@example.com", "-f", "audit_key"],
        cwd=home,
        check=True,
    )
    public = (home / "audit_key.pub").read_text()
    (home / "allowed_signers").write_text(f"ci@example.com {public}")
    # The recipes' price file, and the page a GitHub job's summary goes to.
    (home / "contract-prices.toml").write_text(contract_prices(), encoding="utf-8")
    # The sandbox the docs' `usage sandbox --spike 30` starts: bot_2 runs away.
    with Sandbox(records=500, token=TOKEN, spike=30) as server:
        env = subprocess_env(
            CHATBOTKIT_API_URL=server.url,
            CHATBOTKIT_API_TOKEN=TOKEN,
            HOME=str(home),
            USAGE_CONFIG=str(home / "config.toml"),
            GITHUB_STEP_SUMMARY=str(home / "step-summary.md"),
        )
        env["PATH"] = str(Path(usage_command()[0]).parent) + ":" + env["PATH"]
        yield Scene(home, env, server)


def run_sandbox(command: str, where: Scene) -> int:
    command = re.sub(r"--port \d+", "--port 0", command)
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=where.home,
        env=where.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("export CHATBOTKIT_API_URL="):
            break
    stopped(process, signal.SIGTERM)
    return process.returncode


# What only a shell can run: pipes, redirects, `&&`, variables, `~`, globs, `$(...)`.
SHELL = re.compile(r"[|&;<>$`~*?(){}\\]")


class _Interrupt:
    """A follow's wait between polls, ended as Ctrl-C ends it: after its first poll."""

    def __call__(self, seconds: float) -> None:
        raise KeyboardInterrupt


def run_in_place(where: Scene, command: str) -> tuple[int, str]:
    """A command with no shell in it, in this process: its exit code and stderr.

    What costs a subprocess is Python's start-up, which the installed command's own
    tests (test_subprocess and others) cover. The process's own environment is the
    scene's while it runs, as a subprocess's would be: libraries read `os.environ`
    (platformdirs for the default archive, ssh-keygen's), and the developer's real
    home must never be written.
    """
    words = shlex.split(command, comments=True)[1:]
    follow = "--follow" in words or "-f" in words
    runtime = Runtime.memory(env=where.env, sleep=_Interrupt() if follow else None)
    with contextlib.chdir(where.home), mock.patch.dict(os.environ, where.env, clear=True):
        code = run_usage(words, runtime=runtime)
    return code, written(runtime.stderr)


def run(where: Scene, command: str, expected: int) -> None:
    """Run `command` in the scene; assert its exit code (and that a pipe's end succeeds)."""
    if command.startswith("usage sandbox"):
        assert run_sandbox(command, where) == expected
        return
    if not SHELL.search(command):
        code, said = run_in_place(where, command)
        assert code == expected, f"{command}\n{said}"
        return
    # The exit of `usage` itself (first in a pipe); the pipe's last command, if it is
    # another, must succeed too.
    script = (
        f"{command}\n"
        'status=("${PIPESTATUS[@]}")\n'
        '[ "${#status[@]}" = 1 ] || [ "${status[-1]}" = 0 ] || exit 99\n'
        'exit "${status[0]}"'
    )
    if {"--follow", "-f"} & set(command.split("|")[0].split()):
        returncode, stderr = _follow_in_shell(where, script)
        assert returncode == expected, f"{command}\n{stderr}"
        return
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=where.home,
        env=where.env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == expected, f"{command}\n{done.stderr}"


def _follow_in_shell(where: Scene, script: str) -> tuple[int, str]:
    """A follow in a pipe, ended as Ctrl-C ends it once it is following: once the
    scene's sandbox has had its first poll, SIGINT to `usage` alone, by its PID (in a
    terminal the pipe's other commands would get it too, and end 130). Not after a
    fixed moment: on a busy machine `usage` may still be starting then, and a SIGINT
    before the follow begins is no follow's end. The bounds only end a hang."""
    polls = len(where.server.requests)
    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=where.home,
        env=where.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while len(where.server.requests) == polls and process.poll() is None:
            assert time.monotonic() < deadline, "the follow never polled"
            time.sleep(0.05)
        if process.poll() is None:
            os.kill(_usage_child(process.pid), signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        return process.returncode, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _usage_child(pid: int) -> int:
    """The PID of the `usage` process the shell `pid` started (a pipe's first command)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        words = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        if any(Path(word.decode()).name == "usage" for word in words if word):
            return int(child)
    raise AssertionError(f"no usage process under the shell {pid}: {children}")
