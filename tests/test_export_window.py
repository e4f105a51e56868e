"""A resumed export asks for the same `--since` window as the run it continues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from usage_cli.sandbox import Sandbox

from .test_export import export, fail_after, read_records


def test_resume_with_a_relative_since_continues_the_same_window(
    cli: Any, server: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "audit.jsonl"
    fail_after(monkeypatch, 2)
    assert export(cli, target, "--take", "10", "--since", "3650d").code == 5
    checkpoint = json.loads((tmp_path / ".audit.jsonl.checkpoint.json").read_text())
    started = checkpoint["startedAt"]
    monkeypatch.undo()
    resumed = export(cli, target, "--take", "10", "--since", "3650d", "--resume")
    assert resumed.code == 0, resumed.err
    assert read_records(target) == server.records
    manifest = json.loads((tmp_path / "audit.jsonl.manifest.json").read_text())
    assert manifest["startedAt"] == started
    assert manifest["query"]["since"] == checkpoint["query"]["since"]
