"""docs/export.md, its folders of parts and CI jobs: every `usage` command runs, in order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .docs_scene import Scene, parameters, run, scene

DOC = "docs/export.md"
SECTIONS = ("A folder of parts for DuckDB, Spark and friends: `--partition`", "In CI")
COMMANDS, IDS = parameters(DOC, SECTIONS)


@pytest.fixture(scope="module")
def here(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    yield from scene(tmp_path_factory.mktemp("home"))


@pytest.mark.parametrize(("command", "expected"), COMMANDS, ids=IDS)
def test_command(here: Scene, command: str, expected: int) -> None:
    run(here, command, expected)
