"""What the docs must hold besides runnable commands: coverage, links, the README's shape."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from .docs_scene import ROOT, blocks, commands, doc_files
from .test_architecture import FLOORS

TESTS = Path(__file__).resolve().parent
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_every_command_of_every_doc_runs_in_exactly_one_test_file() -> None:
    """Each doc's test files (`test_docs_*.py`, a `DOC` each) together run all its commands."""
    run: dict[str, list[tuple[str, int]]] = {}
    for path in sorted(TESTS.glob("test_docs_*.py")):
        if path.name != Path(__file__).name:
            module = importlib.import_module(f"tests.{path.stem}")
            run.setdefault(module.DOC, []).extend(module.COMMANDS)
    shown = {str(doc.relative_to(ROOT)): commands(doc) for doc in doc_files()}
    assert {doc: sorted(found) for doc, found in shown.items() if found} == {
        doc: sorted(found) for doc, found in run.items()
    }


def test_the_docs_show_every_command_of_the_tool() -> None:
    shown = {
        command.split()[1]
        for doc in doc_files()
        for command, _ in commands(doc)
        if len(command.split()) > 1
    }
    expected = {"list", "export", "verify", "summary", "sandbox", "config", "sync", "check"}
    assert expected | {"prices"} <= shown


def test_the_readme_is_short_and_links_every_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for doc in doc_files():
        if doc.name != "README.md" or doc.parent != ROOT:
            assert f"({doc.relative_to(ROOT).as_posix()})" in readme, doc


def test_the_readmes_set_up_commands_are_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    shown = [
        line
        for language, lines in blocks(ROOT / "README.md")
        if language == "sh"
        for line in lines
        if line.startswith("pip install")
    ]
    assert shown == ["pip install . && usage list --demo", "pip install -e '.[test]' && pytest"]
    for line in shown:
        assert line in ci


def test_export_reads_one_chain_in_every_doc() -> None:
    """`--streams` is `usage sync`'s alone: no doc offers it to an export."""
    for doc in doc_files():
        for command, _ in commands(doc):
            for part in command.split(" && "):
                assert not (part.startswith("usage export") and "--streams" in part), part


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to `-`."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    found: set[str] = set()
    fenced = False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            name = slug(line.lstrip("#"))
            number = 0
            while (f"{name}-{number}" if number else name) in found:
                number += 1
            found.add(f"{name}-{number}" if number else name)
    return found


@pytest.mark.parametrize("doc", doc_files(), ids=lambda doc: str(doc.relative_to(ROOT)))
def test_links_between_the_docs_lead_somewhere(doc: Path) -> None:
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # another site
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        assert linked.exists(), f"{doc.name}: {target}"
        if anchor:
            assert anchor in anchors(linked), f"{doc.name}: {target}"


def test_architecture_md_draws_the_floors_the_code_is_held_to() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Floors", 1)[1].split("\n## ", 1)[0]
    drawn: dict[int, set[str]] = {}
    for floor, wings in re.findall(r"^\| (\d+) \| (.*) \|$", section, re.M):
        drawn[int(floor)] = set(re.findall(r"`([^`]+)`", wings))
    assert [drawn[floor] for floor in sorted(drawn)] == FLOORS
