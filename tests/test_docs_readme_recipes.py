"""README.md, the recipes test_docs_readme.py leaves: every `usage` command runs, in order."""

from __future__ import annotations

from .docs_scene import doc_tests

DOC = "README.md"
SECTIONS = (
    "An export a job can prove",
    "A fast export of the whole history",
    "A daily export from cron",
    "Watch usage arrive",
    "What did it cost, and is today unusual?",
    "A daily budget gate",
    "A report to look at",
    "An audit trail",
)
COMMANDS, here, test_command = doc_tests(DOC, SECTIONS)
