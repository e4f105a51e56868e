"""README.md, the recipes test_docs_readme.py leaves: every `usage` command runs, in order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .docs_scene import Scene, parameters, run, scene

DOC = "README.md"
SECTIONS = (
    "An export a job can prove",
    "A fast export of the whole history",
    "A daily export from cron",
    "Watch usage arrive",
    "What did it cost, and is today unusual?",
    "A daily budget gate",
    "An audit trail",
)
COMMANDS, IDS = parameters(DOC, SECTIONS)


@pytest.fixture(scope="module")
def here(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    yield from scene(tmp_path_factory.mktemp("home"))


@pytest.mark.parametrize(("command", "expected"), COMMANDS, ids=IDS)
def test_command(here: Scene, command: str, expected: int) -> None:
    run(here, command, expected)
