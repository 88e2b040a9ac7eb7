"""The expiry sweeper: records due expiries once, leaves the rest, is scheduled by beat."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.conf import settings
from django.utils import timezone

from apps.access import engine, services
from apps.access.models import Grant
from apps.access.services.common import grant_snapshot
from apps.access.tasks import expire_grants_task
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from tests.core.test_audit_chain import verify_output


def test_sweeper_records_due_expiries_once(tenant_a, admin_a, member_a, staff_engineer, catalog):
    short = services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=staff_engineer,
        entitlement=catalog.crm_read,
        source="request",
        duration=timedelta(hours=1),
    )
    longer = services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        entitlement=catalog.crm_read,
        source="manual",
        duration=timedelta(days=3),
    )
    standing = services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        entitlement=catalog.analytics_read,
        source="manual",
    )
    assert services.grants_expire_due() == 0
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert not engine.can(staff_engineer, "read", catalog.crm)
        assert expire_grants_task() == 1
        assert services.grants_expire_due() == 0  # already recorded
    with tenant_context(tenant_a):
        short.refresh_from_db()
        longer.refresh_from_db()
        standing.refresh_from_db()
        assert short.expired_at is not None
        assert short.ends_at_due is None
        assert longer.ends_at_due is not None
        assert longer.expired_at is None
        assert standing.ends_at_due is None
        assert AuditEvent.objects.filter(action="access.grant.expired").count() == 1
        assert Grant.objects.filter(ends_at_due__isnull=False).count() == 1


def test_sweeper_audits_each_grant_with_its_snapshot(
    tenant_a, admin_a, member_a, operator, catalog
):
    """The sweeper builds its events from plain rows: they must read exactly as the snapshot
    of the grant instance (subject and target labels and kinds, times, references)."""
    account = services.service_account_create(actor=operator, tenant=tenant_a, name="nightly-etl")
    grants = [
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=member_a,
            entitlement=catalog.crm_read,
            source="request",
            duration=timedelta(hours=1),
            justification="Quarter close — Zoë's ledger",
            ticket_ref="CHG-7",
        ),
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            service_account=account,
            role=catalog.analyst,
            source="manual",
            duration=timedelta(minutes=30),
            approval_ref="APR-1",
        ),
    ]
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert services.grants_expire_due() == 2
    assert "Audit log verified: OK" in verify_output()
    with tenant_context(tenant_a):
        events = {e.target_id: e for e in AuditEvent.objects.filter(action="access.grant.expired")}
        assert len(events) == 2
        for grant in grants:
            grant.refresh_from_db()
            event = events[str(grant.pk)]
            assert event.target_type == "access.grant"
            assert event.actor_id is None
            assert event.personal["before"] == grant_snapshot(grant)
            assert event.personal["target"] == str(grant)
            assert event.personal["details"] == {"expires_at": grant.expires_at.isoformat()}
            assert grant.expired_at is not None


def test_beat_schedules_the_sweeper_every_interval():
    entry = settings.CELERY_BEAT_SCHEDULE["access-expire-grants"]
    assert entry["task"] == "access.expire_grants"
    assert entry["schedule"] == settings.ACCESS_SWEEP_INTERVAL == 10
