"""docs/export.md, up to its folders of parts: every `usage` command runs, in order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .docs_scene import Scene, parameters, run, scene

DOC = "docs/export.md"
# Split over two files (and scenes) so that xdist runs them side by side;
# test_docs_export_folders.py takes `--partition` and CI.
SECTIONS = ("`usage export PATH`", "The manifest, and `usage verify`")
COMMANDS, IDS = parameters(DOC, SECTIONS)


@pytest.fixture(scope="module")
def here(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    yield from scene(tmp_path_factory.mktemp("home"))


@pytest.mark.parametrize(("command", "expected"), COMMANDS, ids=IDS)
def test_command(here: Scene, command: str, expected: int) -> None:
    run(here, command, expected)
