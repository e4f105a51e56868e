"""No file is written through a link another user planted, nor is theirs trusted (issue 27).

Each test plants what an attacker in a shared folder would (a link at a name
`usage` is about to create, a file of another user's at one it would reuse) and
checks the victim's file is untouched and the export or sync is whole, or refused
before any request. A same-user link is enough to prove a link is never followed;
files of "another user" are made by chown (the suite runs as root in CI).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from usage_cli._files import temporary_for
from usage_cli.errors import InputError
from usage_cli.sandbox import Sandbox

from .conftest import Result

SECRET = "the victim's own file\n"
NOBODY = 65534


def export(cli: Any, target: Path, *args: str, **runtime: Any) -> Result:
    return cli("export", str(target), *args, **runtime)  # type: ignore[no-any-return]


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file of the victim's that a planted link names."""
    path = tmp_path / "elsewhere" / "private.txt"
    path.parent.mkdir()
    path.write_text(SECRET)
    os.chmod(path, 0o600)
    return path


def plant(link: Path, victim: Path) -> None:
    link.symlink_to(victim)


def test_a_link_planted_at_the_partial_is_not_written_through(
    cli: Any, server: Sandbox, tmp_path: Path, victim: Path
) -> None:
    target = tmp_path / "usage.csv"
    plant(tmp_path / ".usage.csv.partial", victim)
    done = export(cli, target)
    assert done.code == 0, done.err
    assert victim.read_text() == SECRET
    assert target.is_file()
    assert not target.is_symlink()
    assert cli("verify", str(target)).code == 0


def test_a_link_planted_at_the_lock_is_refused_and_not_written_through(
    cli: Any, server: Sandbox, tmp_path: Path, victim: Path
) -> None:
    plant(tmp_path / ".usage.csv.lock", victim)
    done = export(cli, tmp_path / "usage.csv")
    assert done.code == 2
    assert "symbolic links" in done.err
    assert victim.read_text() == SECRET
    assert server.requests == []


def test_a_lock_another_user_made_is_refused(cli: Any, server: Sandbox, tmp_path: Path) -> None:
    lock = tmp_path / ".usage.csv.lock"
    lock.write_text("")
    os.chown(lock, NOBODY, NOBODY)
    done = export(cli, tmp_path / "usage.csv")
    assert done.code == 2
    assert "is another user's" in done.err
    assert server.requests == []


def test_a_link_planted_at_the_manifests_temporary_name_is_not_written_through(
    cli: Any, server: Sandbox, tmp_path: Path, victim: Path
) -> None:
    target = tmp_path / "usage.jsonl"
    # The in-process run writes its manifest through `NAME.<this pid>.tmp`.
    plant(temporary_for(tmp_path / "usage.jsonl.manifest.json"), victim)
    done = export(cli, target)
    assert done.code == 0, done.err
    assert victim.read_text() == SECRET
    manifest = tmp_path / "usage.jsonl.manifest.json"
    assert manifest.is_file()
    assert not manifest.is_symlink()
    assert oct(victim.stat().st_mode & 0o777) == oct(0o600)  # nor chmodded


def test_a_link_planted_at_the_configs_temporary_name_is_not_written_through(
    tmp_path: Path, victim: Path
) -> None:
    from .conftest import run_in_memory

    config = tmp_path / "config.toml"
    plant(temporary_for(config), victim)
    done = run_in_memory(
        ["config", "set", "token", "tok_secret_value"], env={"USAGE_CONFIG": str(config)}
    )
    assert done.code == 0, done.err
    assert victim.read_text() == SECRET
    assert "tok_secret_value" in config.read_text()


def interrupted(cli: Any, target: Path) -> None:
    from .conftest import FailAfter

    failed = export(cli, target, "--take", "20", transport=FailAfter(2))
    assert failed.code == 5, failed.err
    assert (target.parent / f".{target.name}.partial").exists()


