"""grant_create and friends: the standing-access policy, SoD, tenant rules; nothing
half-written on refusal; revoke/suspend/restore; the audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.access import services
from apps.access.models import Grant
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context, unscoped
from apps.tenants import services as tenant_services

from .conftest import Catalog


def _grants(tenant: Any) -> int:
    with tenant_context(tenant):
        return Grant.objects.count()


def test_standing_low_risk_grant_for_member(tenant_a, admin_a, member_a, catalog: Catalog):
    grant = services.grant_create(
        actor=admin_a, tenant=tenant_a, user=member_a, entitlement=catalog.crm_read, source="manual"
    )
    assert grant.is_active()
    assert grant.expires_at is None
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="access.grant.created").count() == 1


def test_high_risk_must_be_time_bound(tenant_a, admin_a, member_a, catalog: Catalog):
    with pytest.raises(services.PolicyViolation) as exc:
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=member_a,
            entitlement=catalog.crm_export,
            source="manual",
        )
    assert exc.value.code == "standing_not_allowed"
    assert "high-risk access must be time-bound" in exc.value.message
    assert _grants(tenant_a) == 0


def test_duration_above_maximum_refused_with_the_rule(tenant_a, admin_a, member_a, catalog):
    # enterprise tier default for critical: 3 days
    with pytest.raises(services.PolicyViolation) as exc:
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=member_a,
            entitlement=catalog.crm_admin,
            source="manual",
            duration=timedelta(days=5),
        )
    assert exc.value.code == "duration_exceeds_max"
    assert "at most 3 days" in exc.value.message
    ok = services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        entitlement=catalog.crm_admin,
        source="manual",
        duration=timedelta(days=2),
    )
    assert ok.expires_at is not None


def test_tenant_policy_row_overrides_default(tenant_a, admin_a, member_a, catalog):
    services.standing_policy_set(
        actor=admin_a,
        tenant=tenant_a,
        risk_level="low",
        time_bound_required=True,
        max_duration=timedelta(hours=4),
    )
    with pytest.raises(services.PolicyViolation, match="tenant policy"):
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=member_a,
            entitlement=catalog.crm_read,
            source="manual",
        )


def test_vendor_staff_always_time_bound(tenant_a, admin_a, staff_engineer, catalog):
    with pytest.raises(services.PolicyViolation, match="vendor-staff access must be time-bound"):
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=staff_engineer,
            entitlement=catalog.crm_read,
            source="manual",
        )
    with pytest.raises(services.PolicyViolation, match="at most 12 hours"):
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=staff_engineer,
            role=catalog.support,
            source="request",
            duration=timedelta(hours=13),
        )
    grant = services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=staff_engineer,
        role=catalog.support,
        source="request",
        duration=timedelta(hours=8),
        ticket_ref="SUP-1",
    )
    assert grant.is_active()


def test_entitlement_of_another_tenant_refused(tenant_a, admin_a, member_a, catalog):
    with pytest.raises(services.PolicyViolation) as exc:
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=member_a,
            entitlement=catalog.other_read,
            source="manual",
        )
    assert exc.value.code == "cross_tenant"
    assert _grants(tenant_a) == 0


def test_customer_user_of_another_tenant_refused(tenant_a, admin_a, outsider_b, catalog):
    with pytest.raises(services.PolicyViolation, match="not a member"):
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=outsider_b,
            entitlement=catalog.crm_read,
            source="manual",
        )


def test_vendor_internal_role_not_for_customers(tenant_a, admin_a, member_a, catalog):
    with pytest.raises(services.PolicyViolation, match="vendor staff only"):
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=member_a,
            role=catalog.support,
            source="manual",
        )


@pytest.mark.parametrize("status", ["isolated", "terminated", "suspended"])
def test_tenant_status_refuses(tenant_a, operator, admin_a, member_a, catalog, status):
    tenant_services.tenant_set_status(actor=operator, tenant=tenant_a, status=status, reason="t")
    with pytest.raises(services.PolicyViolation, match=f"is {status}|is {status.title()}"):
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=member_a,
            entitlement=catalog.crm_read,
            source="manual",
        )


def test_exactly_one_subject_and_target(tenant_a, admin_a, member_a, catalog):
    with pytest.raises(services.AccessValidationError):
        services.grant_create(actor=admin_a, tenant=tenant_a, user=member_a, source="manual")
    with pytest.raises(services.AccessValidationError):
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=member_a,
            entitlement=catalog.crm_read,
            role=catalog.analyst,
            source="manual",
        )


def test_sod_deny_rule_refuses_and_names_rule(tenant_a, admin_a, member_a, catalog):
    services.sod_rule_save(
        actor=admin_a,
        tenant=tenant_a,
        key="write-and-export",
        name="Write and export",
        entitlements=[catalog.crm_write, catalog.crm_export],
    )
    services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        entitlement=catalog.crm_write,
        source="manual",
    )
    before = _grants(tenant_a)
    with pytest.raises(services.SodViolation) as exc:
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=member_a,
            entitlement=catalog.crm_export,
            source="manual",
            duration=timedelta(days=1),
        )
    assert "write-and-export" in exc.value.message
    assert _grants(tenant_a) == before


def test_sod_spanning_internal_and_customer_roles(tenant_a, admin_a, staff_engineer, catalog):
    services.sod_rule_save(
        actor=admin_a,
        tenant=tenant_a,
        key="support-plus-analyst",
        name="Support plus analyst",
        roles=[catalog.support, catalog.analyst],
        mode="flag",
    )
    services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=staff_engineer,
        role=catalog.support,
        source="request",
        duration=timedelta(hours=4),
    )
    services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=staff_engineer,
        role=catalog.analyst,
        source="request",
        duration=timedelta(hours=4),
    )
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="access.sod.flagged").count() == 1


def test_identical_grant_is_idempotent(tenant_a, admin_a, member_a, catalog):
    kwargs = dict(  # noqa: C408 — keyword arguments, passed on as such
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        entitlement=catalog.crm_read,
        source="scim",
        mapping_key="scim:crm",
    )
    first = services.grant_create(**kwargs)
    second = services.grant_create(**kwargs)
    assert first.pk == second.pk


def test_revoke_is_idempotent_and_audited(tenant_a, admin_a, member_a, catalog):
    grant = services.grant_create(
        actor=admin_a, tenant=tenant_a, user=member_a, entitlement=catalog.crm_read, source="manual"
    )
    services.grant_revoke(actor=admin_a, grant=grant, reason="left the project")
    services.grant_revoke(actor=admin_a, grant=grant, reason="again")
    assert grant.revoked_at is not None
    assert grant.revoke_reason == "left the project"
    assert grant.revoked_by == admin_a
    assert not grant.is_active()
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="access.grant.revoked").count() == 1


def test_suspend_and_restore(tenant_a, admin_a, member_a, catalog):
    grant = services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        entitlement=catalog.crm_read,
        source="manual",
        duration=timedelta(days=2),
    )
    services.grant_suspend(actor=admin_a, grant=grant, reason="incident")
    assert not grant.is_active()
    assert grant.state == "suspended"
    with pytest.raises(services.PolicyViolation):
        services.grant_restore(
            actor=admin_a,
            grant=grant,
            reason="over",
            expires_at=timezone.now() + timedelta(days=5),
        )
    services.grant_restore(actor=admin_a, grant=grant, reason="over")
    assert grant.is_active()


def test_revoke_for_user_across_tenants(
    tenant_a, tenant_b, operator, admin_a, staff_engineer, catalog
):
    services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=staff_engineer,
        entitlement=catalog.crm_read,
        source="request",
        duration=timedelta(hours=2),
    )
    services.grant_create(
        actor=operator,
        tenant=tenant_b,
        user=staff_engineer,
        entitlement=catalog.other_read,
        source="request",
        duration=timedelta(hours=2),
    )
    assert (
        services.grants_revoke_for_user(actor=operator, user=staff_engineer, reason="leaver") == 2
    )
    with unscoped(reason="test"):
        assert not Grant.objects.filter(user=staff_engineer, revoked_at__isnull=True).exists()


def test_reconcile_mapped_leaves_request_grants(tenant_a, admin_a, member_a, catalog):
    request_grant = services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        entitlement=catalog.crm_write,
        source="request",
        duration=timedelta(days=1),
        approval_ref="request:1",
    )
    result = services.grants_reconcile_mapped(
        actor=None,
        tenant=tenant_a,
        user=member_a,
        source="scim",
        desired={("analyst",), ("crm-prod-read",), ("nope",)},
        mapping_prefix="scim:",
    )
    assert len(result.created) == 2
    assert result.unknown == ["nope"]
    result = services.grants_reconcile_mapped(
        actor=None,
        tenant=tenant_a,
        user=member_a,
        source="scim",
        desired={("analyst",)},
        mapping_prefix="scim:",
    )
    assert len(result.revoked) == 1
    assert len(result.kept) == 1
    assert not result.created
    with tenant_context(tenant_a):
        request_grant.refresh_from_db()
    assert request_grant.is_active()


def test_templates_apply(tenant_a, admin_a, member_a, catalog):
    services.provisioning_template_save(
        actor=admin_a,
        tenant=tenant_a,
        name="Data team",
        criteria={"department": ["data", "bi"], "region": "eu"},
        roles=[catalog.analyst],
    )
    assert services.template_roles_for(tenant=tenant_a, attributes={"department": "sales"}) == []
    grants = services.templates_apply(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        attributes={"department": "Data", "region": "eu"},
    )
    assert [g.role for g in grants] == [catalog.analyst]
    assert grants[0].source == "template"
