"""The bytes of a fixed sandbox export, pinned by sha256, in every format.

Performance work on the export path must not change a single output byte:
any change to how records are parsed, validated, formatted or written shows
up here as a different hash. The data mixes every shape the sandbox makes
(unknown fields, nested meta, nulls, a lone surrogate and escape sequences),
over several pages, so page joins and the slow serialisation path are in it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import run_in_memory
from usage_cli.sandbox import Sandbox

TOKEN = "tok_bytes"
ANCHOR = datetime(2026, 3, 1, tzinfo=UTC)

# name -> (extra arguments, sha256 of the exported file). With --exact: the bytes every
# version wrote before lone surrogates were mended by default.
FILES: dict[str, tuple[tuple[str, ...], str]] = {
    "out.jsonl": (("--exact",), "d3e96ec23bc5d8e52fa78627892d3a65ca71180053842ca51fd6ee052cac9aaa"),
    "out.json": (("--exact",), "2819c1b0e75615c6411222f5e4857351c6ff5f56ca429bb64065aaba539a9210"),
    "out.csv": (("--exact",), "1c4acc263b0315c04a5cafed95bea6788216d5e4c2338f41375db5d0d96dc7db"),
    "out.jsonl.gz": (
        ("--exact",),
        "3f37f0821886a82f74066825afb2948da464ae10df6c18d9ed250b31206358d0",
    ),
    "out.json.gz": (
        ("--exact",),
        "8c1777f411a8d608f2f0012abbe08eb807c5a6a81e522ea49060a94e765fd716",
    ),
    "out.csv.gz": (
        ("--exact",),
        "f087bd515d8792744fa1d33560383965c47b300940e166c4efd1c83f2de2ce0a",
    ),
    "asc.jsonl": (
        ("--order", "asc", "--take", "37", "--exact"),
        "ce8a138945a1ff8c2148d443ad34cf07c22cec81db1cd1765a2da825ab48ab93",
    ),
    "cost.csv": (
        ("--cost", "--exact"),
        "0e24c3c35edf96fc5bab8bc9b670f407b09f93d54f986cb517d1ffd40e2ffb87",
    ),
    "window.csv": (
        ("--since", "2026-02-10", "--until", "2026-02-20", "--exact"),
        "291f22381e26c24912a4e75e69239f6e288ccdc22a81b33c10d0f1d3702ba216",
    ),
}
# arguments -> sha256 of standard output
STREAMS: dict[tuple[str, ...], str] = {
    (
        "export",
        "-",
        "-o",
        "jsonl",
        "--exact",
    ): "d3e96ec23bc5d8e52fa78627892d3a65ca71180053842ca51fd6ee052cac9aaa",
    (
        "export",
        "-",
        "-o",
        "csv",
        "--exact",
    ): "1c4acc263b0315c04a5cafed95bea6788216d5e4c2338f41375db5d0d96dc7db",
    (
        "list",
        "--all",
        "-o",
        "csv",
        "--exact",
    ): "1c4acc263b0315c04a5cafed95bea6788216d5e4c2338f41375db5d0d96dc7db",
    (
        "list",
        "--all",
        "-o",
        "jsonl",
        "--exact",
    ): "d3e96ec23bc5d8e52fa78627892d3a65ca71180053842ca51fd6ee052cac9aaa",
    (
        "--tz",
        "Europe/Berlin",
        "list",
        "--all",
        "-o",
        "csv",
        "--exact",
    ): "53447b71a72b5a214d6e2495c26288c87304fd5b32d62d83ed3fc8fe1fd97e2b",
    (
        "list",
        "--all",
        "-o",
        "csv",
        "--columns",
        "id,meta.note,createdAt,meta",
        "--exact",
    ): "7aa725e2734933839e8e033aac39efb9eedab0ea6fe459d9b529e8f95cc1e0be",
}


@pytest.fixture(scope="module")
def odd_sandbox() -> Iterator[Sandbox]:
    with Sandbox(records=1_234, seed=11, token=TOKEN, anchor=ANCHOR, odd_data=True) as server:
        yield server


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", sorted(FILES))
def test_an_export_file_has_the_pinned_bytes(
    name: str, odd_sandbox: Sandbox, tmp_path: Path
) -> None:
    extra, pinned = FILES[name]
    target = tmp_path / name
    result = run_in_memory(
        ["--api-url", odd_sandbox.url, "--token", TOKEN, "-q", "export", str(target), *extra]
    )
    assert result.code == 0, result.err
    digest = _sha256(target.read_bytes())
    manifest = json.loads(target.with_name(name + ".manifest.json").read_text())
    assert manifest["file"]["sha256"] == digest
    assert digest == pinned


@pytest.mark.parametrize("args", sorted(STREAMS))
def test_standard_output_has_the_pinned_bytes(args: tuple[str, ...], odd_sandbox: Sandbox) -> None:
    result = run_in_memory(["--api-url", odd_sandbox.url, "--token", TOKEN, *args])
    assert result.code == 0, result.err
    assert _sha256(result.out.encode()) == STREAMS[args]


_ESCAPED_SURROGATE = re.compile(r"\\ud[89a-f][0-9a-f]{2}")


@pytest.mark.parametrize("name", ["out.jsonl", "out.json", "out.csv", "window.csv", "cost.csv"])
def test_by_default_each_cut_emoji_is_mended_and_nothing_else_changes(
    name: str, odd_sandbox: Sandbox, tmp_path: Path
) -> None:
    """The default bytes are the exact bytes with each lone surrogate's escape made U+FFFD."""
    extra = tuple(arg for arg in FILES[name][0] if arg != "--exact")
    base = ["--api-url", odd_sandbox.url, "--token", TOKEN, "-q", "export"]
    exact, mended = tmp_path / "exact" / name, tmp_path / "mended" / name
    for target, flags in ((exact, ["--exact"]), (mended, [])):
        target.parent.mkdir()
        result = run_in_memory([*base, str(target), *extra, *flags])
        assert result.code == 0, result.err
    exact_text = exact.read_text(encoding="utf-8")
    escapes = _ESCAPED_SURROGATE.findall(exact_text)
    assert escapes, "the odd data has cut emoji"
    assert mended.read_text(encoding="utf-8") == _ESCAPED_SURROGATE.sub("\ufffd", exact_text)
    manifest = json.loads(mended.with_name(name + ".manifest.json").read_text())
    assert manifest["strings"]["mended"] == len(escapes)
