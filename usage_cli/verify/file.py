"""`usage verify FILE`: prove a finished export file is what its manifest says. Offline.

Its size and sha256; its records read back (ids once each, counts, the cost
column) against the manifest's figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from usage_cli._files import reason
from usage_cli._text import plural
from usage_cli.errors import InputError
from usage_cli.export import Manifest, format_of, manifest_path, sha256_of
from usage_cli.export._costs import CostColumn, cost_of
from usage_cli.verify._kind import Kind
from usage_cli.verify._lines import first_of
from usage_cli.verify._manifest import HeldToManifest
from usage_cli.verify._rows import UNREADABLE, opened, rows, unreadable


@dataclass
class FileReport(HeldToManifest[Manifest]):
    kind: ClassVar[Kind] = "file"
    problems: list[str] = field(default_factory=list)
    # The name the export wrote, when the file (with its manifest) has another now.
    written_as: str | None = None
    # The file's own sha256, once read.
    digest: str | None = None

    @property
    def manifest_file(self) -> Path:
        return manifest_path(self.path)

    @property
    def notes(self) -> list[str]:
        if self.written_as is None:
            return []
        # Alone, a file's bytes are what its manifest vouches for; in a series
        # (--chain) its name says which period it is, and a rename fails there.
        return [f"{self.path.name} was written as {self.written_as} (renamed, with its manifest)"]

    @property
    def proof(self) -> str:
        """What holds, in a few words, for the `ok:` line."""
        return f"{self.records:,} records, sha256 {self.manifest.file['sha256']}" + cost_of(
            self.manifest.prices
        )


_MANIFEST_SUFFIX = ".manifest.json"


def verify_file(path: Path) -> FileReport:
    """A file written by `usage export`, or its manifest, against that manifest."""
    if path.name.endswith(_MANIFEST_SUFFIX) and path.is_file():
        # The manifest named instead of its export (TAB offers both): the export.
        path = path.with_name(path.name[: -len(_MANIFEST_SUFFIX)])
    manifest_file = manifest_path(path)
    if not manifest_file.exists() and not path.exists():
        raise InputError(
            f"nothing to verify at {str(path)!r}: no such file or folder",
            hint="verify checks an export (and its .manifest.json), a folder written with "
            "--partition, or an archive that `usage sync` fills",
        )
    if not manifest_file.exists():
        raise InputError(
            f"no manifest for {str(path)!r} (looked for {str(manifest_file)!r})",
            hint="verify checks a file written by `usage export`",
        )
    manifest = Manifest.load(manifest_file)
    report = FileReport(path, manifest)
    if manifest.file["name"] != path.name:
        report.written_as = manifest.file["name"]
    if not path.exists():
        report.problems.append(f"{path} does not exist")
        return report
    expected_file = manifest.file
    try:
        size = path.stat().st_size
        digest = sha256_of(path)
    except OSError as exc:
        report.problems.append(f"cannot read it: {reason(exc)}")
        return report
    report.digest = digest
    if size != expected_file["bytes"]:
        report.problems.append(f"size is {size} bytes, the manifest says {expected_file['bytes']}")
    if digest != expected_file["sha256"]:
        report.problems.append(f"sha256 is {digest}, the manifest says {expected_file['sha256']}")

    fmt, compressed = format_of(path)
    if (fmt, compressed) != (manifest.fmt, manifest.gzip):
        # Read as its name says, a file of another format fails with a parser's
        # error; the manifest says what was written.
        written = f"{manifest.fmt}{'.gz' if manifest.gzip else ''}"
        named = f"{fmt}{'.gz' if compressed else ''}"
        report.problems.append(
            f"the manifest says it was written as {written}; its name says {named}"
        )
        return report
    seen = report.ids
    duplicates: set[str] = set()
    total = 0
    by_type: dict[str, int] = {}
    costs = CostColumn()
    try:
        with opened(path, compressed=compressed) as text:
            for record_id, kind, count, cell, _ in rows(
                text, fmt, guarded=manifest.formulas_guarded
            ):
                report.records += 1
                costs.add(record_id, kind, count, cell)
                if record_id in seen:
                    duplicates.add(record_id)
                seen.add(record_id)
                total += count
                by_type[kind] = by_type.get(kind, 0) + count
    except UNREADABLE as exc:
        report.problems.append(f"cannot read the records: {unreadable(exc)}")
        return report
    if report.records != manifest.records:
        report.problems.append(
            f"holds {report.records} records, the manifest says {manifest.records}"
        )
    if duplicates:
        shown = first_of(sorted(duplicates), 5)
        report.problems.append(f"{plural(len(duplicates), 'duplicate id')}: {shown}")
    if total != manifest.count_total:
        report.problems.append(f"count sums to {total}, the manifest says {manifest.count_total}")
    if by_type != manifest.count_by_type:
        report.problems.append("count per type differs from the manifest")
    report.problems += costs.problems(manifest.prices, records=report.records)
    return report
