"""A resumed export asks for the same `--since` window as the run it continues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from usage_cli.client import Client
from usage_cli.errors import ServerError
from usage_cli.sandbox import Sandbox


def fail_after(monkeypatch: pytest.MonkeyPatch, pages: int) -> None:
    original = Client.fetch_page
    asked: list[int] = []

    def flaky(self: Client, *args: Any, **kwargs: Any) -> Any:
        asked.append(1)
        if len(asked) > pages:
            raise ServerError("the API failed: HTTP 503 (simulated)")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Client, "fetch_page", flaky)


def test_resume_with_a_relative_since_continues_the_same_window(
    cli: Any, server: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "audit.jsonl"
    window = ("--take", "10", "--since", "3650d")
    fail_after(monkeypatch, 2)
    assert cli("export", str(target), *window).code == 5
    checkpoint = json.loads((tmp_path / ".audit.jsonl.checkpoint.json").read_text())
    monkeypatch.undo()
    resumed = cli("export", str(target), *window, "--resume")
    assert resumed.code == 0, resumed.err
    ids = [json.loads(line)["id"] for line in target.read_text().splitlines()]
    assert ids == [record["id"] for record in server.records]
    manifest = json.loads((tmp_path / "audit.jsonl.manifest.json").read_text())
    assert manifest["startedAt"] == checkpoint["startedAt"]
    assert manifest["query"]["since"] == checkpoint["query"]["since"]
