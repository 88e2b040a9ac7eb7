"""Emergency suspension: dry run, confirm, exactly what the preview said, nothing else; bad
input refused without a half-done state."""

from __future__ import annotations

from typing import Any

import pytest

from apps.access.models import Grant
from apps.core.exceptions import NotFound, PermissionDenied
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import User
from apps.incidents import services
from apps.incidents.models import GrantSnapshot, IncidentStatus, Suspension, TenantScope
from apps.integrations.models import ApiKey, CredentialState, OAuthClient
from apps.tenants.models import Tenant, TenantStatus

pytestmark = pytest.mark.django_db


def _open(actor: Any, tenant: Tenant, scope: str = TenantScope.SELECTED) -> Any:
    return services.incident_open(
        actor=actor, title="Leaked credentials", severity="high", tenants=[tenant], scope=scope
    )


def _refresh(obj: Any) -> Any:
    with unscoped(reason="test"):
        obj.refresh_from_db()
    return obj


def test_preview_of_named_subjects_lists_exactly_what_goes(
    world: Any, security_officer: User, member_a: User, staff_engineer: User
) -> None:
    incident = _open(security_officer, world.tenant_a)
    services.incident_subject_add(
        actor=security_officer,
        incident=incident,
        tenant=world.tenant_a,
        kind="user",
        identifier=member_a.email,
    )
    services.incident_subject_add(
        actor=security_officer,
        incident=incident,
        tenant=world.tenant_a,
        kind="environment",
        identifier="crm",
    )
    preview = services.suspension_preview(actor=security_officer, incident=incident)
    (plan,) = preview.plans
    assert plan.user_ids == [member_a.pk]
    assert plan.api_key_ids == [world.member_key.pk]  # the key Mia answers for
    assert plan.oauth_client_ids == []
    expected = {
        world.member_grant.pk,
        world.member_wiki_grant.pk,
        world.approver_grant.pk,  # on the named environment
        world.staff_grant.pk,
        world.key_grant.pk,
    }
    assert set(plan.grant_ids) == expected
    assert plan.staff_session_ids == [staff_engineer.pk]
    # A dry run changes nothing.
    member_a.refresh_from_db()
    assert member_a.is_active
    with tenant_context(world.tenant_a):
        assert not Grant.objects.filter(suspended_at__isnull=False).exists()


def test_suspension_does_what_the_preview_showed_and_is_audited(
    world: Any, security_officer: User, member_a: User, staff_engineer: User, admin_a: User
) -> None:
    incident = _open(security_officer, world.tenant_a, TenantScope.WHOLE_TENANT)
    preview = services.suspension_preview(
        actor=security_officer, incident=incident, isolate=[world.tenant_a.pk]
    )
    generation = staff_engineer.session_generation
    records = services.suspension_execute(
        actor=security_officer,
        incident=incident,
        fingerprint_seen=preview.fingerprint,
        confirm_reference=incident.reference,
        reason="credential stuffing",
        isolate=[world.tenant_a.pk],
    )
    (record,) = records
    member_a.refresh_from_db()
    admin_a.refresh_from_db()
    staff_engineer.refresh_from_db()
    assert not member_a.is_active
    assert member_a.disabled_at is not None
    assert admin_a.is_active  # customer admins keep working the incident with us
    assert staff_engineer.is_active
    assert staff_engineer.session_generation == generation + 1
    with tenant_context(world.tenant_a):
        assert not Grant.objects.filter(suspended_at__isnull=True, revoked_at__isnull=True).exists()
        assert set(ApiKey.objects.values_list("state", flat=True)) == {CredentialState.REVOKED}
        assert OAuthClient.objects.get().state == CredentialState.REVOKED
        snapshots = GrantSnapshot.objects.filter(incident=incident)
        assert snapshots.count() == 6
        assert all(s.suspended_by_incident for s in snapshots)
        actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions.count("access.grant.suspended") == 6
    assert "user.disabled" in actions
    assert "api_key.revoked" in actions
    assert "incident.suspension_executed" in actions
    assert record.grants_suspended == 6
    assert _refresh(world.tenant_a).status == TenantStatus.ISOLATED
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.CONTAINED
    # Tenant B untouched.
    with tenant_context(world.tenant_b):
        assert Grant.objects.get(pk=world.other_grant.pk).suspended_at is None
        assert ApiKey.objects.get(pk=world.other_key.pk).state == CredentialState.ACTIVE
    assert _refresh(world.tenant_b).status == TenantStatus.ACTIVE


