"""Appending to the audit log.

`audit_event_record` writes one event in the caller's transaction (a rolled-back change leaves
no event). The chain head row is locked for the append, so the sequence is gapless and two
writers cannot fork the chain; each tenant has its own chain, so tenants never wait on each
other.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from apps.core.audit.hashing import (
    canonical_json,
    event_body_from_template,
    event_hash,
    event_hash_template,
    normalise,
    personal_digest,
    timestamp_text,
)
from apps.core.models import AuditChainHead, AuditEvent, chain_key
from apps.core.requestcontext import current_request_info
from apps.core.tenancy import current_tenant_id, unscoped


def _label(obj: Any) -> str:
    if obj is None:
        return ""
    return str(obj)[:200]


_HEAD_SQL = "SELECT id, last_seq, last_hash FROM core_auditchainhead WHERE chain = %s"
# PostgreSQL: one call locks the head, hashes, inserts the event and advances the head
# (migration core.0007), so a chain's lock is held for that call and the commit only; the time
# is taken under the lock, so it follows seq order. The hashed body comes from hashing.py.
_APPEND_SQL = (
    "SELECT event_id, event_seq, event_at, event_prev, event_hash FROM custos_audit_append("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)"
)


def _head_create(chain: str, tenant_id: int | None) -> None:
    AuditChainHead.objects.bulk_create(
        [AuditChainHead(chain=chain, tenant_id=tenant_id)], ignore_conflicts=True
    )


def _append_postgresql(values: dict[str, Any], personal: Any, salt: str) -> AuditEvent:
    head, tail = event_hash_template(**values)
    (chain, *rest) = values.values()
    with connection.cursor() as cursor:
        cursor.execute(_APPEND_SQL, [chain, head, tail, *rest, canonical_json(personal), salt])
        event_id, seq, occurred_at, prev_hash, own_hash = cursor.fetchone()
    event = AuditEvent(
        id=event_id,
        seq=seq,
        occurred_at=occurred_at,
        prev_hash=prev_hash,
        hash=own_hash,
        personal=personal,
        personal_salt=salt,
        **values,
    )
    event._state.adding = False
    event._state.db = connection.alias
    return event


def _lock_head(cursor: Any, chain: str, tenant_id: int | None) -> tuple[int, int, str]:
    """Lock the chain's head row (creating it on the chain's first event) and return
    (pk, last_seq, last_hash). Held until the caller's transaction ends: that is what makes the
    sequence gapless and the chain unforkable."""
    # SQLite has no row locks: its writers are serialised by the IMMEDIATE transaction.
    sql = _HEAD_SQL + (" FOR UPDATE" if connection.features.has_select_for_update else "")
    cursor.execute(sql, [chain])
    row = cursor.fetchone()
    if row is None:
        _head_create(chain, tenant_id)
        cursor.execute(sql, [chain])
        row = cursor.fetchone()
    return row


def audit_event_record(
    *,
    action: str,
    actor: Any = None,
    tenant: Any = None,
    target: Any = None,
    target_type: str = "",
    target_id: str | int = "",
    outcome: str = "success",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    on_behalf_of: Any = None,
    details: dict[str, Any] | None = None,
    use_current_tenant: bool = True,
) -> AuditEvent:
    """Append one event. `tenant` defaults to the current tenant context (pass
    `use_current_tenant=False` for a platform event inside a tenant request)."""
    if tenant is None and use_current_tenant:
        tenant_id = current_tenant_id()
    else:
        tenant_id = getattr(tenant, "pk", tenant)
    info = current_request_info()
    actor_id = getattr(actor, "pk", None) if actor is not None else None
    if target is not None and isinstance(target, models.Model):
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk or ""
    personal = normalise(
        {
            "actor": _label(actor) if actor_id is not None or actor else "",
            "target": _label(target),
            "ip": info.ip,
            "user_agent": info.user_agent[:300],
            "before": before or {},
            "after": after or {},
            "details": details or {},
        }
    )
    salt = secrets.token_hex(16)
    values: dict[str, Any] = {
        "chain": chain_key(tenant_id),
        "tenant_id": tenant_id,
        "actor_id": actor_id,
        "on_behalf_of_id": getattr(on_behalf_of, "pk", on_behalf_of),
        "action": action,
        "outcome": outcome,
        "target_type": target_type,
        "target_id": str(target_id),
        "request_id": info.request_id,
        "personal_digest": personal_digest(salt, personal),
    }
    if connection.vendor == "postgresql":
        # One statement, so atomic on its own; inside the caller's transaction if there is one.
        return _append_postgresql(values, personal, salt)
    with unscoped(reason="audit append"), transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            head_pk, last_seq, last_hash = _lock_head(cursor, values["chain"], tenant_id)
        seq = last_seq + 1
        now = timezone.now()  # taken under the lock, so time order follows seq order
        fields = {**values, "seq": seq, "occurred_at": now, "prev_hash": last_hash}
        own_hash = event_hash(**fields)
        event = AuditEvent.objects.create(
            **fields, personal=personal, personal_salt=salt, hash=own_hash
        )
        AuditChainHead.objects.filter(pk=head_pk).update(
            last_seq=seq, last_hash=own_hash, updated_at=now
        )
    return event


# --- Bulk append ------------------------------------------------------------------------------
# Many events of one chain under ONE lock of its head: the same hashed body, gapless sequence
# and verification as `audit_event_record` (the event values below mirror it field for field),
# one INSERT per ~5,000 events instead of one function call per event. All events of one call
# share the time taken under the lock (time order still follows seq order).

_BULK_CHUNK = 5000
_sha256 = hashlib.sha256
_HEAD_LOCK_PG = (
    "SELECT id, last_seq, last_hash, clock_timestamp() FROM core_auditchainhead "
    "WHERE chain = %s FOR UPDATE"
)
# The rows travel as ONE JSON document (the C JSON encoder is far cheaper than binding a dozen
# arrays element by element), unpacked by jsonb_to_recordset.
_BULK_INSERT_PG = (
    "INSERT INTO core_auditevent (chain, seq, occurred_at, tenant_id, actor_id, on_behalf_of_id,"
    " action, outcome, target_type, target_id, request_id, personal_digest, prev_hash, personal,"
    " personal_salt, hash) "
    "SELECT %s, u.seq, %s, %s, u.actor_id, u.on_behalf_of_id, u.action, u.outcome,"
    " u.target_type, u.target_id, %s, u.personal_digest, u.prev_hash, u.personal,"
    " u.personal_salt, u.hash "
    "FROM jsonb_to_recordset(%s::jsonb) AS u(seq bigint, actor_id bigint, on_behalf_of_id bigint,"
    " action varchar, outcome varchar, target_type varchar, target_id varchar,"
    " personal_digest varchar, prev_hash varchar, personal jsonb, personal_salt varchar,"
    " hash varchar)"
)
_BULK_COLUMNS = (
    "seq",
    "actor_id",
    "on_behalf_of_id",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "personal_digest",
    "prev_hash",
    "personal",
    "personal_salt",
    "hash",
)


def _is_normal(value: Any) -> bool:
    """Whether `normalise(value) == value` is certain without the JSON round trip: only
    strings, integers, booleans and None, in lists and in dicts with string keys."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is dict:
        return all(type(key) is str and _is_normal(item) for key, item in value.items())
    if kind is list:
        return all(_is_normal(item) for item in value)
    return False


