"""The report of an export held to its manifest, a file or a partitioned folder alike.

Both hold the export's path and manifest, its records and ids; both end
`usage verify` the same way (`ok: NAME matches its manifest (…)`, or `NAME
does not match its manifest: …`); both may be vouched for by a signed
manifest (`--signers`), checked once the export matches it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from usage_cli.errors import VerifyError
from usage_cli.evidence._sign import signer_of
from usage_cli.export import Manifest, SetManifest
from usage_cli.verify._lines import listed, summed

M = TypeVar("M", Manifest, SetManifest)


class _Held(Protocol):
    path: Path
    typed: str | None
    signer: str | None
    refused: str | None

    @property
    def problems(self) -> list[str]: ...

    @property
    def proof(self) -> str: ...

    @property
    def manifest_file(self) -> Path: ...


@dataclass
class HeldToManifest(Generic[M]):
    """What a file's and a folder's report share: the export, its manifest, the verdict."""

    path: Path
    manifest: M
    records: int = 0
    # Every record id in it: a chain of exports checks none is in two.
    ids: set[str] = field(default_factory=set, repr=False)
    # The path as it was typed: `usage verify set/` answers about `set/`.
    typed: str | None = None
    # Who signed the manifest, by the allowed-signers file (`--signers`).
    signer: str | None = None
    # Why the manifest's signature does not vouch for it: the export fails.
    refused: str | None = None

    @property
    def hint(self) -> str | None:
        return None

    @property
    def ok(self: _Held) -> bool:
        return not self.problems and self.refused is None

    @property
    def notes(self) -> list[str]:
        return []

    def problem_lines(self: _Held) -> list[str]:
        return listed(self.problems)

    def verdict(self: _Held) -> str:
        shown = self.typed or str(self.path)
        if self.problems:
            return f"{shown} does not match its manifest: " + summed(self.problems)
        if self.refused is not None:
            return self.refused
        signed = "" if self.signer is None else f"; signed by {self.signer}"
        return f"ok: {shown} matches its manifest ({self.proof}{signed})"

    def check_signature(self: _Held, allowed: Path) -> None:
        """Name who signed the manifest; a refusal fails the report."""
        try:
            self.signer = signer_of(self.manifest_file, allowed)
        except VerifyError as refused:
            self.refused = refused.message