def test_suspending_twice_is_refused(world: Any, security_officer: User) -> None:
    incident = _open(security_officer, world.tenant_a, TenantScope.WHOLE_TENANT)
    preview = services.suspension_preview(actor=security_officer, incident=incident)
    kwargs = {
        "actor": security_officer,
        "incident": incident,
        "fingerprint_seen": preview.fingerprint,
        "confirm_reference": incident.reference,
        "reason": "stuffing",
    }
    services.suspension_execute(**kwargs)
    with pytest.raises(services.IncidentConflict, match="Nothing is left to suspend"):
        services.suspension_execute(**kwargs)
    with tenant_context(world.tenant_a):
        assert Suspension.objects.count() == 1


def test_a_stale_preview_is_refused_and_nothing_changes(
    world: Any, security_officer: User, member_a: User, approver_a: User
) -> None:
    incident = _open(security_officer, world.tenant_a)
    services.incident_subject_add(
        actor=security_officer,
        incident=incident,
        tenant=world.tenant_a,
        kind="user",
        identifier=member_a.email,
    )
    preview = services.suspension_preview(actor=security_officer, incident=incident)
    services.incident_subject_add(
        actor=security_officer,
        incident=incident,
        tenant=world.tenant_a,
        kind="user",
        identifier=approver_a.email,
    )
    with pytest.raises(services.IncidentConflict, match="changed since the preview"):
        services.suspension_execute(
            actor=security_officer,
            incident=incident,
            fingerprint_seen=preview.fingerprint,
            confirm_reference=incident.reference,
            reason="x",
        )
    member_a.refresh_from_db()
    assert member_a.is_active


def test_wrong_confirmation_and_wrong_people_are_refused(
    world: Any, security_officer: User, staff_engineer: User, admin_a: User
) -> None:
    incident = _open(security_officer, world.tenant_a, TenantScope.WHOLE_TENANT)
    preview = services.suspension_preview(actor=security_officer, incident=incident)
    with pytest.raises(services.IncidentError, match="Type the incident reference"):
        services.suspension_execute(
            actor=security_officer,
            incident=incident,
            fingerprint_seen=preview.fingerprint,
            confirm_reference="INC-0000",
            reason="x",
        )
    for outsider in (staff_engineer, admin_a):
        with pytest.raises(PermissionDenied):
            services.suspension_preview(actor=outsider, incident=incident)
    with tenant_context(world.tenant_a):
        assert not Grant.objects.filter(suspended_at__isnull=False).exists()


def test_subjects_are_looked_up_in_the_incidents_tenant_only(
    world: Any, security_officer: User, outsider_b: User
) -> None:
    incident = _open(security_officer, world.tenant_a)
    with pytest.raises(services.IncidentError, match="no membership"):
        services.incident_subject_add(
            actor=security_officer,
            incident=incident,
            tenant=world.tenant_a,
            kind="user",
            identifier=outsider_b.email,
        )
    with pytest.raises(services.IncidentError, match="No API key"):
        services.incident_subject_add(
            actor=security_officer,
            incident=incident,
            tenant=world.tenant_a,
            kind="api_key",
            identifier=world.other_key.prefix,
        )
    with pytest.raises(NotFound, match="not affected"):
        services.incident_subject_add(
            actor=security_officer,
            incident=incident,
            tenant=world.tenant_b,
            kind="user",
            identifier=outsider_b.email,
        )
