"""`usage export --chain/--window/--sign`: the checks before a request, the signature after."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from usage_cli.errors import InputError

if TYPE_CHECKING:
    from datetime import datetime

    from usage_cli.cli._invocation import Invocation
    from usage_cli.export import ChainJson, WindowJson
    from usage_cli.export._json import ApiJson
    from usage_cli.query import Query

EVIDENCE_PANEL = "Evidence"
ChainOpt = Annotated[
    str | None,
    typer.Option(
        "--chain",
        metavar="PREV.manifest.json",
        help="Link this export's manifest to the previous one of a series (by its sha256); "
        "this export must start where that one ended.",
        rich_help_panel=EVIDENCE_PANEL,
        show_default=False,
    ),
]
WindowOpt = Annotated[
    str | None,
    typer.Option(
        "--window",
        metavar="hour|day|month",
        help="Export the last whole hour, day or month (UTC) before now: --since and --until "
        "that tile time exactly, run after run.",
        rich_help_panel=EVIDENCE_PANEL,
        show_default=False,
    ),
]
SignOpt = Annotated[
    str | None,
    typer.Option(
        "--sign",
        metavar="KEYFILE",
        help="Sign the manifest with this SSH private key (ssh-keygen -Y sign, namespace "
        "usage-audit), writing MANIFEST.sig.",
        rich_help_panel=EVIDENCE_PANEL,
        show_default=False,
    ),
]


@dataclass(frozen=True)
class Evidence:
    """What `--chain` and `--sign` asked for, checked."""

    previous: Path | None = None
    chain: ChainJson | None = None
    before: WindowJson | None = None
    key: Path | None = None
    # The previous link's kind: its filters, API, user and format (`evidence.kind`).
    like: dict[str, Any] | None = None

    def check(self, query: Query) -> None:
        """Refuse a window that would not meet the previous export's."""
        if self.previous is not None:
            from usage_cli.evidence import check_follows

            check_follows(self.previous, self.before, query.since_ms)

    def check_alike(self, query: Query, api: ApiJson, fmt: str) -> None:
        """Refuse a link that asks for other records, from another API or user, or in
        another format than the previous export (known once the reading is open, before
        any request)."""
        if self.previous is None or self.like is None:
            return
        from usage_cli.evidence import kind, unlike

        differs = unlike(self.like, kind(query.to_dict(), api, fmt))
        if differs:
            raise InputError(
                f"--chain {self.previous}: this export would not continue that series: "
                + "; ".join(differs),
                hint="a series holds the same records, from the same API and user, in one "
                "format; start a new series without --chain",
            )

    def signer(self) -> Callable[[bytes], str] | None:
        """What signs the manifest's bytes before it is published (`--sign`), or None."""
        key = self.key
        if key is None:
            return None
        from usage_cli.evidence import sign_bytes

        def sign(manifest: bytes) -> str:
            return sign_bytes(manifest, key, what="the manifest")

        return sign

    def seal(self, run: Invocation, manifest: Path) -> None:
        """Say the published manifest is signed, when it was (`signer` signed it)."""
        if self.key is None:
            return
        from usage_cli.evidence import signature_path

        run.note(f"signed {manifest.name} ({signature_path(manifest).name})")


def windowed(params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """`params` with `--window` made the `--since` and `--until` of the last whole
    period before `now`; InputError for a bad period, or one beside either."""
    window = params.get("window")
    if window is None:
        return params
    from usage_cli.evidence import PERIODS, last_whole

    if window not in PERIODS:
        raise InputError(f"--window must be one of {', '.join(PERIODS)}, not {window!r}")
    if params.get("since") or params.get("until"):
        raise InputError("--window sets --since and --until itself: give one or the other")
    since, until = last_whole(window, now)
    return {**params, "since": since, "until": until}


def evidence(
    run: Invocation,
    params: dict[str, Any],
    *,
    to_stdout: bool,
    started: datetime,
) -> tuple[dict[str, Any], Evidence]:
    """The export's parameters with `--window` applied, and its evidence, every check
    done before any request.

    The window is the last whole period before the export `started`: a
    resumed export keeps its first start, and so its window.
    """
    chain, key = params.get("chain"), params.get("sign")
    if to_stdout and (chain or key):
        flag = "--chain" if chain else "--sign"
        raise InputError(f"{flag} needs a file target: standard output has no manifest")
    params = windowed(params, started)
    found = Evidence()
    if chain is not None:
        from usage_cli.evidence import chain_to

        link, before, like = chain_to(Path(chain))
        found = Evidence(previous=Path(chain), chain=link, before=before, like=like)
    if key is not None:
        from usage_cli.evidence import check_signing_key

        path = Path(key).expanduser()
        check_signing_key(path, interactive=run.runtime.stdin_tty)
        found = replace(found, key=path)
    return params, found
