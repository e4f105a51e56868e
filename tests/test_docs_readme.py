"""README.md, its set-up, tour and first recipes: every `usage` command runs, in order."""

from __future__ import annotations

from .docs_scene import doc_tests

DOC = "README.md"
# The README's commands are split over two files (and scenes) so that xdist runs them
# side by side; test_docs_readme_recipes.py takes the other recipes.
SECTIONS = ("Set-up", "A short tour", "A daily audit in a terminal", "A jq pipeline")
COMMANDS, here, test_command = doc_tests(DOC, SECTIONS)
