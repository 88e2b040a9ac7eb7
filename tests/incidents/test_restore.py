"""Restoration with the customer: write-up, customer-admin sign-off, selective restore from the
snapshot (time-bound or re-approved), never a blind undo; the post-incident review."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.access.models import Grant
from apps.core.exceptions import NotFound, PermissionDenied
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import User
from apps.incidents import services
from apps.incidents.models import GrantSnapshot, IncidentStatus, TenantScope
from apps.tenants.models import TenantStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def suspended(world: Any, security_officer: User) -> Any:
    incident = services.incident_open(
        actor=security_officer,
        title="Token theft",
        severity="critical",
        tenants=[world.tenant_a],
        scope=TenantScope.WHOLE_TENANT,
    )
    preview = services.suspension_preview(
        actor=security_officer, incident=incident, isolate=[world.tenant_a.pk]
    )
    services.suspension_execute(
        actor=security_officer,
        incident=incident,
        fingerprint_seen=preview.fingerprint,
        confirm_reference=incident.reference,
        reason="token theft",
        isolate=[world.tenant_a.pk],
    )
    incident.refresh_from_db()
    return incident


def _document(incident: Any, actor: User) -> None:
    services.incident_postmortem_record(
        actor=actor,
        incident=incident,
        root_cause="A CI token leaked in a public build log.",
        remediation="Logs scrubbed, tokens rotated, secret scanning on.",
    )


def _snap(world: Any, incident: Any, grant: Grant) -> GrantSnapshot:
    with tenant_context(world.tenant_a):
        return GrantSnapshot.objects.get(incident=incident, grant=grant)


def test_sign_off_needs_the_write_up_and_a_customer_admin_of_that_tenant(
    world: Any,
    suspended: Any,
    security_officer: User,
    admin_a: User,
    approver_a: User,
    outsider_b: User,
) -> None:
    with pytest.raises(services.IncidentError, match="not documented"):
        services.incident_signoff_record(
            actor=admin_a, incident=suspended, tenant=world.tenant_a, statement="ok"
        )
    _document(suspended, security_officer)
    for stranger in (approver_a, outsider_b, security_officer):
        with pytest.raises(PermissionDenied, match="Only a customer admin"):
            services.incident_signoff_record(
                actor=stranger, incident=suspended, tenant=world.tenant_a, statement="ok"
            )
    with pytest.raises((PermissionDenied, NotFound)):
        services.incident_signoff_record(
            actor=outsider_b, incident=suspended, tenant=world.tenant_b, statement="ok"
        )
    row = services.incident_signoff_record(
        actor=admin_a, incident=suspended, tenant=world.tenant_a, statement="We agree."
    )
    assert row.signed_off_by == admin_a
    with pytest.raises(services.IncidentConflict):
        services.incident_signoff_record(
            actor=admin_a, incident=suspended, tenant=world.tenant_a, statement="again"
        )
    with pytest.raises(services.IncidentConflict, match="signed off"):
        _document(suspended, security_officer)


def test_restore_is_selective_and_needs_the_sign_off(
    world: Any, suspended: Any, security_officer: User, admin_a: User
) -> None:
    snap = _snap(world, suspended, world.member_grant)
    until = timezone.now() + timedelta(days=2)
    kwargs = {
        "actor": security_officer,
        "incident": suspended,
        "tenant": world.tenant_a,
        "mode": "time_bound",
        "reason": "clean",
        "expires_at": until,
    }
    with pytest.raises(services.IncidentError, match="not signed off"):
        services.grants_restore(snapshot_ids=[snap.pk], **kwargs)
    _document(suspended, security_officer)
    services.incident_signoff_record(
        actor=admin_a, incident=suspended, tenant=world.tenant_a, statement="Go ahead."
    )
    assert services.grants_restore(snapshot_ids=[snap.pk], **kwargs) == 1
    with tenant_context(world.tenant_a):
        restored = Grant.objects.get(pk=world.member_grant.pk)
        others = Grant.objects.exclude(pk=world.member_grant.pk).filter(suspended_at__isnull=True)
        assert not others.exists()  # nothing else came back
    assert restored.suspended_at is None
    assert restored.expires_at == until
    suspended.refresh_from_db()
    assert suspended.status == IncidentStatus.RECOVERING
    with pytest.raises(services.IncidentConflict, match="restored already"):
        services.grants_restore(snapshot_ids=[snap.pk], **kwargs)


def test_restoring_a_grant_not_in_the_snapshot_is_refused_and_nothing_changes(
    world: Any, suspended: Any, security_officer: User, admin_a: User
) -> None:
    _document(suspended, security_officer)
    services.incident_signoff_record(
        actor=admin_a, incident=suspended, tenant=world.tenant_a, statement="Go ahead."
    )
    good = _snap(world, suspended, world.member_grant)
    with pytest.raises(services.IncidentError, match="Not in this incident's snapshot"):
        services.grants_restore(
            actor=security_officer,
            incident=suspended,
            tenant=world.tenant_a,
            snapshot_ids=[good.pk, 999_999],
            mode="reapproved",
            approval_ref="CAB-7",
            reason="clean",
        )
    with tenant_context(world.tenant_a):
        assert Grant.objects.get(pk=world.member_grant.pk).suspended_at is not None
    # Re-approved needs the approval named; widening beyond the original end is refused.
    with pytest.raises(services.IncidentError, match="Name the re-approval"):
        services.grants_restore(
            actor=security_officer,
            incident=suspended,
            tenant=world.tenant_a,
            snapshot_ids=[good.pk],
            mode="reapproved",
            reason="x",
        )
    with pytest.raises(services.IncidentError, match="original expiry"):
        services.grants_restore(
            actor=security_officer,
            incident=suspended,
            tenant=world.tenant_a,
            snapshot_ids=[good.pk],
            mode="time_bound",
            reason="x",
            expires_at=timezone.now() + timedelta(days=30),
        )
    assert (
        services.grants_restore(
            actor=security_officer,
            incident=suspended,
            tenant=world.tenant_a,
            snapshot_ids=[good.pk],
            mode="reapproved",
            approval_ref="CAB-7 by Alice",
            reason="ok",
        )
        == 1
    )


def test_accounts_and_isolation_come_back_only_on_request(
    world: Any,
    suspended: Any,
    security_officer: User,
    admin_a: User,
    member_a: User,
    approver_a: User,
) -> None:
    _document(suspended, security_officer)
    services.incident_signoff_record(
        actor=admin_a, incident=suspended, tenant=world.tenant_a, statement="Go ahead."
    )
    with pytest.raises(services.IncidentError, match="Not disabled by this incident"):
        services.accounts_reenable(
            actor=security_officer,
            incident=suspended,
            tenant=world.tenant_a,
            user_ids=[admin_a.pk],
            reason="x",
        )
    assert (
        services.accounts_reenable(
            actor=security_officer,
            incident=suspended,
            tenant=world.tenant_a,
            user_ids=[member_a.pk],
            reason="verified",
        )
        == 1
    )
    member_a.refresh_from_db()
    approver_a.refresh_from_db()
    assert member_a.is_active
    assert not approver_a.is_active
    services.isolation_lift(
        actor=security_officer, incident=suspended, tenant=world.tenant_a, reason="clean"
    )
    with unscoped(reason="test"):
        world.tenant_a.refresh_from_db()
    assert world.tenant_a.status == TenantStatus.ACTIVE
    with pytest.raises(services.IncidentConflict):
        services.isolation_lift(
            actor=security_officer, incident=suspended, tenant=world.tenant_a, reason="again"
        )


def test_post_incident_review_over_the_grants_involved(
    world: Any, suspended: Any, security_officer: User
) -> None:
    from apps.incidents.services.restore import _campaign_service

    due = timezone.now() + timedelta(days=14)
    if _campaign_service() is None:
        with pytest.raises(services.IncidentError, match="not available"):
            services.review_campaign_create(
                actor=security_officer, incident=suspended, tenant=world.tenant_a, due_at=due
            )
        return
    campaign = services.review_campaign_create(
        actor=security_officer, incident=suspended, tenant=world.tenant_a, due_at=due
    )
    assert campaign is not None
    with pytest.raises(services.IncidentConflict):
        services.review_campaign_create(
            actor=security_officer, incident=suspended, tenant=world.tenant_a, due_at=due
        )
