"""Profiles: `usage config set|show|list`, precedence, and file permissions."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from usage_cli.cli import run
from usage_cli.config import load, mask, render
from usage_cli.runtime import Runtime
from usage_cli.sandbox import Sandbox

from .conftest import TOKEN, subprocess_env, usage_command


@pytest.fixture
def config_file() -> Path:
    return Path(os.environ["USAGE_CONFIG"])


def set_value(*args: str, stdin: str = "", argv: tuple[str, ...] = ()) -> int:
    """`usage config set ARGS` in-process, reading `stdin`; stdout and stderr as captured."""
    runtime = replace(Runtime.system(), stdin=io.StringIO(stdin), argv=argv)
    return run(["config", "set", *args], runtime=runtime)


def test_set_token_from_stdin_writes_a_private_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], config_file: Path
) -> None:
    assert set_value("token", stdin=TOKEN + "\n") == 0
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert mask(TOKEN) in err
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert load(config_file) == {"default": {"token": TOKEN}}


def test_a_new_config_directory_is_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    nested = tmp_path / "fresh" / "usage" / "config.toml"
    monkeypatch.setenv("USAGE_CONFIG", str(nested))
    assert set_value("run_as", "u1") == 0
    assert stat.S_IMODE(nested.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(nested.stat().st_mode) == 0o600


def test_a_token_in_argv_is_accepted_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], config_file: Path
) -> None:
    assert set_value("token", TOKEN, argv=("usage", "config", "set", "token", TOKEN)) == 0
    err = capsys.readouterr().err
    assert "shows in `ps`" in err
    assert TOKEN not in err


def test_list_reads_token_and_api_url_from_the_profile(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], server: Sandbox
) -> None:
    assert set_value("token", stdin=TOKEN) == 0
    assert set_value("api-url", server.url) == 0
    assert set_value("run_as", "user_7") == 0
    capsys.readouterr()
    assert run(["list", "--limit", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert server.requests[0].authorized
    assert server.requests[0].run_as == "user_7"


def test_flags_and_environment_beat_the_profile(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], server: Sandbox
) -> None:
    assert set_value("token", stdin="profile-token-wrong") == 0
    assert set_value("api_url", "http://127.0.0.1:9") == 0
    monkeypatch.setenv("CHATBOTKIT_API_TOKEN", TOKEN)
    assert run(["list", "--limit", "1", "--api-url", server.url]) == 0
    assert server.requests[0].authorized
    capsys.readouterr()
    assert run(["config", "show", "--api-url", server.url]) == 0
    out = capsys.readouterr().out
    assert "# environment CHATBOTKIT_API_TOKEN" in out
    assert "# --api-url" in out
    assert TOKEN not in out
    assert mask(TOKEN) in out


def test_named_profiles_by_flag_and_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], server: Sandbox
) -> None:
    assert set_value("api_url", server.url, "--profile", "local") == 0
    assert set_value("token", "--profile", "local", stdin=TOKEN) == 0
    assert run(["--profile", "local", "list", "--limit", "1", "-q"]) == 0
    monkeypatch.setenv("USAGE_PROFILE", "local")
    assert run(["list", "--limit", "1", "-q"]) == 0
    assert len(server.requests) == 2
    capsys.readouterr()
    assert run(["config", "list"]) == 0
    assert capsys.readouterr().out == "local\ttoken, api_url\n"


def test_a_missing_profile_is_bad_input(
    capsys: pytest.CaptureFixture[str], server: Sandbox
) -> None:
    assert run(["list", "--profile", "nope", "--token", TOKEN, "--api-url", server.url]) == 2
    assert "no profile 'nope'" in capsys.readouterr().err
    assert server.requests == []


def test_a_world_readable_token_is_refused_then_only_flagged(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    config_file: Path,
    server: Sandbox,
) -> None:
    assert set_value("token", stdin=TOKEN) == 0
    assert set_value("api_url", server.url) == 0
    config_file.chmod(0o644)
    capsys.readouterr()
    assert run(["list"]) == 2
    err = capsys.readouterr().err
    assert "permissions 0644" in err
    assert f"chmod 600 {config_file}" in err
    assert server.requests == []
    monkeypatch.setenv("CHATBOTKIT_API_TOKEN", TOKEN)
    assert run(["list", "--limit", "1"]) == 0
    assert "warning: permissions 0644" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [["list", "--demo", "--limit", "1"], ["config", "show"], ["summary", "--demo", "--by", "type"]],
)
def test_a_world_readable_token_blocks_only_what_would_send_it(
    capsys: pytest.CaptureFixture[str], config_file: Path, server: Sandbox, args: list[str]
) -> None:
    assert set_value("token", stdin=TOKEN) == 0
    assert set_value("api_url", server.url) == 0
    config_file.chmod(0o644)
    capsys.readouterr()
    assert run(args) == 0
    out, err = capsys.readouterr()
    assert "warning: permissions 0644" in err
    assert f"chmod 600 {config_file}" in err
    if args[0] == "config":
        assert "(not used: its file is open to others)" in out
    assert TOKEN not in err
    assert server.requests == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["nonsense", "x"], "unknown setting"),
        (["api_url", "not-a-url"], "not an http"),
        (["token", "--profile", "bad name"], "profile name"),
        (["run_as"], "no value given"),
    ],
)
def test_bad_config_input(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    config_file: Path,
    args: list[str],
    fragment: str,
) -> None:
    assert set_value(*args) == 2
    assert fragment in capsys.readouterr().err
    assert not config_file.exists()


def test_a_broken_config_file_is_reported(
    capsys: pytest.CaptureFixture[str], config_file: Path
) -> None:
    config_file.write_text("[profiles.default\ntoken = ")
    config_file.chmod(0o600)
    assert run(["list"]) == 2
    assert "cannot read the config file" in capsys.readouterr().err


def test_values_round_trip_through_toml(config_file: Path) -> None:
    from usage_cli.config import save

    awkward = {"default": {"token": 'a"b\\c\nd', "run_as": "ünï ☃", "api_url": "http://x/#[]"}}
    save(config_file, awkward)
    assert load(config_file) == awkward
    assert render(awkward).count("[profiles.default]") == 1


def test_mask_never_shows_a_short_token() -> None:
    assert mask("short") == "********"
    assert mask("tok_0123456789abcdef").endswith("cdef")
    assert "0123" not in mask("tok_0123456789abcdef")


def test_token_stdin_through_the_installed_command(server: Sandbox) -> None:
    env = subprocess_env(CHATBOTKIT_API_URL=server.url)
    done = subprocess.run(
        [*usage_command(), "list", "--limit", "3", "--token-stdin"],
        input=TOKEN + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 3
    assert TOKEN not in done.stderr


def test_concurrent_config_writes_never_collide(config_file: Path) -> None:
    """Each writer has its own temporary file: the last rename wins, whole."""
    writers = [
        subprocess.Popen(
            [*usage_command(), "config", "set", "run_as", f"user_{n}"],
            env=subprocess_env(USAGE_CONFIG=str(config_file)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(6)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
    assert load(config_file)["default"]["run_as"] in {f"user_{n}" for n in range(6)}
    assert [path.name for path in config_file.parent.iterdir()] == [config_file.name]


def test_a_password_in_the_api_url_is_refused_and_never_shown(
    capsys: pytest.CaptureFixture[str], config_file: Path
) -> None:
    # Kept, it would reach the manifest, the archive and --debug, and httpx would send
    # it as Basic auth in place of the token.
    url = "http://user:s3cretpw@127.0.0.1:9"
    assert set_value("api_url", url) == 2
    assert run(["--api-url", url, "--token", TOKEN, "--retries", "0", "list"]) == 2
    captured = capsys.readouterr()
    assert "s3cretpw" not in captured.out + captured.err
    assert "--api-url must not carry a user or password" in captured.err
    assert not config_file.exists() or "s3cretpw" not in config_file.read_text()


def test_unset_removes_a_value_and_a_second_unset_is_no_failure(
    capsys: pytest.CaptureFixture[str], config_file: Path
) -> None:
    assert set_value("run_as", "u1") == 0
    assert set_value("tz", "Europe/Berlin") == 0
    assert run(["config", "unset", "run-as"]) == 0
    assert load(config_file) == {"default": {"tz": "Europe/Berlin"}}
    capsys.readouterr()
    assert run(["config", "unset", "run_as"]) == 0
    assert "profile 'default' has no run_as; nothing to unset" in capsys.readouterr().err
    assert load(config_file) == {"default": {"tz": "Europe/Berlin"}}
    assert run(["config", "unset", "colour"]) == 2  # a key that is no setting still is


def test_a_bad_zone_in_config_set_names_the_setting_not_a_flag(
    capsys: pytest.CaptureFixture[str], config_file: Path
) -> None:
    assert set_value("tz", "Mars/Olympus") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: tz: unknown time zone 'Mars/Olympus'")
    assert "--tz" not in err.splitlines()[0]


def test_an_empty_token_stdin_is_no_token_exit_3(server: Sandbox) -> None:
    from .conftest import run_in_memory

    done = run_in_memory(["--api-url", server.url, "--token-stdin", "list"], stdin="\n")
    assert done.code == 3
    assert "standard input held no token" in done.err
    assert server.requests == []


def test_a_config_whose_folder_cannot_be_searched_is_gone_on_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after `sudo -u other usage ...` with HOME still the first user's: a warning, as
    git gives, and the run goes on; a --profile that needs the file is refused. (The
    suite runs as root, whom no folder refuses: the file system's answer is stood in.)"""
    from .conftest import run_in_memory

    config = tmp_path / "home" / ".config" / "usage" / "config.toml"
    real_exists = Path.exists

    def refused(path: Path, **kwargs: bool) -> bool:
        if path == config:
            raise PermissionError(13, "Permission denied", str(path))
        return real_exists(path, **kwargs)

    monkeypatch.setattr(Path, "exists", refused)
    env = {"USAGE_CONFIG": str(config)}
    done = run_in_memory(["list", "--demo", "--limit", "1", "-o", "jsonl"], env=env)
    assert done.code == 0, done.err
    assert f"warning: cannot look for the config file '{config}': permission denied" in done.err
    assert done.out.count("\n") == 1
    named = run_in_memory(["--profile", "work", "list", "--demo"], env=env)
    assert named.code == 2
    assert "cannot look for the config file" in named.err
