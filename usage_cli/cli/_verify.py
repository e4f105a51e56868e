"""`usage verify`: an export, a partitioned folder, an archive, or a chained series."""

from pathlib import Path
from typing import Annotated, Literal

import typer

from usage_cli._text import for_terminal
from usage_cli.cli._app import app
from usage_cli.cli._invocation import Invocation, invocation
from usage_cli.cli._options import GLOBAL_NOTE, OUTPUT_PANEL
from usage_cli.cli._typer_internals import Command
from usage_cli.errors import InputError, UsageCliError, VerifyError

VERIFY_EPILOG = """\
Examples:

\b
  usage verify audit.csv
  usage export audit.csv && usage verify audit.csv && upload audit.csv
  usage verify usage.db                (an archive: its hash chain and gaps)
  usage verify usage.db --expect-head SHA256   (and it still holds that sync's head)
  usage verify usage.db --signers allowed_signers  (every run signed by an allowed key)
  usage verify usage/                  (a folder written with --partition)
  usage verify --chain audit/ --signers allowed_signers --expect-head SHA256
  usage verify audit.csv -o json      (the report as JSON: usage schema verify)
  usage verify *.csv.gz               (each alone; exit 6 if any fails)
"""
VerifyFormat = Literal["text", "json"]


@app.command(
    "verify",
    cls=Command,
    short_help="Prove an export, a series, or an archive, offline",
    epilog=VERIFY_EPILOG + GLOBAL_NOTE,
)
def verify_command(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH...",
            help="A file written by `usage export`, a folder written with --partition, or "
            "an archive that `usage sync` fills (several: each proven alone); with --chain, "
            "the exports of a series (files, manifests or folders, in any order).",
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
            help="Check each manifest's signature (MANIFEST.sig), or each sync run's (an "
            "archive, made with `sync --sign`), against this ssh-keygen allowed-signers "
            "file, and name the signers.",
            show_default=False,
        ),
    ] = None,
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            metavar="SHA256",
            help="As kept elsewhere (a CI log, a ticket): with --chain, the sha256 of the "
            "newest manifest (a series whose newest exports were dropped fails); for an "
            "archive, the chain head a sync printed (a copy rolled back or rewritten fails).",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        VerifyFormat,
        typer.Option(
            "--format",
            "-o",
            help="text, or json: the report as a document (usage schema verify) on "
            "stdout, with the same exit code.",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = "text",
) -> None:
    """Prove an export, a chained series of them, or an archive untouched and whole. Offline.

    An export is checked against its manifest (hash, records, figures, ids);
    a series (--chain) by its links, windows and signatures; an archive by
    its hash chain and the stretches its syncs covered.
    """
    run = invocation(ctx)
    allowed = _signers(signers)
    if expect_head is not None and not _is_sha256(expect_head):
        raise InputError(f"--expect-head {expect_head!r} is not a sha256 (64 hex digits)")
    if len(paths) > 1 and not chain:
        if expect_head is not None:
            raise InputError(
                "--expect-head names one archive's head: give that archive alone, or --chain"
            )
        _verify_each(run, paths, allowed, json_output=output_format == "json")
        return
    from usage_cli.verify import verify

    report = verify(paths, chain=chain, expect_head=expect_head, signers=allowed)
    for note in report.notes:
        run.note(f"note: {note}")
    if output_format == "json":
        import json

        from usage_cli.verify.schemas import report_json

        document = report_json(report, paths)
        run.runtime.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        if not report.ok:
            # The document has every problem; stderr has the verdict, as in text mode.
            raise VerifyError(report.verdict(), hint=report.hint)
        return
    if not report.ok:
        for line in report.problem_lines():
            run.say(line)
        raise VerifyError(report.verdict(), hint=report.hint)
    # It names signers and sources, text from files: escaped as API text is.
    run.runtime.stdout.write(for_terminal(report.verdict()) + "\n")


def _verify_each(
    run: Invocation, paths: list[str], signers: Path | None, *, json_output: bool
) -> None:
    """Several PATHs, not a series: each proven alone, in the order given, as if it
    were the only one (with -o json, one document each); the exit code is 6 if any
    fails to verify, else 2 if any could not be checked, else 0."""
    from usage_cli.verify import verify

    failed: list[str] = []
    unchecked: list[str] = []
    for path in paths:
        try:
            report = verify([path], signers=signers)
        except UsageCliError as exc:
            # One path that cannot be checked stops none of the others.
            run.say(f"error: {exc.message}")
            if exc.hint:
                run.say(f"hint: {exc.hint}")
            (failed if isinstance(exc, VerifyError) else unchecked).append(path)
            continue
        for note in report.notes:
            run.note(f"note: {note}")
        if json_output:
            import json

            from usage_cli.verify.schemas import report_json

            document = report_json(report, [path])
            run.runtime.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        elif report.ok:
            run.runtime.stdout.write(for_terminal(report.verdict()) + "\n")
        else:
            for line in report.problem_lines():
                run.say(line)
        if not report.ok:
            if not json_output:
                run.say(f"error: {report.verdict()}")
                if report.hint:
                    run.say(f"hint: {report.hint}")
            failed.append(path)
    if failed:
        raise VerifyError(f"{_of(failed, paths)} failed to verify: {', '.join(failed)}")
    if unchecked:
        raise InputError(f"{_of(unchecked, paths)} could not be checked: {', '.join(unchecked)}")


def _of(some: list[str], paths: list[str]) -> str:
    return f"{len(some)} of {len(paths)} paths"


def _is_sha256(text: str) -> bool:
    return len(text.strip()) == 64 and all(c in "0123456789abcdef" for c in text.strip().lower())


def _signers(signers: str | None) -> Path | None:
    if signers is None:
        return None
    from usage_cli.evidence import check_signers_file

    allowed = Path(signers).expanduser()
    check_signers_file(allowed)
    return allowed
