"""Drift (scope widened, standing access older than policy, unused grants) and toxic
combinations (SoD rules, incl. vendor-internal + customer-side roles), kept current."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.access import services as access_services
from apps.access.models import Grant
from apps.certification.analytics.models import AnalyticsSettings, Finding, FindingKind
from apps.certification.analytics.services import findings_compute, findings_refresh
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context

pytestmark = pytest.mark.django_db


def grant(operator: Any, tenant: Any, user: Any, **kw: Any) -> Grant:
    kw.setdefault("source", "manual")
    return access_services.grant_create(actor=operator, tenant=tenant, user=user, **kw)


def by_kind(tenant: Any, kind: str) -> list[dict[str, Any]]:
    with tenant_context(tenant):
        return [f for f in findings_compute(tenant=tenant) if f["kind"] == kind]


def test_widened_scope_is_a_finding(tenant_a, operator, member_a, catalog) -> None:
    original = grant(operator, tenant_a, member_a, entitlement=catalog.crm_read, source="request")
    wider = grant(
        operator,
        tenant_a,
        member_a,
        entitlement=catalog.crm_export,
        expires_at=timezone.now() + timedelta(days=3),
    )
    [f] = by_kind(tenant_a, FindingKind.WIDENED)
    assert f["grant"].pk == wider.pk
    assert f["details"]["original_grant"] == original.pk
    assert f["details"]["original_levels"] == ["read"]
    assert f["details"]["wider_levels"] == ["export"]
    assert f["severity"] == "high"
    assert f["subject_label"] == member_a.email


def test_a_narrower_or_implied_later_grant_is_not_drift(
    tenant_a, operator, member_a, approver_a, catalog
) -> None:
    grant(operator, tenant_a, member_a, entitlement=catalog.crm_write)
    grant(operator, tenant_a, member_a, entitlement=catalog.crm_read)  # implied by write
    grant(operator, tenant_a, approver_a, role=catalog.analyst)  # first grant: the baseline
    assert by_kind(tenant_a, FindingKind.WIDENED) == []


def test_widening_through_a_role(tenant_a, operator, member_a, staff_engineer, catalog) -> None:
    grant(operator, tenant_a, member_a, entitlement=catalog.crm_read)
    grant(operator, tenant_a, member_a, role=catalog.analyst)  # crm read + analytics read
    assert by_kind(tenant_a, FindingKind.WIDENED) == []
    grant(
        operator,
        tenant_a,
        staff_engineer,
        entitlement=catalog.crm_read,
        expires_at=timezone.now() + timedelta(hours=4),
    )
    grant(
        operator,
        tenant_a,
        staff_engineer,
        role=catalog.support,  # crm read + write
        expires_at=timezone.now() + timedelta(hours=4),
    )
    [f] = by_kind(tenant_a, FindingKind.WIDENED)
    assert f["details"]["wider_levels"] == ["write"]
    assert f["details"]["target"] == "Support"


def test_standing_access_older_than_policy(tenant_a, operator, member_a, catalog) -> None:
    old = grant(operator, tenant_a, member_a, entitlement=catalog.crm_read)
    grant(operator, tenant_a, member_a, entitlement=catalog.analytics_read)
    with tenant_context(tenant_a):
        Grant.objects.filter(pk=old.pk).update(starts_at=timezone.now() - timedelta(days=120))
    [f] = by_kind(tenant_a, FindingKind.STANDING)
    assert f["grant"].pk == old.pk
    assert f["details"]["reason"] == "age"
    assert f["details"]["days"] == 120
    access_services.standing_policy_set(
        actor=operator,
        tenant=tenant_a,
        risk_level="low",
        time_bound_required=True,
        max_duration=timedelta(days=30),
    )
    reasons = {f["details"]["reason"] for f in by_kind(tenant_a, FindingKind.STANDING)}
    assert reasons == {"policy"}


def test_unused_grants(tenant_a, operator, member_a, catalog) -> None:
    g = grant(operator, tenant_a, member_a, entitlement=catalog.crm_read)
    with tenant_context(tenant_a):
        AnalyticsSettings.objects.create(tenant=tenant_a, unused_days=10)
        Grant.objects.filter(pk=g.pk).update(starts_at=timezone.now() - timedelta(days=40))
    [f] = by_kind(tenant_a, FindingKind.UNUSED)
    assert f["details"]["last_used"] == ""
    with tenant_context(tenant_a):
        Grant.objects.filter(pk=g.pk).update(last_used_at=timezone.now() - timedelta(days=2))
    assert by_kind(tenant_a, FindingKind.UNUSED) == []


def test_toxic_combination_across_internal_and_customer_roles(
    tenant_a, operator, staff_engineer, catalog
) -> None:
    access_services.sod_rule_save(
        actor=operator,
        tenant=tenant_a,
        key="support-vs-analyst",
        name="Support and analyst",
        roles=[catalog.support, catalog.analyst],
        mode="flag",
    )
    soon = timezone.now() + timedelta(hours=4)
    grant(operator, tenant_a, staff_engineer, role=catalog.support, expires_at=soon)
    grant(operator, tenant_a, staff_engineer, role=catalog.analyst, expires_at=soon)
    [f] = by_kind(tenant_a, FindingKind.TOXIC)
    assert f["details"]["rule_key"] == "support-vs-analyst"
    assert f["details"]["crosses_internal_and_customer"] is True
    assert f["severity"] == "high"


def test_refresh_upserts_resolves_and_audits(
    tenant_a, operator, admin_a, member_a, catalog
) -> None:
    grant(operator, tenant_a, member_a, entitlement=catalog.crm_read)
    wider = grant(
        operator,
        tenant_a,
        member_a,
        entitlement=catalog.crm_admin,
        expires_at=timezone.now() + timedelta(hours=8),
    )
    first = findings_refresh(tenant=tenant_a, actor=admin_a)
    assert (first.new, first.resolved) == (1, 0)
    again = findings_refresh(tenant=tenant_a)
    assert (again.open, again.new) == (1, 0)
    access_services.grant_revoke(actor=operator, grant=wider, reason="drift")
    last = findings_refresh(tenant=tenant_a)
    assert last.resolved == 1
    with tenant_context(tenant_a):
        assert Finding.objects.filter(resolved_at__isnull=True).count() == 0
        assert AuditEvent.objects.filter(action="analytics.findings.refreshed").count() == 1
