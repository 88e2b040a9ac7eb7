"""Appending to the audit log.

`audit_event_record` writes one event in the caller's transaction (a rolled-back change leaves
no event). The chain head row is locked for the append, so the sequence is gapless and two
writers cannot fork the chain; each tenant has its own chain, so tenants never wait on each
other.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from apps.core.audit.hashing import event_hash, normalise, personal_digest
from apps.core.models import AuditChainHead, AuditEvent, chain_key
from apps.core.requestcontext import current_request_info
from apps.core.tenancy import current_tenant_id, unscoped


def _label(obj: Any) -> str:
    if obj is None:
        return ""
    return str(obj)[:200]


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
    digest = personal_digest(salt, personal)
    chain = chain_key(tenant_id)
    now = timezone.now()

    with unscoped(reason="audit append"), transaction.atomic():
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(chain=chain, tenant_id=tenant_id)], ignore_conflicts=True
        )
        head = AuditChainHead.objects.select_for_update().get(chain=chain)
        seq = head.last_seq + 1
        fields: dict[str, Any] = {
            "chain": chain,
            "seq": seq,
            "occurred_at": now,
            "tenant_id": tenant_id,
            "actor_id": actor_id,
            "on_behalf_of_id": getattr(on_behalf_of, "pk", on_behalf_of),
            "action": action,
            "outcome": outcome,
            "target_type": target_type,
            "target_id": str(target_id),
            "request_id": info.request_id,
            "personal_digest": digest,
            "prev_hash": head.last_hash,
        }
        own_hash = event_hash(**fields)
        event = AuditEvent.objects.create(
            **fields, personal=personal, personal_salt=salt, hash=own_hash
        )
        AuditChainHead.objects.filter(pk=head.pk).update(
            last_seq=seq, last_hash=own_hash, updated_at=now
        )
    return event
