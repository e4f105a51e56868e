"""Every `usage` command shown in the README runs, in order, against a sandbox.

Commands come from ```sh blocks (also after `&&`), `- run:` lines of ```yaml
blocks and ```crontab lines. A trailing `# exit N` comment names the expected
exit code (default 0). `usage sandbox` commands are started on a free port and
stopped once they serve; a `--follow` is sent Ctrl-C after two seconds. Other
lines (`export`, `pip install`, `cp`) set the scene and are not run: the test
provides that scene itself.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from usage_cli.sandbox import Sandbox

from .conftest import TOKEN, subprocess_env, usage_command

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")
EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")


def blocks() -> Iterator[tuple[str, list[str]]]:
    language: str | None = None
    lines: list[str] = []
    for line in README.read_text(encoding="utf-8").splitlines():
        fence = FENCE.match(line)
        if fence and language is None:
            language, lines = fence.group(1), []
        elif line.startswith("```") and language is not None:
            yield language, lines
            language = None
        elif language is not None:
            lines.append(line)


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


def commands() -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for language, lines in blocks():
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


COMMANDS = commands()


def test_the_readme_shows_every_command_of_the_tool() -> None:
    shown = {command.split()[1] for command, _ in COMMANDS if len(command.split()) > 1}
    expected = {"list", "export", "verify", "summary", "sandbox", "config", "sync", "check"}
    assert expected | {"prices"} <= shown


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    home = tmp_path_factory.mktemp("home")
    (home / ".cbk-token").write_text(TOKEN + "\n")
    (home / "audit").mkdir()
    # The audit-trail recipe's signing key and allowed signers, made as it says.
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "ci@example.com",
            "-f",
            str(home / "audit_key"),
        ],
        check=True,
    )
    public = (home / "audit_key.pub").read_text()
    (home / "allowed_signers").write_text(f"ci@example.com {public}")
    # The recipes' price file, and the page a GitHub job's summary goes to.
    (home / "contract-prices.toml").write_text(contract_prices(), encoding="utf-8")
    # The sandbox the README's `usage sandbox --spike 30` starts: bot_2 runs away.
    with Sandbox(records=500, token=TOKEN, spike=30) as server:
        env = subprocess_env(
            CHATBOTKIT_API_URL=server.url,
            CHATBOTKIT_API_TOKEN=TOKEN,
            HOME=str(home),
            USAGE_CONFIG=str(home / "config.toml"),
            GITHUB_STEP_SUMMARY=str(home / "step-summary.md"),
        )
        env["PATH"] = str(Path(usage_command()[0]).parent) + ":" + env["PATH"]
        yield home, env


def contract_prices() -> str:
    """The README's own example price file, as it shows it."""
    for language, lines in blocks():
        if language == "toml" and lines and lines[0] == "# contract-prices.toml":
            return "\n".join(lines) + "\n"
    raise AssertionError("the README shows no contract-prices.toml")


def run_sandbox(command: str, home: Path, env: dict[str, str]) -> int:
    command = re.sub(r"--port \d+", "--port 0", command)
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("export CHATBOTKIT_API_URL="):
            break
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    return process.returncode


@pytest.mark.parametrize(("command", "expected"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_readme_command(scene: tuple[Path, dict[str, str]], command: str, expected: int) -> None:
    home, env = scene
    if command.startswith("usage sandbox"):
        assert run_sandbox(command, home, env) == expected
        return
    if "--follow" in command.split() or "-f" in command.split():
        # A follow ends with Ctrl-C: send it after a moment, and expect its exit.
        command = f"timeout --preserve-status -s INT 2 {command}"
    # The exit of `usage` itself (first in a pipe); the pipe's last command, if it is
    # another, must succeed too.
    script = (
        f"{command}\n"
        'status=("${PIPESTATUS[@]}")\n'
        '[ "${#status[@]}" = 1 ] || [ "${status[-1]}" = 0 ] || exit 99\n'
        'exit "${status[0]}"'
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == expected, f"{command}\n{done.stderr}"
