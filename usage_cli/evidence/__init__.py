"""Evidence an export leaves for an auditor: chained manifests (`--chain`), signed ones (`--sign`).

The export side only: `_sign` signs and checks manifests with `ssh-keygen
-Y`; this module has what `usage export` needs before it starts: the link to
the previous manifest, and the window of the last whole period (`--window
day`). Proving a series whole and in order is `usage_cli.verify.series`'s.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from usage_cli.errors import InputError, VerifyError
from usage_cli.evidence._alike import kind, unlike
from usage_cli.evidence._sign import (
    NAMESPACE,
    check_signers_file,
    check_signing_key,
    sign_bytes,
    signer_of,
    signer_of_bytes,
)
from usage_cli.export import ChainJson, Manifest, SetManifest, WindowJson
from usage_cli.export._target import signature_path
from usage_cli.partitions import OLD_MANIFEST_NAME, set_manifest, set_of_manifest

PERIODS = ("hour", "day", "month")

__all__ = [
    "NAMESPACE",
    "PERIODS",
    "chain_to",
    "check_follows",
    "check_signers_file",
    "check_signing_key",
    "kind",
    "last_whole",
    "sign_bytes",
    "signature_path",
    "signer_of",
    "signer_of_bytes",
    "unlike",
]


def chain_to(previous: Path) -> tuple[ChainJson, WindowJson | None, dict[str, Any]]:
    """The link to the manifest before, the window it covered and its kind (see
    `_alike`); InputError if it is none."""
    if set_manifest(previous).is_file():
        previous = set_manifest(previous)  # an export, or a folder of parts: its manifest
    elif previous.is_dir() and (previous / OLD_MANIFEST_NAME).is_file():
        previous = previous / OLD_MANIFEST_NAME  # a folder of parts written before
    if not previous.name.endswith(".manifest.json") and previous.name != OLD_MANIFEST_NAME:
        raise InputError(
            f"--chain {previous}: not a manifest (a name ending .manifest.json, or an older "
            f"partitioned export's {OLD_MANIFEST_NAME})",
            hint="give the manifest of the previous export: --chain audit-2026-11-24.csv"
            ".manifest.json",
        )
    try:
        data = previous.read_bytes()
    except OSError as error:
        raise InputError(f"--chain {previous}: {error.strerror}") from None
    try:
        loaded = (
            SetManifest.load(previous)
            if set_of_manifest(previous) is not None
            else Manifest.load(previous)
        )
    except VerifyError as damaged:
        raise InputError(f"--chain {previous}: {damaged.message}") from None
    link: ChainJson = {
        "previous": hashlib.sha256(data).hexdigest(),
        "previousName": previous.name,
    }
    return link, loaded.window, kind(loaded.query, loaded.api, loaded.fmt)


def check_follows(previous: Path, before: WindowJson | None, since_ms: int | None) -> None:
    """Refuse an export that would leave a gap after, or overlap, the one it chains to."""
    if before is None:
        return  # made before windows were recorded: `verify --chain` says what it can
    expected = before["untilMs"] + 1
    if since_ms == expected:
        return
    from usage_cli.columns import iso_ms

    start = "with no start" if since_ms is None else f"at {iso_ms(since_ms)}"
    raise InputError(
        f"--chain {previous}: that export ends at {before['until']}, so this one must start "
        f"at {iso_ms(expected)}, not {start}: the series would have "
        + ("an overlap" if since_ms is not None and since_ms < expected else "a gap"),
        hint=f"use --since {iso_ms(expected)}, or --window with the same period each run",
    )


def last_whole(period: str, now: datetime) -> tuple[str, str]:
    """`--since` and `--until` of the last whole hour, day or month before `now`, in UTC."""
    now = now.astimezone(UTC)
    if period == "hour":
        end = now.replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(hours=1)
    elif period == "day":
        end = now.replace(hour=0, minute=0, second=0, microsecond=0)
        start = end - timedelta(days=1)
    else:
        end = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        start = (end - timedelta(days=1)).replace(day=1)
    last = end - timedelta(milliseconds=1)
    return _text(start), _text(last)


def _text(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
