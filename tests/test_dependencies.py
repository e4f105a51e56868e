"""The dependency pins (issue 27, D1): bounded where a major version could break us,
and CI's exact set (.ci/constraints.txt) current with them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [
        Requirement(text)
        for text in (*project["dependencies"], *extras["test"], *extras["parquet"])
    ]


def pinned() -> dict[str, str]:
    lines = (ROOT / ".ci" / "constraints.txt").read_text().splitlines()
    pins: dict[str, str] = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip()).groups()  # type: ignore[union-attr]
            pins[canonicalize_name(name)] = version
    return pins


def test_every_dependency_is_pinned_for_ci_within_its_bounds() -> None:
    pins = pinned()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in .ci/constraints.txt: run .ci/refresh-constraints"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} in .ci/constraints.txt is outside {requirement.specifier}: "
            "run .ci/refresh-constraints"
        )


def test_the_runtime_dependencies_have_an_upper_bound() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for text in project["dependencies"]:
        requirement = Requirement(text)
        assert any(spec.operator == "<" for spec in requirement.specifier), text


def test_ci_installs_with_the_constraints() -> None:
    run = (ROOT / ".ci" / "run").read_text()
    assert 'export PIP_CONSTRAINT="$PWD/.ci/constraints.txt"' in run
