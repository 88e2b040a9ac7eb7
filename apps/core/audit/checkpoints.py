"""Signed checkpoints of every audit chain's head, exported off the database.

A hash chain that whoever holds the database can recompute proves nothing on its own. A
checkpoint states the head (seq, hash) of every chain at one moment, summarised by a Merkle
root, and signs that statement with an Ed25519 key that is *not* in the database
(settings.AUDIT_SIGNING_KEY_FILE). The checkpoint is stored as a row and exported through a
pluggable store (settings.AUDIT_CHECKPOINT_STORE; a file drop by default), so rewriting or
truncating history before the latest checkpoint is detected by `manage.py audit_verify` and by
a customer verifying their own chain (docs/audit.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import connection, transaction
from django.utils.module_loading import import_string

from apps.core.audit.hashing import canonical_json, merkle_root
from apps.core.models import AuditChainHead, AuditCheckpoint
from apps.core.tenancy import unscoped

logger = logging.getLogger("custos.audit")

FORMAT = "custos-audit-checkpoint/1"
_ADVISORY_LOCK = 0x637573746F73  # "custos": one checkpointer at a time on PostgreSQL


class CheckpointError(RuntimeError):
    """A checkpoint could not be signed, stored or read."""


# --- The signing key (outside the database) -------------------------------------------------

_key_lock = threading.Lock()
_key_cache: dict[str, Ed25519PrivateKey] = {}


def _key_path() -> Path:
    return Path(settings.AUDIT_SIGNING_KEY_FILE)


def signing_key() -> Ed25519PrivateKey:
    """Load the key from AUDIT_SIGNING_KEY_FILE; on first use create it (0600, directory 0700)."""
    path = _key_path()
    cache_key = str(path)
    with _key_lock:
        cached = _key_cache.get(cache_key)
        if cached is not None and path.exists():
            return cached
        if not path.exists():
            _generate_key(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            logger.warning(
                "audit signing key %s is readable by group/others (mode %o); use 0600", path, mode
            )
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise CheckpointError(f"{path} does not hold an Ed25519 private key")
        _key_cache[cache_key] = key
        return key


def _generate_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    logger.warning("created a new audit signing key at %s; back it up off this host", path)


def public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def public_key_pem(key: Ed25519PublicKey | None = None) -> str:
    key = key or public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """key_id: sha256 of the raw 32-byte public key, hex."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public_key_pem(pem: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError("not an Ed25519 public key")
    return key


# --- Statements ------------------------------------------------------------------------------


def statement_bytes(statement: dict[str, Any]) -> bytes:
    """The exact bytes that are signed: canonical JSON of {heads, merkle_root, created_at,
    key_id}."""
    return canonical_json(
        {
            "heads": statement["heads"],
            "merkle_root": statement["merkle_root"],
            "created_at": statement["created_at"],
            "key_id": statement["key_id"],
        }
    ).encode()


def signature_valid(statement: dict[str, Any], signature_b64: str, key: Ed25519PublicKey) -> bool:
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), statement_bytes(statement))
    except (InvalidSignature, ValueError):
        return False
    return True


def checkpoint_document(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """The exported form of a checkpoint: the signed statement, its signature, the public key."""
    return {
        "format": FORMAT,
        "statement": checkpoint_statement(checkpoint),
        "signature": checkpoint.signature,
        "public_key": public_key_pem(),
    }


def checkpoint_statement(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {
        "heads": checkpoint.heads,
        "merkle_root": checkpoint.merkle_root,
        "created_at": _timestamp(checkpoint.created_at),
        "key_id": checkpoint.key_id,
    }


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


# --- Stores ----------------------------------------------------------------------------------


class CheckpointStore(Protocol):
    """Where checkpoints go off the database. An object-storage store (ideally with a
    write-once retention lock) implements the same two methods."""

    def save(self, document: dict[str, Any]) -> str:
        """Store one checkpoint document and make it the latest; return where it went."""
        ...

    def latest(self) -> dict[str, Any] | None:
        """The most recently saved document, or None."""
        ...


class FileCheckpointStore:
    """One JSON file per checkpoint plus `latest.json` in settings.AUDIT_CHECKPOINT_DIR
    (ideally a mount that the database host cannot write, synced off the host)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory or settings.AUDIT_CHECKPOINT_DIR)

    @staticmethod
    def file_name(document: dict[str, Any]) -> str:
        statement = document["statement"]
        stamp = "".join(ch for ch in statement["created_at"][:26] if ch.isdigit())
        return f"checkpoint-{stamp}-{statement['merkle_root'][:12]}.json"

    def _write(self, name: str, data: bytes) -> Path:
        target = self.directory / name
        tmp = self.directory / f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        return target

    def save(self, document: dict[str, Any]) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
        path = self._write(self.file_name(document), data)
        self._write("latest.json", data)
        self._write("public-key.pem", document["public_key"].encode())
        return str(path)

    def latest(self) -> dict[str, Any] | None:
        path = self.directory / "latest.json"
        try:
            document: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"cannot read {path}: {exc}") from exc
        return document


def checkpoint_store() -> CheckpointStore:
    store_class = import_string(settings.AUDIT_CHECKPOINT_STORE)
    store: CheckpointStore = store_class()
    return store


# --- Creating a checkpoint ---------------------------------------------------------------------


def _current_heads() -> dict[str, list[Any]]:
    # One statement: a consistent snapshot of every head.
    rows = AuditChainHead.objects.filter(last_seq__gt=0).values_list(
        "chain", "last_seq", "last_hash"
    )
    return {chain: [seq, head_hash] for chain, seq, head_hash in rows}


def checkpoint_latest() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-created_at", "-id").first()


def checkpoint_create() -> AuditCheckpoint | None:
    """Sign and export the heads of every chain; None when nothing changed since the last
    checkpoint (or there is nothing to sign yet). Idempotent, safe to run concurrently."""
    key = signing_key()
    store = checkpoint_store()
    with unscoped(reason="audit checkpoint over every chain"), transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK])
        heads = _current_heads()
        if not heads:
            return None
        previous = checkpoint_latest()
        if previous is not None and previous.heads == heads:
            return None
        created_at = datetime.now(tz=UTC)
        root = merkle_root(heads)
        statement: dict[str, Any] = {
            "heads": heads,
            "merkle_root": root,
            "created_at": _timestamp(created_at),
            "key_id": key_fingerprint(key.public_key()),
        }
        signature = base64.b64encode(key.sign(statement_bytes(statement))).decode()
        checkpoint = AuditCheckpoint.objects.create(
            created_at=created_at,
            heads=heads,
            merkle_root=root,
            key_id=statement["key_id"],
            signature=signature,
        )
        # Exported inside the transaction: if the export fails, no row claims a checkpoint
        # that nobody off the database has.
        location = store.save(checkpoint_document(checkpoint))
    logger.info(
        "audit checkpoint %s over %d chains -> %s", checkpoint.merkle_root, len(heads), location
    )
    return checkpoint
