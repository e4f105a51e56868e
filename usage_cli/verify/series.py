"""`usage verify --chain`: a series of exports, proven whole, in order and untouched.

Each manifest of a series names the one before it by the sha256 of its bytes
(`usage export --chain PREV`), and says the span of `createdAt` it covers. So,
given the files in any order, the series is put in order by its links, and:

- every file is checked against its manifest (hash, records, figures);
- every link must find the manifest it names: a manifest deleted, or edited
  and written again, breaks the link after it (one missing, or two in a row:
  the same break, with the gap of windows it leaves);
- consecutive windows must meet, each starting one millisecond after the one
  before ends: no gap, no overlap;
- every link asks for the same records (filters), from the same API and
  user, in the same format: only the window moves;
- no record id may appear in two exports of the series;
- with `--expect-head`, the newest manifest must be the one a hash kept
  elsewhere names: nothing in the series can show that its newest exports
  were dropped, or the newest rewritten, without such an anchor.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from usage_cli._text import plural
from usage_cli.columns import iso_ms
from usage_cli.errors import InputError, VerifyError
from usage_cli.evidence._sign import signer_of
from usage_cli.export import Manifest, SetManifest, manifest_path
from usage_cli.partitions import OLD_MANIFEST_NAME, set_manifest, set_of_manifest
from usage_cli.verify._kind import Kind
from usage_cli.verify._lines import first_of, listed, summed
from usage_cli.verify.file import FileReport, verify_file
from usage_cli.verify.folder import verify_folder

_SUFFIX = ".manifest.json"
_SHOWN = 5


@dataclass
class Link:
    """One export of a series: its manifest, and what checking it found."""

    manifest_path: Path
    sha256: str
    manifest: Manifest | SetManifest
    data: Path
    problems: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set, repr=False)
    signer: str | None = None
    # A file's sha256 when it is not the one its manifest records.
    wrong_digest: str | None = None
    # The name its export wrote, when the file (with its manifest) has another.
    written_as: str | None = None

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def since(self) -> int | None:
        window = self.manifest.window
        return None if window is None else window["sinceMs"]

    @property
    def until(self) -> int | None:
        window = self.manifest.window
        return None if window is None else window["untilMs"]

    @property
    def previous(self) -> str | None:
        chain = self.manifest.chain
        return None if chain is None else chain["previous"]

    def span(self) -> str:
        since, until = self.since, self.until
        if until is None:
            return "no window recorded"
        return f"{'the start' if since is None else iso_ms(since)} to {iso_ms(until)}"


@dataclass
class ChainReport:
    kind: ClassVar[Kind] = "series"
    links: list[Link] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def head(self) -> Link | None:
        return self.links[-1] if self.links else None

    @property
    def records(self) -> int:
        return sum(link.manifest.records for link in self.links)

    @property
    def hint(self) -> str | None:
        return None

    def problem_lines(self) -> list[str]:
        return listed(self.problems)

    def verdict(self) -> str:
        if self.problems:
            verdict = f"the series of {plural(len(self.links), 'export')} does not hold"
            return f"{verdict}: {summed(self.problems)}"
        first, head = self.links[0], self.links[-1]
        since = "the start" if first.since is None else iso_ms(first.since)
        until = "?" if head.until is None else iso_ms(head.until)
        who = sorted({link.signer for link in self.links if link.signer})
        signed = f"; every manifest signed by {', '.join(who)}" if who else ""
        return (
            f"ok: a series of {plural(len(self.links), 'export')} from {since} to {until}, "
            f"{self.records:,} records, no gap, no overlap, no record twice{signed}; "
            f"head {head.manifest_path.name} sha256 {head.sha256}"
        )


def manifests_in(paths: Iterable[Path]) -> list[Path]:
    """The manifests that `paths` (exports, manifests, signatures, folders) stand for."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            for own in (set_manifest(path), path / OLD_MANIFEST_NAME):
                if own.is_file():
                    found.append(own)  # a folder of parts: its manifest
                    break
            else:
                # A folder of exports: their manifests (a set's lie beside it, in here too).
                inside = sorted(path.glob(f"*{_SUFFIX}"))
                inside += sorted(sub / OLD_MANIFEST_NAME for sub in path.iterdir() if sub.is_dir())
                found += [candidate for candidate in inside if candidate.is_file()]
        elif path.name.endswith(".sig"):
            continue  # a signature goes with its manifest, which is found by itself
        elif path.name.endswith(_SUFFIX) or path.name == OLD_MANIFEST_NAME:
            found.append(path)
        else:
            found.append(manifest_path(path))
    # The same manifest named twice (a file and its manifest, say) is one export.
    unique: dict[Path, Path] = {}
    for manifest in found:
        unique.setdefault(manifest.resolve(), manifest)
    return list(unique.values())


