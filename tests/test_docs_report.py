"""docs/report.md: every `usage` command it shows runs, in order, in a scene of its own."""

from __future__ import annotations

from .docs_scene import doc_tests

DOC = "docs/report.md"
COMMANDS, here, test_command = doc_tests(DOC)
