"""Every JSON document `usage` itself defines, by the name `usage schema` takes.

The reports' documents are `reports.schemas`'; the manifests are `export`'s own
TypedDicts, the shapes `verify` reads them by; a sync's run report is
`archive`'s; `verify -o json`'s is here. Those three wings share a floor and may
not import each other: this one stands above them. Within a `schemaVersion`
fields may be added (a schema allows what it does not name), never renamed,
removed or retyped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import TypedDict

from usage_cli._version import SCHEMA_VERSION
from usage_cli.archive._report import SyncJson
from usage_cli.export._manifest import ManifestJson, SetManifestJson
from usage_cli.reports.schemas import DOCUMENTS as REPORTS
from usage_cli.verify._kind import Kind

if TYPE_CHECKING:
    from collections.abc import Sequence

    from usage_cli.verify import Report


class VerifyJson(TypedDict):
    """`usage verify -o json`: what was proven, and what does not hold."""

    schemaVersion: int
    kind: Kind
    # The PATHs as given (a series': every one, in the order given).
    paths: list[str]
    ok: bool
    # The records proven: the export's, the set's, the series', the archive's.
    records: int
    problems: list[str]
    notes: list[str]
    # The line text mode ends with: `ok: …` and the proof, or what fails it.
    verdict: str
    hint: str | None


def report_json(report: Report, paths: Sequence[str]) -> VerifyJson:
    """`usage verify -o json`'s document: the report, as text mode says it."""
    return {
        "schemaVersion": SCHEMA_VERSION,
        "kind": report.kind,
        "paths": list(paths),
        "ok": report.ok,
        "records": report.records,
        "problems": list(report.problems),
        "notes": list(report.notes),
        "verdict": report.verdict(),
        "hint": report.hint,
    }


DOCUMENTS: dict[str, Any] = {
    **REPORTS,
    "manifest": ManifestJson,
    "set-manifest": SetManifestJson,
    "verify": VerifyJson,
    "sync": SyncJson,
}


def adapter(name: str) -> Any:
    """A pydantic TypeAdapter of document `name` (loaded only here: pydantic is heavy)."""
    from pydantic import TypeAdapter

    return TypeAdapter(DOCUMENTS[name])


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of document `name`, as this version writes it."""
    document: dict[str, Any] = adapter(name).json_schema(mode="serialization")
    # A manifest from before schemaVersion still verifies, so reading leaves it
    # optional; every document written now carries it.
    required: list[str] = document.setdefault("required", [])
    if "schemaVersion" not in required:
        required.insert(0, "schemaVersion")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"usage:{name}/v{SCHEMA_VERSION}",
        **document,
    }