def _bulk_values(
    event: dict[str, Any], chain: str, tenant_id: int | None, info: Any, user_agent: str
) -> tuple[dict[str, Any], Any, str]:
    actor = event.get("actor")
    target = event.get("target")
    target_type = event.get("target_type", "")
    target_id = event.get("target_id", "")
    on_behalf_of = event.get("on_behalf_of")
    actor_id = getattr(actor, "pk", None) if actor is not None else None
    if target is not None and isinstance(target, models.Model):
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk or ""
    label = event.get("target_label")
    personal = {
        "actor": _label(actor) if actor_id is not None or actor else "",
        "target": _label(target) if label is None else label[:200],
        "ip": info.ip,
        "user_agent": user_agent,
        "before": event.get("before") or {},
        "after": event.get("after") or {},
        "details": event.get("details") or {},
    }
    # Bulk writers (the expiry sweeper: 100,000 events a minute) pass plain values: the JSON
    # round trip of `normalise` is then skipped (same stored and hashed values).
    if not _is_normal(personal):
        personal = normalise(personal)
    salt = secrets.token_hex(16)
    values: dict[str, Any] = {
        "chain": chain,
        "tenant_id": tenant_id,
        "actor_id": actor_id,
        "on_behalf_of_id": getattr(on_behalf_of, "pk", on_behalf_of),
        "action": event["action"],
        "outcome": event.get("outcome", "success"),
        "target_type": target_type,
        "target_id": str(target_id),
        "request_id": info.request_id,
        "personal_digest": personal_digest(salt, personal),
    }
    return values, personal, salt


