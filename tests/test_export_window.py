"""A resumed export asks for the same `--since` window as the run it continues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from usage_cli.sandbox import Sandbox

from .conftest import FailAfter


def test_resume_with_a_relative_since_continues_the_same_window(
    cli: Any, server: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "audit.jsonl"
    window = ("--take", "10", "--since", "3650d")
    assert cli("export", str(target), *window, transport=FailAfter(2)).code == 5
    checkpoint = json.loads((tmp_path / ".audit.jsonl.checkpoint.json").read_text())
    resumed = cli("export", str(target), *window, "--resume")
    assert resumed.code == 0, resumed.err
    ids = [json.loads(line)["id"] for line in target.read_text().splitlines()]
    assert ids == [record["id"] for record in server.records]
    manifest = json.loads((tmp_path / "audit.jsonl.manifest.json").read_text())
    assert manifest["startedAt"] == checkpoint["startedAt"]
    assert manifest["query"]["since"] == checkpoint["query"]["since"]
