"""docs/export.md, its folders of parts, datasets (`--update`) and CI jobs: every `usage`
command runs, in order."""

from __future__ import annotations

from .docs_scene import doc_tests

DOC = "docs/export.md"
SECTIONS = (
    "A folder of parts for DuckDB, Spark and friends: `--partition`",
    "A dataset a daily job adds to: `--update`",
    "In CI",
)
COMMANDS, here, test_command = doc_tests(DOC, SECTIONS)