def orphans_in(paths: Iterable[Path]) -> list[Path]:
    """Exports in the folders given whose manifest is gone: nothing can prove them."""
    from usage_cli.export import EXTENSIONS

    found: list[Path] = []
    for folder in paths:
        is_set = set_manifest(folder).is_file() or (folder / OLD_MANIFEST_NAME).is_file()
        if not folder.is_dir() or is_set:
            continue
        for path in sorted(folder.iterdir()):
            base = path.name.lower().removesuffix(".gz")
            looks = (
                path.is_file() and not path.name.startswith(".") and not path.name.endswith(_SUFFIX)
            )
            if looks and Path(base).suffix in EXTENSIONS and not manifest_path(path).exists():
                found.append(path)
    return found


def _link(manifest: Path, signers: Path | None) -> Link:
    try:
        text = manifest.read_bytes()
    except FileNotFoundError:
        raise InputError(f"no manifest at {manifest}") from None
    sha = hashlib.sha256(text).hexdigest()
    folder = set_of_manifest(manifest)
    loaded: Manifest | SetManifest = (
        Manifest.load(manifest) if folder is None else SetManifest.load(manifest)
    )
    data = manifest.with_name(manifest.name[: -len(_SUFFIX)]) if folder is None else folder
    link = Link(manifest, sha, loaded, data)
    report = verify_file(data) if folder is None else verify_folder(data)
    if isinstance(report, FileReport) and report.written_as is not None:
        # In a series a name says which period a file is: one renamed (two
        # swapped, file and manifest together) would read as another day.
        link.problems.append(f"{data.name} was written as {report.written_as}")
        link.written_as = report.written_as
    link.problems += [f"{link.name}: {problem}" for problem in report.problems]
    link.ids = report.ids
    if isinstance(report, FileReport) and report.digest != report.manifest.file["sha256"]:
        link.wrong_digest = report.digest
    if signers is not None:
        try:
            link.signer = signer_of(manifest, signers)
        except VerifyError as refused:
            link.problems.append(refused.message)
    return link


def verify_chain(
    paths: Iterable[Path], *, expect_head: str | None = None, signers: Path | None = None
) -> ChainReport:
    """The exports `paths` stand for, as one series: its links, windows, ids and head."""
    paths = list(paths)
    manifests = manifests_in(paths)
    if not manifests:
        raise InputError("--chain: no manifests among the paths given")
    report = ChainReport()
    orphans = orphans_in(paths)
    # An export named by itself whose manifest is gone is the same break as one
    # found in a folder: a link of the series nothing can prove (exit 6, not 2).
    # Neither there at all is a path mistyped: `_link` says so (exit 2).
    orphaned = set()
    for manifest in manifests:
        data = manifest.with_name(manifest.name.removesuffix(_SUFFIX))
        if not manifest.exists() and data.is_file():
            orphaned.add(manifest)
            # `./a.csv` named, `a.csv` found in its folder: one export.
            if data.resolve() not in {orphan.resolve() for orphan in orphans}:
                orphans.append(data)
    for orphan in orphans:
        report.problems.append(f"{orphan.name} has no manifest: it cannot be proven")
    links = [_link(manifest, signers) for manifest in manifests if manifest not in orphaned]
    if not links:
        return report
    for link in links:
        report.problems += link.problems
    _check_swaps(links, report)
    report.links = _order(links, report)
    _check_alike(report)
    _check_windows(report)
    _check_ids(report)
    _check_head(report, expect_head)
    return report


def _check_swaps(links: list[Link], report: ChainReport) -> None:
    """Name a file that holds the bytes another export of the series wrote, and
    two exports renamed into each other's names.

    Two files swapped (and not their manifests) otherwise read as two
    unrelated hash mismatches; two swapped with their manifests, as two renames.
    """
    written = {
        link.manifest.file["sha256"]: link for link in links if isinstance(link.manifest, Manifest)
    }
    told: set[str] = set()
    for link in links:
        other = written.get(link.wrong_digest or "")
        if other is None or other is link or link.name in told:
            continue
        mine = link.manifest.file["sha256"] if isinstance(link.manifest, Manifest) else None
        if other.wrong_digest == mine:
            report.problems.append(
                f"{link.name} and {other.name} are swapped: each holds the records the "
                "other's manifest vouches for"
            )
            told.add(other.name)
        else:
            report.problems.append(f"{link.name} holds the records written as {other.name}")
    by_name = {link.name: link for link in links}
    for link in links:
        other = by_name.get(link.written_as or "")
        if other is not None and other.written_as == link.name and link.name < other.name:
            report.problems.append(
                f"{link.name} and {other.name} are swapped, each with its manifest: each "
                "name now holds the other's period"
            )


