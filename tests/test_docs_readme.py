"""README.md, its set-up, tour and first recipes: every `usage` command runs, in order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .docs_scene import Scene, parameters, run, scene

DOC = "README.md"
# The README's commands are split over two files (and scenes) so that xdist runs them
# side by side; test_docs_readme_recipes.py takes the other recipes.
SECTIONS = ("Set-up", "A short tour", "A daily audit in a terminal", "A jq pipeline")
COMMANDS, IDS = parameters(DOC, SECTIONS)


@pytest.fixture(scope="module")
def here(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    yield from scene(tmp_path_factory.mktemp("home"))


@pytest.mark.parametrize(("command", "expected"), COMMANDS, ids=IDS)
def test_command(here: Scene, command: str, expected: int) -> None:
    run(here, command, expected)
