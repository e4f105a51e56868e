"""`usage verify`: prove a finished export is what its manifest says. Offline."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from usage_cli.errors import InputError
from usage_cli.export import format_of, manifest_path, sha256_of


@dataclass
class Report:
    path: Path
    manifest: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    records: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _rows(handle: IO[str], fmt: str) -> Iterator[tuple[str, str, int]]:
    """(id, type, count) of each record in an export's text."""
    if fmt == "csv":
        for row in csv.DictReader(handle):
            yield row["id"], row["type"], int(row["count"])
        return
    if fmt == "json":
        items = json.load(handle)
        if not isinstance(items, list):
            raise ValueError("the file is not a JSON array")
    else:
        items = (json.loads(line) for line in handle if line.strip())
    for item in items:
        yield item["id"], item["type"], int(item["count"])


def verify(path: Path) -> Report:
    manifest_file = manifest_path(path)
    if not manifest_file.exists():
        raise InputError(
            f"no manifest for {str(path)!r} (looked for {manifest_file.name})",
            hint="verify checks a file written by `usage export`",
        )
    try:
        manifest: dict[str, Any] = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the manifest {str(manifest_file)!r}: {exc}") from None
    report = Report(path, manifest)
    if not path.exists():
        report.problems.append(f"{path} does not exist")
        return report
    expected_file = manifest.get("file", {})
    size = path.stat().st_size
    if size != expected_file.get("bytes"):
        report.problems.append(
            f"size is {size} bytes, the manifest says {expected_file.get('bytes')}"
        )
    digest = sha256_of(path)
    if digest != expected_file.get("sha256"):
        report.problems.append(
            f"sha256 is {digest}, the manifest says {expected_file.get('sha256')}"
        )

    fmt, compressed = format_of(path)
    seen: set[str] = set()
    duplicates: set[str] = set()
    total = 0
    by_type: dict[str, int] = {}
    try:
        text: IO[str] = (
            gzip.open(path, "rt", encoding="utf-8", newline="")  # noqa: SIM115
            if compressed
            else open(path, encoding="utf-8", newline="")  # noqa: SIM115
        )
        with text:
            for record_id, kind, count in _rows(text, fmt):
                report.records += 1
                if record_id in seen:
                    duplicates.add(record_id)
                seen.add(record_id)
                total += count
                by_type[kind] = by_type.get(kind, 0) + count
    except (OSError, ValueError, KeyError, TypeError, EOFError, csv.Error) as exc:
        report.problems.append(f"cannot read the records: {type(exc).__name__}: {exc}")
        return report
    if report.records != manifest.get("records"):
        report.problems.append(
            f"holds {report.records} records, the manifest says {manifest.get('records')}"
        )
    if duplicates:
        shown = ", ".join(sorted(duplicates)[:5])
        more = f" and {len(duplicates) - 5} more" if len(duplicates) > 5 else ""
        report.problems.append(f"{len(duplicates)} duplicate ids: {shown}{more}")
    if total != manifest.get("countTotal"):
        report.problems.append(
            f"count sums to {total}, the manifest says {manifest.get('countTotal')}"
        )
    if dict(sorted(by_type.items())) != manifest.get("countByType"):
        report.problems.append("count per type differs from the manifest")
    return report
