"""Signed manifests, with the SSH keys people already have: `ssh-keygen -Y sign/verify`.

A signature is `MANIFEST.sig` beside the manifest, made in the `usage-audit`
namespace (a signature made for git or for anything else does not verify
here). Checking one needs an allowed-signers file (`ssh-keygen(1)`, ALLOWED
SIGNERS): each line a principal, then a public key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from usage_cli.errors import InputError, VerifyError
from usage_cli.evidence._agent import Agent
from usage_cli.export._target import signature_path

NAMESPACE = "usage-audit"
# ssh-keygen answers at once, or waits for a passphrase nobody can type.
_TIMEOUT = 60.0
# The run's own agent, holding a passphrase key once it was asked for (see `_agent`).
_agent: Agent | None = None


def _ssh_keygen(flag: str) -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise InputError(
            f"{flag} needs ssh-keygen (OpenSSH 8.2 or newer), which is not on PATH",
            hint="install OpenSSH (apt install openssh-client, brew install openssh)",
        )
    return found


def _run(command: list[str], *, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """`command`, never prompting: a passphrase was asked before the run, into the agent."""
    return subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        timeout=_TIMEOUT,
        # Never a prompt on the terminal: a passphrase is refused before the run.
        stdin=None if stdin is not None else subprocess.DEVNULL,
        env={
            **os.environ,
            "SSH_ASKPASS_REQUIRE": "never",
            **({} if _agent is None else _agent.environment),
        },
        check=False,
    )


def _said(done: subprocess.CompletedProcess[bytes]) -> str:
    text = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return text[-1] if text else f"exit {done.returncode}"


def check_signing_key(key: Path, *, interactive: bool) -> None:
    """Refuse, before any request, a key that `sign` could not use."""
    tool = _ssh_keygen("--sign")
    if not key.is_file():
        raise InputError(f"--sign {key}: no such key file")
    if key.read_bytes()[:80].split(b" ")[0].startswith((b"ssh-", b"ecdsa-", b"sk-")):
        raise InputError(
            f"--sign {key}: this is a public key; sign with the private key beside it",
            hint=f"--sign {key.with_suffix('')}" if key.suffix == ".pub" else None,
        )
    # Prints the public half of a private key with no passphrase; fails otherwise.
    done = _run([tool, "-y", "-P", "", "-f", str(key)])
    if done.returncode == 0:
        return
    said = _said(done)
    if "passphrase" in said.lower():
        if interactive and _unlock(key):
            return
        if interactive:
            # No agent to hold it: asked now, on the terminal, so a wrong one fails
            # before any request (ssh-keygen asks again when it signs, after the export).
            asked = subprocess.run(
                [tool, "-y", "-f", str(key)], capture_output=True, timeout=300, check=False
            )
            if asked.returncode != 0:
                raise InputError(f"--sign {key}: {_said(asked)}")
            return
        raise InputError(
            f"--sign {key}: the key has a passphrase, and this run cannot ask for it",
            hint="in CI use a key made for signing, without a passphrase (ssh-keygen -t "
            "ed25519 -N '' -f audit_key), kept as a secret",
        )
    raise InputError(f"--sign {key}: not a usable SSH private key ({said})")


def _unlock(key: Path) -> bool:
    """Ask for `key`'s passphrase once, into an agent of this run's; False when there is
    no agent to hold it. InputError when the passphrase is refused."""
    global _agent
    if _agent is None:
        _agent = Agent.start()
        if _agent is None:
            return False
    added = _agent.add(key)
    if added.returncode != 0:
        raise InputError(f"--sign {key}: the passphrase was not accepted ({_said(added)})")
    return True


def sign_bytes(data: bytes, key: Path, *, what: str) -> str:
    """A signature of `data` by `key` (the armored text ssh-keygen writes): for what has
    no file of its own, such as a sync run. InputError naming `what` when it fails."""
    tool = _ssh_keygen("--sign")
    done = _run([tool, "-Y", "sign", "-f", str(key), "-n", NAMESPACE], stdin=data)
    signature = done.stdout.decode("ascii", "replace")
    if done.returncode != 0 or "BEGIN SSH SIGNATURE" not in signature:
        raise InputError(f"cannot sign {what} with {key}: {_said(done)}")
    return signature


def check_signers_file(allowed: Path) -> None:
    _ssh_keygen("--signers")
    if not allowed.is_file():
        raise InputError(f"--signers {allowed}: no such allowed-signers file")


def signer_of(manifest: Path, allowed: Path) -> str:
    """Who signed `manifest`, by the allowed-signers file; VerifyError when nobody allowed did."""
    signature = signature_path(manifest)
    if not signature.is_file():
        raise VerifyError(f"{manifest} is not signed (no {signature.name})")
    return _signer(manifest.read_bytes(), signature, allowed, str(manifest), "the manifest")


def signer_of_bytes(data: bytes, signature: str, allowed: Path, *, what: str) -> str:
    """Who signed `data` (with `signature`, as `sign_bytes` made it), by the allowed-signers
    file; VerifyError naming `what` when nobody allowed did."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="usage-signature-") as folder:
        kept = Path(folder) / "signature.sig"
        kept.write_text(signature, encoding="ascii", errors="replace")
        return _signer(data, kept, allowed, what, "it")


def _signer(data: bytes, signature: Path, allowed: Path, what: str, it: str) -> str:
    tool = _ssh_keygen("--signers")
    found = _run([tool, "-Y", "find-principals", "-s", str(signature), "-f", str(allowed)])
    # One principal a line: a principal may hold spaces (ssh-keygen allows them).
    principals = [
        line.strip()
        for line in found.stdout.decode("utf-8", "replace").splitlines()
        if line.strip()
    ]
    if found.returncode != 0 or not principals:
        raise VerifyError(f"{what} is signed by a key that {allowed} does not allow")
    for principal in principals:
        checked = _run(
            [
                tool,
                "-Y",
                "verify",
                "-f",
                str(allowed),
                "-I",
                principal,
                "-n",
                NAMESPACE,
                "-s",
                str(signature),
            ],
            stdin=data,
        )
        if checked.returncode == 0:
            return principal
    raise VerifyError(
        f"the signature of {what} does not verify: {it} was changed since, or it "
        f"was signed for another purpose (not the {NAMESPACE} namespace)"
    )