@pytest.mark.parametrize("kept", ["partial", "checkpoint.json"])
def test_resume_refuses_a_partial_or_checkpoint_another_user_owns(
    cli: Any, server: Sandbox, tmp_path: Path, kept: str
) -> None:
    target = tmp_path / "usage.jsonl"
    interrupted(cli, target)
    os.chown(tmp_path / f".usage.jsonl.{kept}", NOBODY, NOBODY)
    server.requests.clear()
    done = export(cli, target, "--take", "20", "--resume")
    assert done.code == 2
    assert f".usage.jsonl.{kept} cannot be trusted" in done.err
    assert "another user's" in done.err
    assert server.requests == []


def test_resume_refuses_a_partial_others_may_write(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "usage.jsonl"
    interrupted(cli, target)
    os.chmod(tmp_path / ".usage.jsonl.partial", 0o666)
    done = export(cli, target, "--take", "20", "--resume")
    assert done.code == 2
    assert "writable by others" in done.err


def test_a_link_planted_at_the_partial_while_resuming_is_not_followed(
    cli: Any, server: Sandbox, tmp_path: Path, victim: Path
) -> None:
    target = tmp_path / "usage.jsonl"
    interrupted(cli, target)
    partial = tmp_path / ".usage.jsonl.partial"
    partial.unlink()
    plant(partial, victim)
    done = export(cli, target, "--take", "20", "--resume")
    assert done.code == 2
    assert victim.read_text() == SECRET


def test_links_planted_beside_a_partitioned_export_are_never_followed(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    victims = tmp_path / "victims"
    victims.mkdir()
    (victims / "keep.txt").write_text(SECRET)
    (tmp_path / ".out.partial").symlink_to(victims)  # where the set is built
    (tmp_path / ".out.old").symlink_to(victims)  # what a killed run left, "put back"
    # The next manifest and its signature, written beside the folder before it is in place.
    (tmp_path / ".out.manifest.json.pending").symlink_to(victims / "keep.txt")
    (tmp_path / ".out.manifest.json.pending.sig").symlink_to(victims / "keep.txt")
    done = cli("export", str(tmp_path / "out"), "--partition", "day")
    assert done.code == 0, done.err
    assert (victims / "keep.txt").read_text() == SECRET
    assert not (tmp_path / "out.manifest.json").is_symlink()
    assert sorted(path.name for path in victims.iterdir()) == ["keep.txt"]
    out = tmp_path / "out"
    assert out.is_dir()
    assert not out.is_symlink()
    assert cli("verify", str(out)).code == 0


def test_sync_refuses_an_archive_through_another_users_link(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    empty = tmp_path / "elsewhere.db"
    empty.write_bytes(b"")
    link = tmp_path / "usage.db"
    link.symlink_to(empty)
    os.lchown(link, NOBODY, NOBODY)
    done = cli("sync", "--db", str(link))
    assert done.code == 2
    assert "is a link another user owns" in done.err
    assert empty.read_bytes() == b""
    assert server.requests == []


def test_sync_refuses_a_link_to_nothing(cli: Any, server: Sandbox, tmp_path: Path) -> None:
    link = tmp_path / "usage.db"
    link.symlink_to(tmp_path / "nowhere" / "planted.db")
    done = cli("sync", "--db", str(link))
    assert done.code == 2
    assert "is a link to nothing" in done.err


# The token only where it is safe --------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://billing.example.com", "http://10.0.0.8:8080", "http://[2001:db8::1]/api"]
)
def test_plain_http_off_this_machine_is_refused_before_any_request(url: str) -> None:
    from .conftest import run_in_memory

    done = run_in_memory(["--api-url", url, "--token", "tok_x", "list"], env={})
    assert done.code == 2
    assert "is plain http to" in done.err
    assert "the token would cross the network unencrypted" in done.err
    assert "USAGE_ALLOW_HTTP=1" in done.err


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"])
def test_plain_http_on_this_machine_is_allowed(url: str) -> None:
    from .conftest import run_in_memory

    done = run_in_memory(["--api-url", url, "--token", "tok_x", "--retries", "0", "list"], env={})
    assert done.code == 5, done.err  # it tried: nothing listens there


def test_the_refusal_can_be_lifted_on_purpose() -> None:
    from usage_cli.client._urls import refuse_cleartext

    with pytest.raises(InputError):
        refuse_cleartext("http://billing.example.com", {})
    refuse_cleartext("http://billing.example.com", {"USAGE_ALLOW_HTTP": "1"})
    refuse_cleartext("https://billing.example.com", {})


def test_config_set_warns_of_plain_http_off_this_machine(tmp_path: Path) -> None:
    from .conftest import run_in_memory

    env = {"USAGE_CONFIG": str(tmp_path / "config.toml")}
    done = run_in_memory(["config", "set", "api_url", "http://billing.example.com"], env=env)
    assert done.code == 0
    assert "warning: http://billing.example.com is plain http to billing.example.com" in done.err
    local = run_in_memory(["config", "set", "api_url", "http://127.0.0.1:8080"], env=env)
    assert "warning" not in local.err


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://user:pw@api.example.com", "must not carry a user or password"),
        ("https://api.example.com/?token=abc", "no ?query or #fragment"),
    ],
)
def test_secrets_in_the_api_url_are_refused_and_never_shown(url: str, said: str) -> None:
    from .conftest import run_in_memory

    done = run_in_memory(["--api-url", url, "--token", "tok_x", "list"], env={})
    assert done.code == 2
    assert said in done.err
    assert "pw@" not in done.err
    assert "abc" not in done.err


