"""The expiry sweeper: claims grants whose `ends_at_due` has passed and records their end.

Access already ended at `expires_at` (the engine checks it at decision time); the sweeper makes
the end visible (audit event, `expired_at`, due column cleared, policy version bumped).

Set-based, a tenant's batch at a time: one transaction per batch claims up to `batch` due rows
of one tenant (SKIP LOCKED on PostgreSQL, so two sweepers take different rows), clears their
due column in one UPDATE, bumps the tenant's policy version once and appends one audit event
per grant in one bulk append. A worker killed at any moment rolls back at most its current
batch, whose rows stay due for the next sweep. (The holders of requests that ended are
notified by apps.requests' own sweeper, which ends the requests.)
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.access.models import Grant
from apps.access.services.bulk import ID_CHUNK, SNAPSHOT_RELATED
from apps.access.services.common import grant_snapshot, policy_version_bump
from apps.core.audit.services import audit_events_record_bulk
from apps.core.tenancy import unscoped

BATCH = 2000


def _due_tenants(now: datetime, limit: int) -> list[int]:
    """Tenants among the first `limit` due rows (cheap: the partial index on ends_at_due)."""
    rows = (
        Grant.objects.filter(ends_at_due__isnull=False, ends_at_due__lte=now)
        .order_by("ends_at_due")
        .values_list("tenant_id", flat=True)[:limit]
    )
    return list(dict.fromkeys(rows))


def _expire_tenant_batch(tenant_id: int, now: datetime, size: int) -> int:
    """Claim, end and record up to `size` due grants of one tenant, in one transaction."""
    with transaction.atomic():
        claim = (
            Grant.objects.for_tenant(tenant_id)
            .filter(ends_at_due__isnull=False, ends_at_due__lte=now)
            .order_by("ends_at_due", "pk")
            .select_related(*SNAPSHOT_RELATED)
        )
        if connection.features.has_select_for_update_skip_locked:
            claim = claim.select_for_update(skip_locked=True, of=("self",))
        grants = list(claim[:size])
        if not grants:
            return 0
        ids = [g.pk for g in grants]
        done = 0
        for start in range(0, len(ids), ID_CHUNK):
            done += (
                Grant.objects.for_tenant(tenant_id)
                .filter(pk__in=ids[start : start + ID_CHUNK], ends_at_due__isnull=False)
                .update(ends_at_due=None, expired_at=now)
            )
        # The rows are locked (PostgreSQL) or the transaction holds the write lock (SQLite):
        # every claimed row was updated by this call.
        assert done == len(grants), (done, len(grants))
        events: list[dict[str, Any]] = [
            {
                "action": "access.grant.expired",
                "actor": None,
                "target": grant,
                "before": grant_snapshot(grant),
                "details": {"expires_at": grant.expires_at.isoformat() if grant.expires_at else ""},
            }
            for grant in grants
        ]
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
