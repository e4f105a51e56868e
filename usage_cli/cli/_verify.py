"""`usage verify`: an export, a partitioned folder, an archive, or a chained series."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from usage_cli.cli._app import app
from usage_cli.cli._invocation import Invocation, invocation
from usage_cli.cli._options import GLOBAL_NOTE
from usage_cli.cli._typer_internals import Command
from usage_cli.errors import InputError, VerifyError

VERIFY_EPILOG = """\
Examples:

\b
  usage verify audit.csv
  usage export audit.csv && usage verify audit.csv && upload audit.csv
  usage verify usage.db                (an archive: its hash chain and gaps)
  usage verify usage/                  (a folder written with --partition)
  usage verify --chain audit/ --signers allowed_signers --expect-head SHA256
"""


@app.command("verify", cls=Command, epilog=VERIFY_EPILOG + GLOBAL_NOTE)
def verify_command(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH...",
            help="A file written by `usage export`, a folder written with --partition, or "
            "an archive that `usage sync` fills; with --chain, the exports of a series "
            "(files, manifests or folders, in any order).",
            show_default=False,
        ),
    ],
    chain: Annotated[
        bool,
        typer.Option(
            "--chain",
            help="Prove a series made with `export --chain`: every link, every file, windows "
            "that meet with no gap or overlap, no record in two exports.",
        ),
    ] = False,
    signers: Annotated[
        str | None,
        typer.Option(
            "--signers",
            metavar="ALLOWED_SIGNERS",
            help="Check each manifest's signature (MANIFEST.sig) against this ssh-keygen "
            "allowed-signers file, and name the signer.",
            show_default=False,
        ),
    ] = None,
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            metavar="SHA256",
            help="With --chain: the sha256 of the newest manifest, as kept elsewhere (a CI "
            "log, a ticket); a series whose newest exports were dropped fails.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Prove an export, a chained series of them, or an archive untouched and whole. Offline.

    An export is checked against its manifest (hash, records, figures, ids);
    a series (--chain) by its links, windows and signatures; an archive by
    its hash chain and the stretches its syncs covered.
    """
    run = invocation(ctx)
    allowed = _signers(signers)
    if expect_head is not None and not chain:
        raise InputError("--expect-head goes with --chain")
    if expect_head is not None and not _is_sha256(expect_head):
        raise InputError(f"--expect-head {expect_head!r} is not a sha256 (64 hex digits)")
    if chain:
        _verify_chain(run, [Path(path) for path in paths], expect_head, allowed)
        return
    if len(paths) > 1:
        raise InputError(
            f"verify takes one PATH, not {len(paths)}", hint="several exports of a series: --chain"
        )
    from usage_cli.archive import is_archive_file

    target = Path(paths[0])
    if target.is_file() and is_archive_file(target):
        if allowed is not None:
            raise InputError("--signers checks exports' manifests, not an archive")
        _verify_archive(run, target)
        return
    from usage_cli.verify.file import Report, verify

    shown = paths[0]  # as typed: `usage verify set/` answers about `set/`
    report = verify(target)
    if isinstance(report, Report) and report.path != target:
        shown = str(report.path)  # its manifest was named: the answer is about the export
    if isinstance(report, Report) and report.written_as is not None:
        # Alone, a file's bytes are what its manifest vouches for; in a series
        # (--chain) its name says which period it is, and a rename fails there.
        run.note(
            f"note: {report.path.name} was written as {report.written_as} (renamed, with "
            "its manifest)"
        )
    if not report.ok:
        raise VerifyError(f"{shown} does not match its manifest: " + "; ".join(report.problems))
    signed = ""
    if allowed is not None:
        from usage_cli.evidence import signer_of
        from usage_cli.export import manifest_path
        from usage_cli.partitions import MANIFEST_NAME

        exported = report.path if isinstance(report, Report) else target
        manifest = target / MANIFEST_NAME if target.is_dir() else manifest_path(exported)
        signed = f"; signed by {signer_of(manifest, allowed)}"
    run.runtime.stdout.write(f"ok: {shown} matches its manifest ({report.proof}{signed})\n")


def _is_sha256(text: str) -> bool:
    return len(text.strip()) == 64 and all(c in "0123456789abcdef" for c in text.strip().lower())


def _signers(signers: str | None) -> Path | None:
    if signers is None:
        return None
    from usage_cli.evidence import check_signers_file

    allowed = Path(signers).expanduser()
    check_signers_file(allowed)
    return allowed


def _verify_chain(
    run: Invocation, paths: list[Path], expect_head: str | None, signers: Path | None
) -> None:
    from usage_cli.columns import iso_ms
    from usage_cli.verify.series import verify_chain

    report = verify_chain(paths, expect_head=expect_head, signers=signers)
    for note in report.notes:
        run.note(f"note: {note}")
    if not report.ok:
        problems = report.problems
        verdict = f"the series of {len(report.links)} exports does not hold"
        if len(problems) == 1:
            raise VerifyError(f"{verdict}: {problems[0]}")
        # Several breaks: one a line, where a person can read them, then the verdict.
        for problem in problems:
            run.say(f"  - {problem}")
        raise VerifyError(f"{verdict}: {len(problems)} problems (listed above)")
    head = report.head
    assert head is not None
    first, last = report.links[0], head
    since = "the start" if first.since is None else iso_ms(first.since)
    until = "?" if last.until is None else iso_ms(last.until)
    who = sorted({link.signer for link in report.links if link.signer})
    signed = f"; every manifest signed by {', '.join(who)}" if who else ""
    run.runtime.stdout.write(
        f"ok: a series of {len(report.links)} exports from {since} to {until}, "
        f"{report.records:,} records, no gap, no overlap, no record twice{signed}; "
        f"head {head.manifest_path.name} sha256 {head.sha256}\n"
    )


def _verify_archive(run: Invocation, path: Path) -> None:
    from usage_cli.archive import Archive
    from usage_cli.verify.archive import verify_archive

    with Archive.open(path) as archive:
        report = verify_archive(archive)
        labels = ", ".join(source.label for source in archive.sources()) or "none"
    for note in report.notes:
        run.note(f"note: {note}")
    if report.problems or report.unlisted:
        more = f"; and {report.unlisted:,} more" if report.unlisted else ""
        raise VerifyError(
            f"{path} fails its check: " + "; ".join(report.problems + report.gaps) + more,
            hint="an archive is only ever written by `usage sync`: restore it from a backup, "
            "or sync a new one",
        )
    if report.gaps:
        raise VerifyError(
            f"{path} is not complete: " + "; ".join(report.gaps),
            hint=f"run `usage sync --db {path}` (with the same profile) to close it",
        )
    runs = f"{report.runs:,} sync run{'s' * (report.runs != 1)}"
    run.runtime.stdout.write(
        f"ok: {path} is intact ({report.records:,} records from {runs}; "
        f"sources: {labels}; chain head {report.head.hex()})\n"
    )
