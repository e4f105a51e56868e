"""A sync run's seal: the archive's bookkeeping, bound so that an edit to it shows.

Beside the records' hash chain, `usage verify` relies on bookkeeping to say
which records should exist: the stretches each source's syncs covered
(`segments`: their edges, the cursor to go on from, whether one reaches the
end of the list), the sources (labels, API, user), and each run's figures. A
sync seals them in the same transaction as every change it makes to them: the
digest of each part, and of the seal of the run before. `usage verify`
recomputes the newest run's seal from the file and names the part that
differs.

There is no secret in it: it shows an edit made with a SQL shell (a stretch
marked as the end of the list, which would hide a gap), not one made by
someone who recomputes the seal too. For that, keep the head elsewhere
(`verify --expect-head`), or sign runs (`usage sync --sign`): a run's
signature is over its seal (`message`), which binds its figures (and so, by
its head, every record up to its last) and, through `previous`, every seal
before it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

# The parts of a seal, and how a person names them.
PARTS = {
    "stretches": "the stretches its syncs covered",
    "sources": "its sources (labels, API, user)",
    "run": "the run's own figures",
}


def _digest(rows: Any) -> str:
    text = json.dumps(rows, separators=(",", ":"), default=lambda value: value.hex())
    return hashlib.sha256(text.encode()).hexdigest()


def parts(db: sqlite3.Connection, run: int) -> dict[str, str]:
    """The digest of each part of the bookkeeping as the file holds it now."""
    stretches = db.execute(
        "SELECT id, source, newest, oldest, cursor, bottom FROM segments ORDER BY id"
    ).fetchall()
    sources = db.execute("SELECT id, label, api_url, run_as FROM sources ORDER BY id").fetchall()
    figures = db.execute(
        "SELECT id, source, outcome, added, first_seq, last_seq, head FROM runs WHERE id = ?",
        (run,),
    ).fetchone()
    return {
        "stretches": _digest([list(row) for row in stretches]),
        "sources": _digest([list(row) for row in sources]),
        "run": _digest(None if figures is None else list(figures)),
    }


def previous(db: sqlite3.Connection, run: int) -> str | None:
    """The sha256 of the seal of the newest sealed run before `run` (None: there is none)."""
    row = db.execute(
        "SELECT seal FROM runs WHERE id < ? AND seal IS NOT NULL ORDER BY id DESC LIMIT 1",
        (run,),
    ).fetchone()
    return None if row is None else hashlib.sha256(row[0].encode()).hexdigest()


def seal(db: sqlite3.Connection, run: int) -> str:
    """Run `run`'s seal of the bookkeeping as it stands: JSON, as the file keeps it."""
    return json.dumps({"previous": previous(db, run), **parts(db, run)}, sort_keys=True)


def write(db: sqlite3.Connection, run: int) -> None:
    """Seal the bookkeeping for `run`, inside the transaction that changed it."""
    db.execute("UPDATE runs SET seal = ? WHERE id = ?", (seal(db, run), run))


def message(run: int, sealed: str) -> bytes:
    """What a run's signature is over: the run, and its seal's sha256."""
    digest = hashlib.sha256(sealed.encode()).hexdigest()
    return f"usage-audit archive: sync run {run}, seal sha256 {digest}\n".encode()


def to_sign(db: sqlite3.Connection, run: int) -> bytes:
    """The message for `run` as it stands (it is sealed at its end: sign after that)."""
    sealed = db.execute("SELECT seal FROM runs WHERE id = ?", (run,)).fetchone()[0]
    return message(run, sealed)


def keep_signature(db: sqlite3.Connection, run: int, signature: str) -> None:
    db.execute("UPDATE runs SET signature = ? WHERE id = ?", (signature, run))


def anchor(chain: bytes, sealed: str | None) -> bytes:
    """The head a sync prints and `verify --expect-head` holds an archive to: the
    records' chain head bound to the run's seal of the bookkeeping. Kept elsewhere,
    it proves the records up to it and the sources and stretches as that run left
    them: a label swapped or a gap closed by hand, sealed again or not, no longer
    leads to it. A run from before seals has none: its head is the chain's alone."""
    if sealed is None:
        return chain
    # Tagged: never the same input as a chain value's (a value, a NUL, a header).
    sealed_digest = hashlib.sha256(sealed.encode()).digest()
    return hashlib.sha256(b"usage anchor\x01" + chain + sealed_digest).digest()