def _order(links: list[Link], report: ChainReport) -> list[Link]:
    """The links in series order: along their chain, stretches sorted by window."""
    by_sha = {link.sha256: link for link in links}
    following: dict[str, Link] = {}
    for link in links:
        previous = link.previous
        if previous is None or previous not in by_sha:
            continue
        if previous in following:
            other = following[previous]
            report.problems.append(
                f"{link.name} and {other.name} both name {by_sha[previous].name} as the export "
                "before them: the series forks"
            )
            continue
        following[previous] = link
    starts = [link for link in links if link.previous is None or link.previous not in by_sha]
    stretches: list[list[Link]] = []
    for start in starts:
        stretch = [start]
        while stretch[-1].sha256 in following and len(stretch) <= len(links):
            stretch.append(following[stretch[-1].sha256])
        stretches.append(stretch)
    stretches.sort(key=lambda stretch: (stretch[0].since is not None, stretch[0].since or 0))
    ordered = [link for stretch in stretches for link in stretch]
    for index, stretch in enumerate(stretches):
        start = stretch[0]
        if start.previous is None:
            if index:
                report.problems.append(
                    f"{start.name} starts a new series (it names no export before it), "
                    f"after {stretches[index - 1][-1].name}"
                )
            continue
        chain = start.manifest.chain
        named = chain["previousName"] if chain else "?"
        before = f" after {stretches[index - 1][-1].name}" if index else ""
        report.problems.append(
            f"a link is broken{before}: {start.name} names the export before it "
            f"({named}, manifest sha256 {start.previous[:12]}…), which is not among the "
            "files or was changed"
        )
    return ordered


def _check_alike(report: ChainReport) -> None:
    """Each link asks for the records the one before it asked for, from the same API and
    user, in the same format: only the window moves (see `evidence._alike`)."""
    from usage_cli.evidence import kind, unlike

    for before, after in itertools.pairwise(report.links):
        was, now = (kind(x.manifest.query, x.manifest.api, x.manifest.fmt) for x in (before, after))
        differs = unlike(was, now)
        if differs:
            report.problems.append(
                f"{after.name} does not continue {before.name}'s series: " + "; ".join(differs)
            )


def _check_windows(report: ChainReport) -> None:
    for before, after in zip(report.links, report.links[1:], strict=False):
        if before.until is None or after.until is None:
            report.notes.append(
                f"{before.name} or {after.name} records no window: their meeting is unchecked"
            )
            continue
        if after.since is None:
            report.problems.append(f"{after.name} has no start (no --since) but follows another")
            continue
        missing = after.since - before.until - 1
        if missing > 0:
            report.problems.append(
                f"a gap between {before.name} (to {iso_ms(before.until)}) and {after.name} "
                f"(from {iso_ms(after.since)}): {_duration(missing)} of records in no export"
            )
        elif missing < 0:
            report.problems.append(
                f"{after.name} (from {iso_ms(after.since)}) overlaps {before.name} "
                f"(to {iso_ms(before.until)}) by {_duration(-missing)}"
            )


def _duration(ms: int) -> str:
    for unit, size in (("day", 86_400_000), ("hour", 3_600_000), ("minute", 60_000)):
        if ms >= size and ms % size == 0:
            count = ms // size
            return f"{count} {unit}{'s' * (count != 1)}"
    return f"{ms:,} ms"


def _check_ids(report: ChainReport) -> None:
    owner: dict[str, str] = {}
    twice: list[str] = []
    for link in report.links:
        for record_id in link.ids:
            first = owner.setdefault(record_id, link.name)
            if first != link.name:
                twice.append(f"{record_id} in {first} and {link.name}")
    if twice:
        shown = first_of(sorted(twice), _SHOWN, sep="; ")
        report.problems.append(f"{len(twice)} record ids are in two exports: {shown}")


def _check_head(report: ChainReport, expected: str | None) -> None:
    if expected is None:
        return
    wanted = expected.strip().lower()
    for index, link in enumerate(report.links):
        if link.sha256 == wanted:
            newer = len(report.links) - index - 1
            if newer:
                report.notes.append(
                    f"{newer} newer export(s) follow the expected head ({link.name}); keep "
                    "the new head's hash"
                )
            return
    head = report.head
    report.problems.append(
        f"the expected head {wanted[:12]}… is not among the manifests: the newest export(s) "
        f"were dropped or rewritten (the newest here is {head.name if head else 'none'}, "
        f"{head.sha256[:12] if head else ''}…)"
    )