# Bounded input: a hostile server on loopback --------------------------------------------


class Hostile:
    """A server on 127.0.0.1 that answers every list request with one fixed body."""

    def __init__(self, body: bytes, headers: dict[str, str]) -> None:
        import http.server
        import threading

        answer = (body, headers)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data, extra = answer
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def against(body: bytes, headers: dict[str, str] | None = None, **env: str) -> Result:
    from .conftest import run_in_memory

    hostile = Hostile(body, headers or {})
    try:
        words = ["--api-url", hostile.url, "--token", "tok_x", "--retries", "0", "list", "--all"]
        return run_in_memory(words, env=env)
    finally:
        hostile.close()


def test_a_decompression_bomb_is_cut_at_the_page_bound_and_memory_stays_flat() -> None:
    import gzip
    import resource

    # 64 MiB of one byte, about 64 KiB gzipped: over a 1 MiB bound after the first MiB.
    bomb = gzip.compress(b" " * (64 * 2**20), compresslevel=9)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    done = against(bomb, {"Content-Encoding": "gzip"}, USAGE_MAX_PAGE_MIB="1")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert done.code == 5, done.err
    assert "sent a page over 1 MiB (decoded); it was not read further" in done.err
    assert "USAGE_MAX_PAGE_MIB" in done.err
    assert grown_mib < 32  # the whole body would be 64 MiB


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"items":[' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "nested deeper than any page"),
        (b'{"items":[],"cursor":"' + b"x" * 9000 + b'"}', "a cursor of 9,000 characters"),
    ],
    ids=["deep nesting", "an 8 KiB cursor"],
)
def test_a_malformed_page_is_exit_5_in_one_line_never_a_crash(body: bytes, said: str) -> None:
    done = against(body)
    assert done.code == 5, done.err
    assert said in done.err
    assert "unexpected internal error" not in done.err


def test_a_bad_page_bound_is_exit_2() -> None:
    done = against(b'{"items":[]}', USAGE_MAX_PAGE_MIB="lots")
    assert done.code == 2
    assert "USAGE_MAX_PAGE_MIB='lots' is not a size in MiB" in done.err


# Escapes everywhere ------------------------------------------------------------------------


