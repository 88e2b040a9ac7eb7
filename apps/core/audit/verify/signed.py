"""The latest exported checkpoint: signature, key, Merkle root, and whether the store kept up."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

from apps.core.audit import checkpoints as cp
from apps.core.audit.hashing import merkle_root
from apps.core.audit.verify.common import CHECKPOINT, Problem, VerifyReport


def verification_key(path: str | None = None) -> Ed25519PublicKey | None:
    """The public key checkpoints are checked with: an explicit PEM file, else the one derived
    from the signing key file. Never creates a key (verifying must not mint a new identity)."""
    if path:
        with open(path, "rb") as handle:
            return cp.load_public_key_pem(handle.read())
    key_file = settings.AUDIT_SIGNING_KEY_FILE
    if not key_file or not Path(key_file).exists():
        return None
    return cp.signing_key().public_key()


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def check_checkpoint(report: VerifyReport, key: Ed25519PublicKey | None) -> dict[str, Any]:
    """Validate the latest exported checkpoint; return its heads ({} if there is none)."""
    document = cp.checkpoint_store().latest()
    db_latest = cp.checkpoint_latest()
    if document is None:
        if db_latest is not None:
            report.problems.append(
                Problem(
                    CHECKPOINT,
                    None,
                    f"the database records a checkpoint of {db_latest.created_at.isoformat()} "
                    "but the checkpoint store has none (export lost or removed)",
                )
            )
        else:
            report.notes.append("no checkpoint yet: only the hash chains were checked")
        return {}
    try:
        statement = document["statement"]
        signature = document["signature"]
        heads: dict[str, Any] = statement["heads"]
        signed_at = _parse_time(statement["created_at"])
    except (KeyError, TypeError, ValueError):
        report.problems.append(Problem(CHECKPOINT, None, "the exported checkpoint is malformed"))
        return {}
    if key is None:
        report.problems.append(
            Problem(
                CHECKPOINT,
                None,
                "no public key to check the checkpoint signature with "
                "(AUDIT_SIGNING_KEY_FILE missing; pass --public-key)",
            )
        )
        return {}
    if statement.get("key_id") != cp.key_fingerprint(key):
        report.problems.append(
            Problem(
                CHECKPOINT,
                None,
                f"checkpoint of {statement['created_at']} was signed by key "
                f"{str(statement.get('key_id'))[:16]}…, not by ours "
                f"({cp.key_fingerprint(key)[:16]}…)",
            )
        )
        return {}
    if not cp.signature_valid(statement, signature, key):
        report.problems.append(
            Problem(
                CHECKPOINT,
                None,
                f"signature of the checkpoint of {statement['created_at']} is invalid "
                "(forged or altered checkpoint)",
            )
        )
        return {}
    if merkle_root(heads) != statement.get("merkle_root"):
        report.problems.append(
            Problem(CHECKPOINT, None, "the signed Merkle root does not match the signed heads")
        )
        return {}
    if (
        db_latest is not None
        and db_latest.created_at > signed_at
        and cp.signature_valid(cp.checkpoint_statement(db_latest), db_latest.signature, key)
    ):
        report.problems.append(
            Problem(
                CHECKPOINT,
                None,
                f"the checkpoint store is behind the database: the checkpoint of "
                f"{db_latest.created_at.isoformat()} is missing from it (rolled back?)",
            )
        )
    report.checkpoint = statement
    return heads
