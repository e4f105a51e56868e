"""`usage verify`: prove what `usage` wrote untouched and whole. Offline.

One entry, `verify`, hands what it is given to the verifier of its kind:

- `file`: an export file (or its manifest) against its manifest;
- `folder`: a folder written with `--partition`, part by part;
- `series`: the exports of a chain (`--chain`), in link order;
- `archive`: a SQLite archive that `usage sync` fills, by its hash chain.

Each answers with a `Report`: what it found, and the lines that say it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Protocol

from usage_cli.errors import InputError
from usage_cli.verify._kind import Kind

__all__ = ["Report", "verify"]


class Report(Protocol):
    """What a verifier found, and how `usage verify` says it."""

    # file, folder, series or archive: which verifier answered.
    kind: ClassVar[Kind]

    @property
    def records(self) -> int:
        """The records proven (or found, when the report fails)."""
        ...

    @property
    def problems(self) -> list[str]:
        """What does not hold, one finding each; none when the report is ok."""
        ...

    @property
    def notes(self) -> list[str]:
        """What a person should know that does not fail it."""
        ...

    @property
    def ok(self) -> bool: ...

    @property
    def hint(self) -> str | None:
        """What to do about a failure."""
        ...

    def problem_lines(self) -> list[str]:
        """Lines said before a failed verdict: problems too many for one line."""
        ...

    def verdict(self) -> str:
        """The last line: `ok: …` and the proof, or what fails it."""
        ...


def verify(
    paths: str | Path | Sequence[str | Path],
    *,
    chain: bool = False,
    expect_head: str | None = None,
    signers: Path | None = None,
) -> Report:
    """Verify an export, a partitioned folder or an archive; with `chain`, a series.

    `signers`, an allowed-signers file, makes a manifest's signature part of
    the proof; `expect_head` is the sha256 the newest manifest of a series must
    have, or a head an archive must hold (its own, or an earlier run's).
    InputError when there is nothing of any kind to verify; VerifyError when a
    manifest is too damaged to prove anything.
    """
    given = [paths] if isinstance(paths, str | Path) else list(paths)
    if chain:
        from usage_cli.verify.series import verify_chain

        return verify_chain(
            [Path(path) for path in given], expect_head=expect_head, signers=signers
        )
    if len(given) != 1:
        # `usage verify A B` proves each alone (cli._verify): one report is one thing.
        raise InputError(
            f"verify() takes one path, not {len(given)}",
            hint="several exports of a series: --chain",
        )
    typed = str(given[0])
    target = Path(typed)
    from usage_cli.archive import archive_state

    state = archive_state(target)
    if state is not None:
        from usage_cli.verify.archive import verify_archive_file

        return verify_archive_file(target, expect_head=expect_head, signers=signers)
    if expect_head is not None:
        raise InputError(
            "--expect-head goes with --chain (a series' newest manifest) or an archive "
            "(a head a sync printed)"
        )
    from usage_cli.partitions import set_of_manifest
    from usage_cli.verify.file import verify_file
    from usage_cli.verify.folder import verify_folder

    # A set's manifest, named instead of its folder, stands for the folder.
    folder = target if target.is_dir() else set_of_manifest(target)
    report = verify_file(target) if folder is None else verify_folder(folder)
    if report.path == target:
        report.typed = typed  # not when its manifest was named: the answer is about the export
    if signers is not None and report.ok:
        report.check_signature(signers)
    return report
