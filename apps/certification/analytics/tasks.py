"""Celery tasks of access analytics: thin wrappers around services."""

from __future__ import annotations

import time

from celery import shared_task

DRAIN_SECONDS = 20.0


@shared_task(name="analytics.detect")
def anomalies_detect_task(limit: int = 5000) -> int:
    """Work through the backlog in batches (at most ~DRAIN_SECONDS per run; the beat entry and
    the recorders' kicks start the next one)."""
    from apps.certification.analytics.services import anomalies_detect

    total = 0
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        result = anomalies_detect(limit=limit)
        total += result.events
        if result.busy or result.events < limit:
            break
    return total


@shared_task(name="analytics.notify")
def alerts_notify_task() -> int:
    from apps.certification.analytics.services import alerts_notify_due

    return alerts_notify_due()


@shared_task(name="analytics.findings")
def findings_refresh_all_task() -> int:
    """Refresh every active tenant's findings (each in its own scope)."""
    from apps.certification.analytics.services import findings_refresh
    from apps.core.tenancy import tenant_context
    from apps.tenants.models import Tenant, TenantStatus

    count = 0
    for tenant in Tenant.objects.filter(status=TenantStatus.ACTIVE).order_by("pk"):
        with tenant_context(tenant):
            findings_refresh(tenant=tenant)
        count += 1
    return count
