"""The expiry sweeper: claims grants whose `ends_at_due` has passed and records their end.

Access already ended at `expires_at` (the engine checks it at decision time); the sweeper makes
the end visible (audit event, `expired_at`, due column cleared, policy version bumped).

Set-based, a tenant's batch at a time: one transaction per batch claims up to `batch` due rows
of one tenant (SKIP LOCKED on PostgreSQL, so two sweepers take different rows), clears their
due column in one UPDATE, bumps the tenant's policy version once and appends one audit event
per grant in one bulk append. A worker killed at any moment rolls back at most its current
batch, whose rows stay due for the next sweep. (The holders of requests that ended are
notified by apps.requests' own sweeper, which ends the requests.)

100,000 grants may fall due in the same minute (issue 4), so the batch is read as plain rows
rather than model instances, and each subject's and target's label is computed once per batch:
the audit events carry the same snapshot `grant_snapshot` gives for a model instance.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.access.models import Grant
from apps.access.services.bulk import ID_CHUNK
from apps.access.services.common import policy_version_bump
from apps.core.audit.services import audit_events_record_bulk
from apps.core.tenancy import unscoped

BATCH = 2000

# What the audit snapshot of an ended grant needs, in this order.
_ROW_FIELDS = (
    "pk",
    "user_id",
    "service_account_id",
    "api_key_id",
    "entitlement_id",
    "role_id",
    "source",
    "starts_at",
    "expires_at",
    "justification",
    "ticket_ref",
    "approval_ref",
    "mapping_key",
)
_GRANT_TYPE = Grant._meta.label_lower


def _due_tenants(now: datetime, limit: int) -> list[int]:
    """Tenants among the first `limit` due rows (cheap: the partial index on ends_at_due)."""
    rows = (
        Grant.objects.filter(ends_at_due__isnull=False, ends_at_due__lte=now)
        .order_by("ends_at_due")
        .values_list("tenant_id", flat=True)[:limit]
    )
    return list(dict.fromkeys(rows))


def _labels(relation: str, ids: Iterable[int | None]) -> dict[int, str]:
    """`str()` of each related object of `relation` among `ids`, one query for the batch."""
    wanted = {pk for pk in ids if pk is not None}
    if not wanted:
        return {}
    model: Any = Grant._meta.get_field(relation).related_model
    return {obj.pk: str(obj) for obj in model._base_manager.filter(pk__in=wanted)}


def _expiry_events(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """One `access.grant.expired` event per row, its `before` the grant's snapshot (the keys
    and values of `grant_snapshot`, built without model instances)."""
    users = _labels("user", (r[1] for r in rows))
    accounts = _labels("service_account", (r[2] for r in rows))
    keys = _labels("api_key", (r[3] for r in rows))
    entitlements = _labels("entitlement", (r[4] for r in rows))
    roles = _labels("role", (r[5] for r in rows))
    events = []
    for (
        pk,
        user_id,
        account_id,
        key_id,
        entitlement_id,
        role_id,
        source,
        starts_at,
        expires_at,
        justification,
        ticket_ref,
        approval_ref,
        mapping_key,
    ) in rows:
        if user_id:
            subject, subject_kind = users.get(user_id, "?"), "user"
        elif account_id:
            subject, subject_kind = accounts.get(account_id, "?"), "service_account"
        else:
            subject, subject_kind = keys.get(key_id, "?"), "api_key"
        if entitlement_id:
            target, target_kind = entitlements.get(entitlement_id, "?"), "entitlement"
        else:
            target, target_kind = roles.get(role_id, "?"), "role"
        expires = expires_at.isoformat() if expires_at else ""
        events.append(
            {
                "action": "access.grant.expired",
                "target_type": _GRANT_TYPE,
                "target_id": pk,
                "target_label": f"{subject} → {target}",  # str(grant)
                "before": {
                    "subject": subject,
                    "subject_kind": subject_kind,
                    "target": target,
                    "target_kind": target_kind,
                    "source": source,
                    "starts_at": starts_at.isoformat() if starts_at else "",
                    "expires_at": expires,
                    "justification": justification,
                    "ticket_ref": ticket_ref,
                    "approval_ref": approval_ref,
                    "mapping_key": mapping_key,
                },
                "details": {"expires_at": expires},
            }
        )
    return events


def _expire_tenant_batch(tenant_id: int, now: datetime, size: int) -> int:
    """Claim, end and record up to `size` due grants of one tenant, in one transaction."""
    with transaction.atomic():
        claim = (
            Grant.objects.for_tenant(tenant_id)
            .filter(ends_at_due__isnull=False, ends_at_due__lte=now)
            .order_by("ends_at_due", "pk")
        )
        if connection.features.has_select_for_update_skip_locked:
            claim = claim.select_for_update(skip_locked=True)
        rows = list(claim.values_list(*_ROW_FIELDS)[:size])
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        done = 0
        for start in range(0, len(ids), ID_CHUNK):
            done += (
                Grant.objects.for_tenant(tenant_id)
                .filter(pk__in=ids[start : start + ID_CHUNK], ends_at_due__isnull=False)
                .update(ends_at_due=None, expired_at=now)
            )
        # The rows are locked (PostgreSQL) or the transaction holds the write lock (SQLite):
        # every claimed row was updated by this call.
        assert done == len(rows), (done, len(rows))
        events = _expiry_events(rows)
        # The tenant's hot rows (audit head, policy version) are locked last, held briefly.
        audit_events_record_bulk(tenant=tenant_id, events=events)
        policy_version_bump(tenant=tenant_id)
    return done


def grants_expire_due(
    *, now: datetime | None = None, limit: int = 10_000, batch: int = BATCH
) -> int:
    """Record the expiry of up to `limit` due grants, a tenant's batch (at most `batch` rows)
    per transaction; returns how many this call recorded."""
    now = now or timezone.now()
    done = 0
    # cross-tenant: the sweeper serves every tenant; each batch is one tenant's.
    with unscoped(reason="grant expiry sweeper"):
        tenants = _due_tenants(now, limit)
        # Two sweepers started together take the tenants in different orders, so they rarely
        # wait on the same tenant's audit head and policy version.
        random.shuffle(tenants)
        for tenant_id in tenants:
            while done < limit:
                size = min(batch, limit - done)
                n = _expire_tenant_batch(tenant_id, now, size)
                done += n
                if n < size:
                    break
            if done >= limit:
                break
    return done
