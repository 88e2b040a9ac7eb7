"""Tampering with the audit log is refused by PostgreSQL, and whatever an owner who switches the
trigger off does anyway — edit, delete, reorder, truncate, rewrite, forge a checkpoint — makes
`audit_verify` fail and name the broken chain and seq.

The detection tests run on SQLite too (no trigger there: the raw SQL just runs); the refusal
tests need PostgreSQL."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.core.audit import checkpoints
from apps.core.audit.hashing import GENESIS_HASH, hash_of_row
from apps.core.audit.services import audit_event_record
from apps.core.audit.verify import audit_verify
from apps.core.models import AuditChainHead, AuditCheckpoint, AuditEvent, chain_key
from apps.core.tenancy import unscoped
from tests._ci import require_postgres

TRIGGER = "custos_audit_append_only"


@contextmanager
def as_owner_without_trigger() -> Iterator[Any]:
    """A cursor of the database owner with the append-only trigger switched off (what somebody
    who holds the database could do). Inside the test's transaction, so it is undone after."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.use_owner_role(True)
    try:
        with unscoped(reason="test: tamper as owner"), connection.cursor() as cursor:
            # Django's deferred FK checks would keep ALTER TABLE from running mid-transaction.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE core_auditevent DISABLE TRIGGER {TRIGGER}")
            yield cursor
            cursor.execute(f"ALTER TABLE core_auditevent ENABLE TRIGGER {TRIGGER}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    finally:
        connection.use_owner_role(False)


def verify() -> tuple[bool, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
    except CommandError as exc:
        return False, f"{out.getvalue()}\n{err.getvalue()}\n{exc}"
    return True, out.getvalue()


def events(chain: str) -> list[AuditEvent]:
    with unscoped(reason="test"):
        return list(AuditEvent.objects.all().for_chain(chain))


@pytest.fixture
def signed_log(tenant_a, tenant_b, operator) -> str:
    """Two tenant chains and the platform chain, with a signed, exported checkpoint."""
    for i in range(6):
        audit_event_record(action="test.work", actor=operator, tenant=tenant_a, details={"i": i})
        audit_event_record(action="test.work", actor=operator, tenant=tenant_b, details={"i": i})
    audit_event_record(action="test.platform", actor=operator, use_current_tenant=False)
    assert checkpoints.checkpoint_create() is not None
    ok, output = verify()
    assert ok, output
    return chain_key(tenant_a.pk)


# --- Refused outright (PostgreSQL) ------------------------------------------------------------


def _require_postgres() -> None:
    require_postgres()  # the append-only trigger and role grants exist on PostgreSQL only


@pytest.mark.postgres
@pytest.mark.django_db
def test_application_role_cannot_update_or_delete_events(signed_log):
    _require_postgres()
    target = events(signed_log)[2]
    with unscoped(reason="test"):
        with (
            pytest.raises(DatabaseError, match="append-only: UPDATE refused"),
            transaction.atomic(),
        ):
            AuditEvent.objects.filter(pk=target.pk).update(action="login.succeeded")
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            AuditEvent.objects.filter(pk=target.pk).delete()
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditCheckpoint.objects.all().update(signature="forged")
    assert events(signed_log)[2].action == target.action
    assert verify()[0]


@pytest.mark.postgres
@pytest.mark.django_db
def test_trigger_refuses_the_owner_too_while_it_is_on(signed_log):
    _require_postgres()
    target = events(signed_log)[2]
    connection.use_owner_role(True)
    try:
        with (
            unscoped(reason="test"),
            pytest.raises(DatabaseError, match="append-only: DELETE refused"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM core_auditevent WHERE id = %s", [target.pk])
    finally:
        connection.use_owner_role(False)
    assert len(events(signed_log)) >= 3


@pytest.mark.postgres
@pytest.mark.django_db
def test_pseudonymisation_is_the_one_permitted_update_and_still_verifies(signed_log):
    _require_postgres()
    target = events(signed_log)[1]
    with unscoped(reason="test: retention"):
        changed = AuditEvent.objects.filter(pk=target.pk, pseudonymised_at=None).update(
            personal={"actor": "pseudonym:7f3a", "target": "", "ip": "", "user_agent": ""},
            personal_salt="",
            pseudonymised_at=timezone.now(),
        )
    assert changed == 1
    ok, output = verify()
    assert ok, output
    assert "1 pseudonymised" in output


# --- Detected (every database) ----------------------------------------------------------------


@pytest.mark.django_db
def test_edited_event_is_named(signed_log):
    target = events(signed_log)[3]
    with as_owner_without_trigger() as cursor:
        cursor.execute(
            "UPDATE core_auditevent SET action = 'login.succeeded' WHERE id = %s", [target.pk]
        )
    ok, output = verify()
    assert not ok
    assert f"chain {signed_log} seq {target.seq}: event altered" in output


@pytest.mark.django_db
def test_edited_personal_details_are_named(signed_log):
    target = events(signed_log)[2]
    personal = dict(target.personal, ip="203.0.113.9")
    with as_owner_without_trigger() as cursor:
        cursor.execute(
            "UPDATE core_auditevent SET personal = %s WHERE id = %s",
            [json.dumps(personal), target.pk],
        )
    ok, output = verify()
    assert not ok
    assert f"chain {signed_log} seq {target.seq}: personal details altered" in output


@pytest.mark.django_db
def test_deleted_event_is_named(signed_log):
    target = events(signed_log)[4]
    with as_owner_without_trigger() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE id = %s", [target.pk])
    ok, output = verify()
    assert not ok
    assert f"chain {signed_log} seq {target.seq}: event missing" in output


@pytest.mark.django_db
def test_reordered_events_are_named(signed_log):
    first, second = events(signed_log)[2:4]
    with as_owner_without_trigger() as cursor:
        cursor.execute("UPDATE core_auditevent SET seq = -1 WHERE id = %s", [first.pk])
        cursor.execute("UPDATE core_auditevent SET seq = %s WHERE id = %s", [first.seq, second.pk])
        cursor.execute("UPDATE core_auditevent SET seq = %s WHERE id = %s", [second.seq, first.pk])
    ok, output = verify()
    assert not ok
    assert f"chain {signed_log} seq {first.seq}: " in output


@pytest.mark.django_db
def test_truncated_newest_events_are_detected_even_with_the_head_row_moved_back(signed_log):
    rows = events(signed_log)
    keep = rows[:-2]
    with as_owner_without_trigger() as cursor:
        cursor.execute(
            "DELETE FROM core_auditevent WHERE chain = %s AND seq > %s", [signed_log, keep[-1].seq]
        )
        # A careful attacker also moves the head row back, so the chain itself looks whole.
        cursor.execute(
            "UPDATE core_auditchainhead SET last_seq = %s, last_hash = %s WHERE chain = %s",
            [keep[-1].seq, keep[-1].hash, signed_log],
        )
    ok, output = verify()
    assert not ok
    assert (
        f"chain {signed_log} seq {keep[-1].seq + 1}: chain ends at seq {keep[-1].seq} "
        f"but the checkpoint of"
    ) in output
    assert "newest events removed" in output


@pytest.mark.django_db
def test_truncation_without_checkpoint_is_caught_by_the_head_row(signed_log):
    rows = events(signed_log)
    audit_event_record(action="test.after_checkpoint", tenant=rows[0].tenant_id)
    with as_owner_without_trigger() as cursor:
        cursor.execute(
            "DELETE FROM core_auditevent WHERE chain = %s AND seq = %s",
            [signed_log, rows[-1].seq + 1],
        )
    ok, output = verify()
    assert not ok
    assert f"chain {signed_log} seq {rows[-1].seq + 1}: chain ends at seq {rows[-1].seq}" in output
    assert "head row" in output


@pytest.mark.django_db
def test_consistently_rewritten_history_is_caught_by_the_signed_checkpoint(signed_log):
    """Whoever holds the database can recompute every hash after an edit and move the head
    row: only the signed checkpoint, kept off the database, gives it away."""
    rows = events(signed_log)
    prev = GENESIS_HASH
    with as_owner_without_trigger() as cursor:
        for event in rows:
            if event.seq == 2:
                event.action = "login.succeeded"
            event.prev_hash = prev
            event.hash = hash_of_row(event, prev)
            cursor.execute(
                "UPDATE core_auditevent SET action = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [event.action, event.prev_hash, event.hash, event.pk],
            )
            prev = event.hash
        cursor.execute(
            "UPDATE core_auditchainhead SET last_hash = %s WHERE chain = %s", [prev, signed_log]
        )
    ok, output = verify()
    assert not ok
    assert f"chain {signed_log} seq {rows[-1].seq}: hash differs from the one signed" in output


@pytest.mark.django_db
def test_a_whole_missing_chain_is_detected(signed_log, tenant_b):
    chain_b = chain_key(tenant_b.pk)
    with as_owner_without_trigger() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE chain = %s", [chain_b])
        cursor.execute("DELETE FROM core_auditchainhead WHERE chain = %s", [chain_b])
    ok, output = verify()
    assert not ok
    assert f"chain {chain_b} seq 1: chain ends at seq 0" in output
    assert "chain missing entirely" in output


# --- Forged or missing checkpoints --------------------------------------------------------------


def _latest_path():
    return settings.AUDIT_CHECKPOINT_DIR / "latest.json"


@pytest.mark.django_db
def test_forged_checkpoint_signature_is_detected(signed_log):
    document = json.loads(_latest_path().read_text())
    # Claim a shorter chain (to cover a truncation) but keep the old signature.
    document["statement"]["heads"][signed_log][0] -= 1
    _latest_path().write_text(json.dumps(document))
    ok, output = verify()
    assert not ok
    assert "chain checkpoint: signature of the checkpoint" in output
    assert "invalid" in output


@pytest.mark.django_db
def test_checkpoint_signed_with_another_key_is_rejected(signed_log):
    document = json.loads(_latest_path().read_text())
    intruder = Ed25519PrivateKey.generate()
    document["statement"]["key_id"] = checkpoints.key_fingerprint(intruder.public_key())
    document["signature"] = base64.b64encode(
        intruder.sign(checkpoints.statement_bytes(document["statement"]))
    ).decode()
    document["public_key"] = checkpoints.public_key_pem(intruder.public_key())
    _latest_path().write_text(json.dumps(document))
    ok, output = verify()
    assert not ok
    assert "not by ours" in output


@pytest.mark.django_db
def test_removed_checkpoint_export_is_detected(signed_log):
    _latest_path().unlink()
    ok, output = verify()
    assert not ok
    assert "the checkpoint store has none" in output


@pytest.mark.django_db
def test_rolled_back_checkpoint_store_is_detected(signed_log, tenant_a, operator):
    old = _latest_path().read_text()
    audit_event_record(action="test.more", actor=operator, tenant=tenant_a)
    assert checkpoints.checkpoint_create() is not None
    _latest_path().write_text(old)  # an older, genuinely signed checkpoint
    ok, output = verify()
    assert not ok
    assert "the checkpoint store is behind the database" in output


@pytest.mark.django_db
def test_verify_options_select_chains(signed_log, tenant_a, tenant_b):
    target = events(chain_key(tenant_b.pk))[1]
    with as_owner_without_trigger() as cursor:
        cursor.execute("UPDATE core_auditevent SET outcome = 'failure' WHERE id = %s", [target.pk])
    out = StringIO()
    call_command("audit_verify", tenant=["acme"], stdout=out)
    assert "Audit log verified: OK" in out.getvalue()
    with pytest.raises(CommandError, match=f"chain {target.chain} seq {target.seq}"):
        call_command("audit_verify", chain=[target.chain], stdout=StringIO(), stderr=StringIO())
    with unscoped(reason="test"):
        assert AuditChainHead.objects.filter(chain=signed_log).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_verification_names_the_broken_link_too(tenant_a, operator):
    """Big logs are verified by worker processes in one pass; a chain that fails that pass is
    walked exactly, so the report still names the first broken link."""
    _require_postgres()
    for i in range(30):
        audit_event_record(action="test.work", actor=operator, tenant=tenant_a, details={"i": i})
    checkpoints.checkpoint_create()
    chain = chain_key(tenant_a.pk)
    target = events(chain)[10]
    connection.use_owner_role(True)
    try:
        with unscoped(reason="test: tamper as owner"), connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE core_auditevent DISABLE TRIGGER {TRIGGER}")
            cursor.execute("UPDATE core_auditevent SET target_id = 'x' WHERE id = %s", [target.pk])
            cursor.execute(f"ALTER TABLE core_auditevent ENABLE TRIGGER {TRIGGER}")
    finally:
        connection.use_owner_role(False)
    report = audit_verify(jobs=2, parallel_threshold=0, batch_size=7)
    assert report.workers == (2 if threading.active_count() == 1 else 1)
    assert [str(p) for p in report.problems] == [
        f"chain {chain} seq {target.seq}: event altered: its hash does not recompute"
    ]
