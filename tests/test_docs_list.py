"""docs/list.md: every `usage` command it shows runs, in order, in a scene of its own."""

from __future__ import annotations

import re
import textwrap

from .conftest import run_in_memory
from .docs_scene import ROOT, blocks, doc_tests

DOC = "docs/list.md"
COMMANDS, here, test_command = doc_tests(DOC)


# The output blocks docs/list.md pastes, in order, each with the command that prints it
# (a table as a terminal 200 columns wide shows it). The demo's records end at today's
# midnight: dates and epoch times are compared as shapes, everything else exactly.
PASTED = [
    (["list", "--demo", "--type", "CHATBOTKIT_TASK_RUN", "--limit", "2", "-o", "jsonl"], {}),
    (["list", "--demo", "--type", "CHATBOTKIT_TASK_RUN", "--limit", "2", "-o", "csv"], {}),
    (
        ["list", "--demo", "--type", "CHATBOTKIT_TASK_RUN", "--limit", "2", "--no-color"],
        {"tty": True, "width": 200},
    ),
    (
        ["summary", "--demo", "--by", "type", "--top", "3", "--no-color"],
        {"tty": True, "width": 200},
    ),
]


def _shape(text: str) -> str:
    text = re.sub(r"\d{4}-\d{2}-\d{2}", "YYYY-MM-DD", text)
    return re.sub(r'"(createdAt|updatedAt)":\d+', r'"\1":MS', text)


def pasted_blocks() -> list[str]:
    """The `text` blocks of docs/list.md, each unindented as a user would see it."""
    return [
        textwrap.dedent("\n".join(lines)) + "\n"
        for language, lines in blocks(ROOT / DOC)
        if language == "text"
    ]


def test_the_pasted_outputs_are_what_the_demo_prints_now() -> None:
    pasted = pasted_blocks()
    assert len(pasted) == len(PASTED)
    for block, (args, runtime) in zip(pasted, PASTED, strict=True):
        result = run_in_memory(args, **runtime)
        assert result.code == 0, result.err
        # CSV's CRLF line ends are a page's plain ones.
        printed = result.out.replace("\r\n", "\n").rstrip("\n") + "\n"
        assert _shape(block) == _shape(printed), " ".join(args)
