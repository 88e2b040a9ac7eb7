"""Signed checkpoints: key outside the database, exported files, skipped when nothing changed,
run by the beat schedule, pluggable store."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.management import call_command

from apps.core.audit import checkpoints
from apps.core.audit.hashing import merkle_leaf, merkle_proof, merkle_root, merkle_root_from_proof
from apps.core.audit.services import audit_event_record
from apps.core.models import AuditChainHead, AuditCheckpoint, chain_key
from apps.core.tasks import audit_checkpoint_task
from apps.core.tenancy import unscoped


def db_heads() -> dict[str, list[Any]]:
    with unscoped(reason="test"):
        return {
            c: [s, h]
            for c, s, h in AuditChainHead.objects.values_list("chain", "last_seq", "last_hash")
        }


@pytest.mark.django_db
def test_checkpoint_signs_every_head_with_a_key_kept_outside_the_database(tenant_a, tenant_b):
    key_file = settings.AUDIT_SIGNING_KEY_FILE
    assert not key_file.exists()

    checkpoint = checkpoints.checkpoint_create()

    assert checkpoint is not None
    # The key was generated on first use, private to its owner, outside the database.
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    pem = key_file.read_bytes()
    assert b"PRIVATE KEY" in pem
    row = AuditCheckpoint.objects.get(pk=checkpoint.pk)
    assert "PRIVATE" not in json.dumps([row.heads, row.signature, row.key_id, row.merkle_root])
    # It signs the heads of every chain, summarised by a Merkle root.
    heads = db_heads()
    assert row.heads == heads
    assert chain_key(tenant_a.pk) in heads
    assert chain_key(tenant_b.pk) in heads
    assert row.merkle_root == merkle_root(heads)
    public = serialization.load_pem_public_key(checkpoints.public_key_pem().encode())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert row.key_id == hashlib.sha256(raw).hexdigest()
    public.verify(
        base64.b64decode(row.signature),
        checkpoints.statement_bytes(checkpoints.checkpoint_statement(row)),
    )


@pytest.mark.django_db
def test_checkpoint_is_exported_as_files_with_latest_json(tenant_a, operator):
    first = checkpoints.checkpoint_create()
    directory = settings.AUDIT_CHECKPOINT_DIR
    files = sorted(p.name for p in directory.glob("checkpoint-*.json"))
    assert len(files) == 1
    latest = json.loads((directory / "latest.json").read_text())
    assert latest == json.loads((directory / files[0]).read_text())
    assert latest["statement"]["merkle_root"] == first.merkle_root
    assert latest["signature"] == first.signature
    assert (directory / "public-key.pem").read_text() == checkpoints.public_key_pem()

    # Nothing changed: no new checkpoint, no new file.
    assert checkpoints.checkpoint_create() is None
    assert len(list(directory.glob("checkpoint-*.json"))) == 1

    audit_event_record(action="test.after_checkpoint", actor=operator, tenant=tenant_a)
    second = checkpoints.checkpoint_create()
    assert second is not None
    assert second.merkle_root != first.merkle_root
    assert len(list(directory.glob("checkpoint-*.json"))) == 2
    latest = json.loads((directory / "latest.json").read_text())
    assert latest["statement"]["merkle_root"] == second.merkle_root
    assert (
        latest["statement"]["heads"][chain_key(tenant_a.pk)] == db_heads()[chain_key(tenant_a.pk)]
    )


@pytest.mark.django_db
def test_the_key_is_reused_across_checkpoints(tenant_a, operator):
    first = checkpoints.checkpoint_create()
    pem = settings.AUDIT_SIGNING_KEY_FILE.read_bytes()
    checkpoints._key_cache.clear()  # a new process
    audit_event_record(action="test.more", actor=operator, tenant=tenant_a)
    second = checkpoints.checkpoint_create()
    assert settings.AUDIT_SIGNING_KEY_FILE.read_bytes() == pem
    assert second.key_id == first.key_id


@pytest.mark.django_db
def test_nothing_to_sign_on_an_empty_log():
    assert checkpoints.checkpoint_create() is None
    assert not AuditCheckpoint.objects.exists()


@pytest.mark.django_db
def test_beat_schedule_runs_the_checkpoint_task(tenant_a):
    schedule = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert schedule["task"] == audit_checkpoint_task.name
    from config.celery_app import app

    assert audit_checkpoint_task.name in app.tasks

    result = audit_checkpoint_task.apply().get()

    assert result == AuditCheckpoint.objects.get().merkle_root
    assert (settings.AUDIT_CHECKPOINT_DIR / "latest.json").exists()
    assert audit_checkpoint_task.apply().get() is None  # nothing changed since


class MemoryStore:
    documents: list[dict[str, Any]] = []

    def save(self, document: dict[str, Any]) -> str:
        self.documents.append(document)
        return f"memory:{len(self.documents)}"

    def latest(self) -> dict[str, Any] | None:
        return self.documents[-1] if self.documents else None


class BrokenStore(MemoryStore):
    def save(self, document: dict[str, Any]) -> str:
        raise OSError("bucket unreachable")


@pytest.mark.django_db
def test_store_is_pluggable_and_verify_reads_from_it(settings, tenant_a, capsys):
    settings.AUDIT_CHECKPOINT_STORE = "tests.core.test_checkpoints.MemoryStore"
    MemoryStore.documents = []
    checkpoint = checkpoints.checkpoint_create()
    assert [d["statement"]["merkle_root"] for d in MemoryStore.documents] == [
        checkpoint.merkle_root
    ]
    assert not (settings.AUDIT_CHECKPOINT_DIR / "latest.json").exists()
    call_command("audit_verify")
    assert "signature valid" in capsys.readouterr().out


@pytest.mark.django_db
def test_failed_export_leaves_no_checkpoint_row(settings, tenant_a):
    settings.AUDIT_CHECKPOINT_STORE = "tests.core.test_checkpoints.BrokenStore"
    with pytest.raises(OSError, match="bucket unreachable"):
        checkpoints.checkpoint_create()
    assert not AuditCheckpoint.objects.exists()


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_merkle_inclusion_proof_for_every_leaf(size):
    heads = {
        f"tenant:{i}": [i + 1, hashlib.sha256(str(i).encode()).hexdigest()] for i in range(size)
    }
    root = merkle_root(heads)
    for chain, (seq, head_hash) in heads.items():
        proof = merkle_proof(heads, chain)
        assert merkle_root_from_proof(merkle_leaf(chain, seq, head_hash), proof) == root
        assert merkle_root_from_proof(merkle_leaf(chain, seq + 1, head_hash), proof) != root
