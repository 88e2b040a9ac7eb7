"""Emergency suspension: dry run, confirm, exactly what the preview said, nothing else; bad
input refused without a half-done state."""

from __future__ import annotations

from typing import Any

import pytest

from apps.access.models import Grant
from apps.core.audit.verify import audit_verify
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
        assert Grant.objects.get(pk=world.member_grant.pk).suspend_reason == (
            f"incident {incident.reference}: credential stuffing"
        )
        events = {e.action: e for e in AuditEvent.objects.order_by("seq")}
        actions = list(AuditEvent.objects.values_list("action", flat=True))
    # One event per batch of each kind, listing the ids (no per-object events).
    assert "access.grant.suspended" not in actions
    assert "user.disabled" not in actions
    grants_event = events["access.grants.suspended"].personal
    assert sorted(grants_event["details"]["ids"]) == sorted(s.grant_id for s in snapshots)
    assert grants_event["details"]["incident"] == incident.reference
    assert grants_event["details"]["count"] == 6
    assert grants_event["target"] == "6 grants"
    assert events["accounts.disabled"].personal["details"]["ids"] == record.user_ids
    assert events["api_keys.revoked"].personal["details"]["ids"] == record.api_key_ids
    assert events["oauth_clients.revoked"].personal["details"]["ids"] == [world.client.pk]
    assert events["staff_sessions.ended"].personal["details"]["ids"] == [staff_engineer.pk]
    assert "incident.suspension_executed" in actions
    assert audit_verify(use_checkpoint=False).ok
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


def test_audit_events_come_in_batches_of_at_most_the_batch_size(
    world: Any, security_officer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.access.services import bulk
    from apps.incidents.services import common

    monkeypatch.setattr(bulk, "AUDIT_BATCH", 4)
    monkeypatch.setattr(common, "AUDIT_BATCH", 2)
    incident = _open(security_officer, world.tenant_a, TenantScope.WHOLE_TENANT)
    preview = services.suspension_preview(actor=security_officer, incident=incident)
    (record,) = services.suspension_execute(
        actor=security_officer,
        incident=incident,
        fingerprint_seen=preview.fingerprint,
        confirm_reference=incident.reference,
        reason="stuffing",
    )
    (plan,) = preview.plans
    with tenant_context(world.tenant_a):
        grant_events = [
            e.personal["details"]
            for e in AuditEvent.objects.filter(action="access.grants.suspended").order_by("seq")
        ]
        key_events = [
            e.personal["details"]
            for e in AuditEvent.objects.filter(action="api_keys.revoked").order_by("seq")
        ]
    assert [d["count"] for d in grant_events] == [4, 2]
    assert [(d["batch"], d["batches"], d["total"]) for d in grant_events] == [(1, 2, 6), (2, 2, 6)]
    assert [i for d in grant_events for i in d["ids"]] == plan.grant_ids
    assert [d["ids"] for d in key_events] == [record.api_key_ids]  # two keys: one batch
    assert audit_verify(use_checkpoint=False).ok


def test_a_plan_overtaken_inside_the_transaction_undoes_everything(
    world: Any, security_officer: User, member_a: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UPDATEs must change exactly the plan's rows: an account disabled by somebody else
    between the plan and the UPDATE makes the whole suspension roll back."""
    from apps.incidents.services import suspension

    incident = _open(security_officer, world.tenant_a, TenantScope.WHOLE_TENANT)
    preview = services.suspension_preview(actor=security_officer, incident=incident)
    monkeypatch.setattr(suspension, "_plans", lambda incident, isolate: preview.plans)
    User.objects.filter(pk=member_a.pk).update(is_active=False)
    with pytest.raises(services.IncidentConflict, match="changed since the preview"):
        services.suspension_execute(
            actor=security_officer,
            incident=incident,
            fingerprint_seen=preview.fingerprint,
            confirm_reference=incident.reference,
            reason="x",
        )
    with tenant_context(world.tenant_a):
        assert not Grant.objects.filter(suspended_at__isnull=False).exists()
        assert not ApiKey.objects.filter(state=CredentialState.REVOKED).exists()
        assert not Suspension.objects.exists()
        assert not AuditEvent.objects.filter(action="accounts.disabled").exists()


def test_the_snapshot_is_taken_in_one_statement_and_only_once(
    world: Any, security_officer: User, member_a: User
) -> None:
    from apps.incidents.services.common import incident_tenant_get

    incident = _open(security_officer, world.tenant_a, TenantScope.WHOLE_TENANT)
    with tenant_context(world.tenant_a):
        snapshots = {s.grant_id: s for s in GrantSnapshot.objects.filter(incident=incident)}
        grants = {g.pk: g for g in Grant.objects.filter(revoked_at__isnull=True)}
        row = incident_tenant_get(incident=incident, tenant=world.tenant_a)
    assert set(snapshots) == set(grants)
    snap = snapshots[world.member_grant.pk]
    grant = grants[world.member_grant.pk]
    assert snap.tenant_id == world.tenant_a.pk
    assert snap.user_id == member_a.pk
    assert snap.entitlement_id_at == grant.entitlement_id
    assert snap.role_id_at is None
    assert (snap.source, snap.starts_at, snap.expires_at) == (
        grant.source,
        grant.starts_at,
        grant.expires_at,
    )
    assert not snap.was_suspended
    assert not snap.suspended_by_incident
    assert snap.restore_mode == ""
    key_snap = snapshots[world.key_grant.pk]
    assert key_snap.user_id is None
    # Again: nothing new to record.
    assert services.snapshot_take(incident=incident, row=row) == 0
