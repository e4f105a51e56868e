"""docs/export.md, up to its folders of parts: every `usage` command runs, in order."""

from __future__ import annotations

from .docs_scene import doc_tests

DOC = "docs/export.md"
# Split over two files (and scenes) so that xdist runs them side by side;
# test_docs_export_folders.py takes `--partition` and CI.
SECTIONS = ("`usage export PATH`", "The manifest, and `usage verify`")
COMMANDS, here, test_command = doc_tests(DOC, SECTIONS)
