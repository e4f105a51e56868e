"""docs/troubleshooting.md: every `usage` command it shows runs, in order, in a scene of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .docs_scene import Scene, parameters, run, scene

DOC = "docs/troubleshooting.md"
COMMANDS, IDS = parameters(DOC)


@pytest.fixture(scope="module")
def here(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    yield from scene(tmp_path_factory.mktemp("home"))


@pytest.mark.parametrize(("command", "expected"), COMMANDS, ids=IDS)
def test_command(here: Scene, command: str, expected: int) -> None:
    run(here, command, expected)
