"""The expiry sweeper: claims grants whose `ends_at_due` has passed and records their end.

Access already ended at `expires_at` (the engine checks it at decision time); the sweeper makes
the end visible (audit event, `expired_at`, due column cleared, policy version bumped). Two
sweepers never process the same row: rows are claimed with SKIP LOCKED on PostgreSQL, and the
per-row conditional UPDATE (`ends_at_due IS NOT NULL`) decides who records it.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from apps.access.models import Grant
from apps.access.services.common import grant_snapshot, policy_version_bump
from apps.core.audit.services import audit_event_record
from apps.core.tenancy import tenant_context, unscoped


def grants_expire_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Record the expiry of up to `limit` due grants; returns how many this call recorded."""
    now = now or timezone.now()
    done = 0
    # cross-tenant: the sweeper serves every tenant; each row is handled in its own scope.
    with unscoped(reason="grant expiry sweeper"), transaction.atomic():
        due = Grant.objects.filter(ends_at_due__isnull=False, ends_at_due__lte=now).order_by(
            "ends_at_due"
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        claimed = list(due.select_related("tenant")[:limit])
        for grant in claimed:
            with tenant_context(grant.tenant):
                updated = (
                    Grant.objects.for_tenant(grant.tenant_id)
                    .filter(pk=grant.pk, ends_at_due__isnull=False)
                    .update(ends_at_due=None, expired_at=now)
                )
                if not updated:
                    continue
                policy_version_bump(tenant=grant.tenant)
                audit_event_record(
                    action="access.grant.expired",
                    actor=None,
                    tenant=grant.tenant,
                    target=grant,
                    before=grant_snapshot(grant),
                    details={
                        "expires_at": grant.expires_at.isoformat() if grant.expires_at else ""
                    },
                )
                done += 1
    return done