def test_check_markdown_escapes_what_the_api_sent() -> None:
    from usage_cli.sandbox.data import generate_records
    from usage_cli.sandbox.emulator import Emulator

    from .conftest import ANCHOR, run_in_memory

    records = generate_records(30, seed=3, anchor=ANCHOR)
    for record in records:
        record["botId"] = "bot\x1b]0;owned\x07\x1b[2J|x\nnext"
    api = Emulator(records, token="tok_x")
    words = ["--api-url", "http://127.0.0.1:9", "--token", "tok_x", "check", "--since", "3650d"]
    done = run_in_memory(
        [*words, "--by", "bot", "--max-count", "1", "-o", "markdown"], transport=api.transport()
    )
    assert done.code == 7, done.err
    assert "\x1b" not in done.out
    assert "\x07" not in done.out
    assert "bot\\\\x1b]0;owned\\\\x07\\\\x1b[2J\\|x\\\\nnext" in done.out
    assert len([line for line in done.out.splitlines() if line.startswith("| ❌")]) == 1


@pytest.mark.skipif(__import__("shutil").which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_a_principal_with_spaces_is_named_as_ssh_keygen_names_it(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    import subprocess

    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'"Jane Doe" {(tmp_path / "key.pub").read_text()}')
    target = tmp_path / "a.jsonl"
    assert export(cli, target, "--sign", str(key)).code == 0
    checked = cli("verify", str(target), "--signers", str(allowed))
    assert checked.code == 0, checked.err
    assert "signed by Jane Doe" in checked.out


def test_the_sandbox_closes_a_connection_left_idle() -> None:
    import socket
    import time

    with Sandbox(records=5, token="tok_x", idle_timeout=0.3) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as half:
            half.sendall(b"GET /api/v1/usage/list HTTP/1.1\r\n")  # and then nothing
            half.settimeout(10)
            started = time.monotonic()
            assert half.recv(1024) == b""  # closed by the sandbox, not by us
            assert time.monotonic() - started < 5


# Private by default ----------------------------------------------------------------------


def test_an_archive_and_its_log_are_the_users_alone(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    import stat

    old = os.umask(0o022)
    try:
        db = tmp_path / "usage.db"
        assert cli("sync", "--db", str(db), "-q").code == 0
    finally:
        os.umask(old)
    for path in [db, *tmp_path.glob("usage.db-*")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize(("mask", "published"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_a_partial_export_is_private_and_the_export_follows_the_umask(
    cli: Any, server: Sandbox, tmp_path: Path, mask: int, published: int
) -> None:
    import stat

    from .conftest import FailAfter

    target = tmp_path / "audit.jsonl"
    partial = tmp_path / ".audit.jsonl.partial"
    old = os.umask(mask)
    try:
        failed = cli("export", str(target), "--take", "10", transport=FailAfter(2))
        assert failed.code == 5, failed.err
        # The contract's state files are private whatever the umask.
        assert stat.S_IMODE(partial.stat().st_mode) == 0o600
        resumed = cli("export", str(target), "--take", "10", "--resume")
        assert resumed.code == 0, resumed.err
    finally:
        os.umask(old)
    assert not partial.exists()
    assert stat.S_IMODE(target.stat().st_mode) == published


def test_a_partial_an_older_version_left_readable_is_made_private_on_resume(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    import stat

    from .conftest import FailAfter

    target = tmp_path / "audit.jsonl"
    partial = tmp_path / ".audit.jsonl.partial"
    assert cli("export", str(target), "--take", "10", transport=FailAfter(2)).code == 5
    os.chmod(partial, 0o644)
    assert cli("export", str(target), "--take", "10", "--resume", transport=FailAfter(1)).code == 5
    assert stat.S_IMODE(partial.stat().st_mode) == 0o600


def test_the_default_archive_folder_is_private(server: Sandbox, tmp_path: Path) -> None:
    import stat

    from .conftest import TOKEN, run_in_memory

    data = tmp_path / "data"
    env = {"XDG_DATA_HOME": str(data), "HOME": str(tmp_path)}
    done = run_in_memory(["--api-url", server.url, "--token", TOKEN, "sync", "-q"], env=env)
    assert done.code == 0, done.err
    assert (data / "usage" / "archive.sqlite3").is_file()  # the run's HOME, not the process's
    folders = [path for path in data.rglob("*") if path.is_dir()]
    assert all(stat.S_IMODE(folder.stat().st_mode) == 0o700 for folder in folders)


def test_a_config_another_user_owns_is_not_used(tmp_path: Path) -> None:
    from .conftest import run_in_memory

    config = tmp_path / "config.toml"
    config.write_text('[profiles.default]\napi_url = "https://harvest.example.com"\n')
    os.chmod(config, 0o600)
    os.chown(config, NOBODY, NOBODY)
    done = run_in_memory(["--token", "tok_x", "list"], env={"USAGE_CONFIG": str(config)})
    assert done.code == 2
    assert "belongs to another user: it is not used" in done.err


# Proxies: a stand-in on loopback records what a proxy sees ------------------------


class StandInProxy:
    """An HTTP proxy on 127.0.0.1 that records each request's head and answers itself:
    an empty page for a plain request, 403 for a tunnel (CONNECT)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.seen: list[bytes] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with connection:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                self.seen.append(head)
                if head.startswith(b"CONNECT"):
                    connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                else:
                    body = b'{"items":[]}'
                    connection.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                    )

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        for spelling in (name, name.lower()):
            monkeypatch.delenv(spelling, raising=False)
    stand_in = StandInProxy()
    yield stand_in
    stand_in.close()


def test_a_proxy_sees_the_host_of_an_https_request_never_the_token(
    proxy: StandInProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .conftest import run_in_memory

    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    words = ["--api-url", "https://api.example.test", "--token", "tok_secret_x", "--retries", "0"]
    done = run_in_memory([*words, "list"], env={})
    assert done.code != 0  # the stand-in refuses the tunnel
    assert proxy.seen, "the request went through the proxy"
    assert all(head.startswith(b"CONNECT api.example.test:443 ") for head in proxy.seen)
    assert not any(b"tok_secret_x" in head for head in proxy.seen)


def test_a_proxy_of_plain_http_sees_the_token_which_is_why_it_is_refused(
    proxy: StandInProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .conftest import run_in_memory

    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    words = ["--api-url", "http://api.example.test", "--token", "tok_secret_x", "list"]
    refused = run_in_memory(words, env={})
    assert refused.code == 2
    assert proxy.seen == []
    lifted = run_in_memory(words, env={"USAGE_ALLOW_HTTP": "1"})
    assert lifted.code == 0, lifted.err
    assert b"Authorization: Bearer tok_secret_x" in proxy.seen[0].replace(
        b"authorization", b"Authorization"
    )


def test_no_proxy_is_honoured(proxy: StandInProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    from .conftest import run_in_memory

    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with Sandbox(records=3, token="tok_x") as server:
        done = run_in_memory(["--api-url", server.url, "--token", "tok_x", "list"], env={})
    assert done.code == 0, done.err
    assert proxy.seen == []


def test_the_umask_is_read_the_same_where_proc_cannot_tell_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import builtins

    from usage_cli import _files

    old = os.umask(0o027)
    try:
        assert _files.umask() == 0o027  # from /proc/self/status
        real_open = builtins.open

        def no_proc(file: Any, *args: Any, **kwargs: Any) -> Any:
            if str(file).startswith("/proc/"):
                raise FileNotFoundError(file)
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", no_proc)
        assert _files.umask() == 0o027
        assert os.umask(0o027) == 0o027  # and left as it was
    finally:
        os.umask(old)


def test_a_fifo_planted_in_a_partials_place_is_refused_not_waited_on(tmp_path: Path) -> None:
    from usage_cli._files import publish_mode

    planted = tmp_path / ".audit.jsonl.partial"
    os.mkfifo(planted)
    with pytest.raises(OSError, match="not what usage wrote there"):
        publish_mode(planted)
    link = tmp_path / ".linked.partial"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError, match="symbolic links"):  # ELOOP: O_NOFOLLOW
        publish_mode(link)
