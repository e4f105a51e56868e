"""The house's shape: data flows one way, from the CLI down to the ground floor.

Every `usage_cli` import is read from the source (lazy ones and those for type
checking too: a circle through a lazy import is still a circle), grouped by
wing (`usage_cli.export`, `usage_cli.reading`, ...). A wing may import its own
modules and those of wings on lower floors, never one on its own floor or
above. A new module goes on a floor here, with the one who adds it deciding
where it belongs; docs/architecture.md draws the same floors.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "usage_cli"

# Lowest first. Within a floor no wing imports another.
FLOORS: list[set[str]] = [
    {"_version", "_text", "_colour", "_outline", "_defaults", "errors", "relations", "paging"},
    {"zones", "_files", "runtime"},
    {"config", "_lock", "partitions", "query", "records"},
    {"settings", "columns", "display"},
    {"client", "reading", "prices", "sandbox"},
    {"summary"},
    {"check", "compare", "formats"},
    {"export", "archive", "reports"},
    {"evidence"},
    {"verify"},
    {"cli"},
    {"_entry", "__init__"},
    {"__main__"},
]
FLOOR = {wing: level for level, wings in enumerate(FLOORS) for wing in wings}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The `usage_cli` modules `path` imports, anywhere in it."""
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            named.update(f"{node.module}.{alias.name}" for alias in node.names)
            named.add(node.module)
        elif isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
    out = set()
    for name in named:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name.startswith("usage_cli"):
            out.add(name)
    return out


def wing(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def graph() -> dict[str, set[str]]:
    known = modules()
    edges = {name: imports(path, known) - {name} for name, path in known.items()}
    # The package's own __init__ is named for every `from usage_cli import x`;
    # what counts is the submodule x, which `imports` resolved.
    return {name: targets - {"usage_cli"} for name, targets in edges.items()}


def test_every_wing_is_on_a_floor() -> None:
    wings = {wing(module) for module in modules()}
    assert wings - set(FLOOR) == set(), "put the new wing on a floor in FLOORS"


def test_no_wing_imports_one_on_its_floor_or_above() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph().items()
        for target in targets
        if wing(target) != wing(module) and FLOOR[wing(target)] >= FLOOR[wing(module)]
    )
    assert upward == []


def test_no_module_imports_itself_round_a_circle() -> None:
    edges = graph()
    done: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circles.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for target in sorted(edges.get(module, ())):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])
    assert circles == []


def test_the_checks_see_an_upward_import() -> None:
    # Not a test that cannot fail: the reader finds what a wing imports.
    edges = graph()
    assert "usage_cli.reading.cursors" in edges["usage_cli.reading.stream"]
    assert "usage_cli.export._open" in edges["usage_cli.export"]
    assert any(target.startswith("usage_cli.verify") for target in edges["usage_cli.cli._verify"])