def _bulk_insert_postgresql(
    cursor: Any, chain: str, tenant_id: int | None, at: Any, rows: list[dict[str, Any]]
) -> None:
    request_id = rows[0]["request_id"]
    for start in range(0, len(rows), _BULK_CHUNK):
        document = json.dumps(
            [{name: r[name] for name in _BULK_COLUMNS} for r in rows[start : start + _BULK_CHUNK]],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        cursor.execute(_BULK_INSERT_PG, [chain, at, tenant_id, request_id, document])


def audit_events_record_bulk(
    *, tenant: Any, events: list[dict[str, Any]], use_current_tenant: bool = True
) -> int:
    """Append `events` (each a dict of `audit_event_record`'s keyword arguments: action,
    actor, target, target_type, target_id, outcome, before, after, on_behalf_of, details; or,
    instead of a `target` instance, `target_type`, `target_id` and the `target_label` recorded
    for it) to one chain, in order, in the caller's transaction. `tenant` as in
    `audit_event_record`. Returns the number of events appended."""
    if not events:
        return 0
    if tenant is None and use_current_tenant:
        tenant_id = current_tenant_id()
    else:
        tenant_id = getattr(tenant, "pk", tenant)
    chain = chain_key(tenant_id)
    info = current_request_info()
    user_agent = info.user_agent[:300]
    prepared = []
    for event in events:
        values, personal, salt = _bulk_values(event, chain, tenant_id, info, user_agent)
        prepared.append((values, personal, salt, *event_hash_template(**values)))
    postgres = connection.vendor == "postgresql"
    with unscoped(reason="audit bulk append"), transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            if postgres:
                cursor.execute(_HEAD_LOCK_PG, [chain])
                row = cursor.fetchone()
                if row is None:
                    _head_create(chain, tenant_id)
                    cursor.execute(_HEAD_LOCK_PG, [chain])
                    row = cursor.fetchone()
                head_pk, last_seq, last_hash, now = row
                now = now.astimezone(UTC)
            else:
                head_pk, last_seq, last_hash = _lock_head(cursor, chain, tenant_id)
                now = timezone.now()
            # Under the lock only what needs seq, time and the previous hash: the rest of each
            # hashed body was rendered before (the template of `event_hash`).
            timestamp = timestamp_text(now)
            rows: list[dict[str, Any]] = []
            prev = last_hash
            for offset, (values, personal, salt, head, tail) in enumerate(prepared, start=1):
                seq = last_seq + offset
                own = _sha256(
                    event_body_from_template(head, seq, timestamp, tail, prev).encode()
                ).hexdigest()
                rows.append(
                    {
                        **values,
                        "seq": seq,
                        "occurred_at": now,
                        "prev_hash": prev,
                        "personal": personal,
                        "personal_salt": salt,
                        "hash": own,
                    }
                )
                prev = own
            if postgres:
                _bulk_insert_postgresql(cursor, chain, tenant_id, now, rows)
        if not postgres:
            AuditEvent.objects.bulk_create([AuditEvent(**r) for r in rows], batch_size=500)
        AuditChainHead.objects.filter(pk=head_pk).update(
            last_seq=last_seq + len(rows), last_hash=prev, updated_at=now
        )
    return len(rows)
