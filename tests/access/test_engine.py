"""The policy engine: RBAC from grants, expiry at decision time, ABAC rules as data (residency
with exceptions, MFA, time of day in the tenant's zone, attestations), SoD, invalidation, and
Django's has_perm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from apps.access import engine, services
from apps.access.engine import Context
from apps.access.models import ComplianceAttestation, Grant
from apps.core.tenancy import tenant_context
from apps.tenants import services as tenant_services

from .conftest import Catalog


def _grant(tenant, actor, user, **kw):
    kw.setdefault("source", "manual")
    return services.grant_create(actor=actor, tenant=tenant, user=user, **kw)


def test_no_grant_denies_with_reason(tenant_a, member_a, catalog: Catalog):
    decision = engine.decide(member_a, "read", catalog.crm)
    assert not decision.allowed
    assert decision.reasons[0].kind == "default"
    assert "No active grant" in decision.reasons[0].message


def test_role_grant_allows_implied_levels_only(tenant_a, admin_a, member_a, catalog):
    grant = _grant(tenant_a, admin_a, member_a, role=catalog.analyst)
    decision = engine.decide(member_a, "read", catalog.crm)
    assert decision.allowed
    assert decision.reasons[0].kind == "grant"
    assert decision.reasons[0].ref == f"grant:{grant.pk}"
    assert not engine.decide(member_a, "write", catalog.crm).allowed
    assert not engine.decide(member_a, "export", catalog.crm).allowed
    assert engine.decide(member_a, "read", catalog.analytics).allowed


def test_write_implies_read_but_not_export(tenant_a, admin_a, member_a, catalog):
    _grant(tenant_a, admin_a, member_a, entitlement=catalog.crm_write)
    assert engine.can(member_a, "read", catalog.crm)
    assert not engine.can(member_a, "export", catalog.crm)


def test_revocation_reflected_in_next_decision(tenant_a, admin_a, member_a, catalog):
    grant = _grant(tenant_a, admin_a, member_a, entitlement=catalog.crm_read)
    assert engine.can(member_a, "read", catalog.crm)
    services.grant_revoke(actor=admin_a, grant=grant, reason="done")
    assert not engine.can(member_a, "read", catalog.crm)


def test_expired_grant_inactive_even_without_sweeper(tenant_a, admin_a, staff_engineer, catalog):
    """A killed worker cannot leave access standing: the decision compares expires_at."""
    _grant(
        tenant_a,
        admin_a,
        staff_engineer,
        entitlement=catalog.crm_read,
        source="request",
        duration=timedelta(hours=2),
    )
    ctx = Context(location_region="eu")
    assert engine.decide(staff_engineer, "read", catalog.crm, ctx).allowed
    assert staff_engineer.has_perm("access.read_environment", catalog.crm)
    with time_machine.travel(timezone.now() + timedelta(hours=2, seconds=1)):
        # The sweeper has not run: the row is still unended, yet access is gone.
        with tenant_context(tenant_a):
            assert Grant.objects.filter(ends_at_due__isnull=False).count() == 1
        decision = engine.decide(staff_engineer, "read", catalog.crm, ctx)
        assert not decision.allowed
        assert "expired" in decision.reasons[0].message
        assert not staff_engineer.has_perm("access.read_environment", catalog.crm)


def test_future_grant_not_active_yet(tenant_a, admin_a, member_a, catalog):
    _grant(
        tenant_a,
        admin_a,
        member_a,
        entitlement=catalog.crm_read,
        starts_at=timezone.now() + timedelta(hours=1),
        duration=timedelta(hours=1),
    )
    assert not engine.can(member_a, "read", catalog.crm)
    later = Context(now=timezone.now() + timedelta(minutes=90))
    assert engine.decide(member_a, "read", catalog.crm, later).allowed


RESIDENCY = {
    "applies": {
        "all": [
            {"attr": "environment.region", "op": "eq", "value": "eu"},
            {"attr": "subject.is_vendor_staff", "op": "eq", "value": True},
        ]
    },
    "require": {"attr": "context.location_region", "op": "eq", "attr2": "environment.region"},
    "message": "EU-resident data only from EU-located staff.",
}


def test_residency_rule_and_exception(tenant_a, admin_a, staff_engineer, member_a, catalog):
    services.policy_rule_save(
        actor=admin_a,
        tenant=tenant_a,
        key="eu-residency",
        name="EU residency",
        conditions=RESIDENCY,
    )
    _grant(
        tenant_a,
        admin_a,
        staff_engineer,
        entitlement=catalog.crm_read,
        source="request",
        duration=timedelta(hours=4),
    )
    _grant(tenant_a, admin_a, member_a, entitlement=catalog.crm_read)
    from_us = Context(location_region="us")
    decision = engine.decide(staff_engineer, "read", catalog.crm, from_us)
    assert not decision.allowed
    assert decision.reasons[0].kind == "abac"
    assert decision.reasons[0].ref == "rule:eu-residency@v1"
    assert decision.reasons[0].message == "EU-resident data only from EU-located staff."
    assert engine.decide(staff_engineer, "read", catalog.crm, Context(location_region="eu"))
    # customer users are not in the rule's scope
    assert engine.decide(member_a, "read", catalog.crm, from_us).allowed
    services.policy_exception_create(
        actor=admin_a,
        tenant=tenant_a,
        rule_key="eu-residency",
        user=staff_engineer,
        reason="Approved for the migration weekend",
        expires_at=timezone.now() + timedelta(days=1),
    )
    decision = engine.decide(staff_engineer, "read", catalog.crm, from_us)
    assert decision.allowed
    assert any("exception" in r.message for r in decision.reasons)


def test_mfa_time_of_day_and_attestation_rules(tenant_a, admin_a, member_a, catalog):
    services.policy_rule_save(
        actor=admin_a,
        tenant=tenant_a,
        key="export-needs-totp",
        name="Export needs TOTP",
        conditions={
            "applies": {"attr": "action", "op": "eq", "value": "export"},
            "require": {"attr": "context.mfa_level", "op": "gte", "value": "totp"},
        },
    )
    services.policy_rule_save(
        actor=admin_a,
        tenant=tenant_a,
        key="office-hours",
        name="Writes in office hours",
        conditions={
            "applies": {"attr": "action", "op": "in", "value": ["write", "admin"]},
            "require": {"attr": "context.local_hour", "op": "between", "value": [7, 19]},
        },
    )
    services.policy_rule_save(
        actor=admin_a,
        tenant=tenant_a,
        key="confidential-gdpr",
        name="Confidential needs GDPR training",
        conditions={
            "applies": {"attr": "environment.sensitivity", "op": "eq", "value": "confidential"},
            "require": {"attr": "context.attested", "op": "contains", "value": "gdpr"},
        },
    )
    # Berlin is UTC+1 in January: 17:30 UTC = 18:30 local (inside), 18:30 UTC = 19:30 (outside)
    inside = datetime(2027, 1, 12, 17, 30, tzinfo=UTC)
    outside = datetime(2027, 1, 12, 18, 30, tzinfo=UTC)
    with time_machine.travel(inside - timedelta(hours=1), tick=False):
        _grant(
            tenant_a,
            admin_a,
            member_a,
            entitlement=catalog.crm_export,
            duration=timedelta(days=1),
        )
        _grant(tenant_a, admin_a, member_a, entitlement=catalog.crm_write)
        d = engine.decide(member_a, "export", catalog.crm, Context(now=inside, mfa_level="totp"))
        assert not d.allowed
        assert d.reasons[0].ref == "rule:confidential-gdpr@v1"
        with tenant_context(tenant_a):
            ComplianceAttestation.objects.create(tenant=tenant_a, user=member_a, flag="gdpr")
        services.policy_version_bump(tenant=tenant_a)
        assert engine.decide(member_a, "export", catalog.crm, Context(now=inside, mfa_level="totp"))
        d = engine.decide(member_a, "export", catalog.crm, Context(now=inside, mfa_level="none"))
        assert not d.allowed
        assert d.reasons[0].ref == "rule:export-needs-totp@v1"
        assert engine.decide(member_a, "write", catalog.crm, Context(now=inside)).allowed
        d = engine.decide(member_a, "write", catalog.crm, Context(now=outside))
        assert not d.allowed
        assert d.reasons[0].ref == "rule:office-hours@v1"


def test_rule_versioning_and_next_decision(tenant_a, admin_a, member_a, catalog):
    _grant(tenant_a, admin_a, member_a, entitlement=catalog.crm_read)
    conditions = {"require": {"attr": "context.risk_score", "op": "lt", "value": 50}}
    services.policy_rule_save(
        actor=admin_a, tenant=tenant_a, key="risk", name="Risk", conditions=conditions
    )
    risky = Context(risk_score=70)
    assert not engine.decide(member_a, "read", catalog.crm, risky).allowed
    conditions["require"]["value"] = 80
    rule = services.policy_rule_save(
        actor=admin_a, tenant=tenant_a, key="risk", name="Risk", conditions=conditions
    )
    assert rule.version == 2
    assert engine.decide(member_a, "read", catalog.crm, risky).allowed


@pytest.mark.parametrize(
    ("conditions", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ({"applies": {"attr": "environment.region", "op": "eq", "value": "eu"}}, "require"),
        ({"require": {"attr": "context.shoe_size", "op": "eq", "value": 1}}, "unknown attribute"),
        ({"require": {"attr": "action", "op": "equals", "value": "read"}}, "unknown operator"),
        ({"require": {"attr": "context.mfa_level", "op": "gte", "value": "retina"}}, "MFA level"),
        ({"require": {"all": []}}, "non-empty list"),
        ({"require": {"attr": "context.local_hour", "op": "between", "value": [9]}}, "two numbers"),
    ],
)
def test_invalid_rule_refused_with_reason(tenant_a, admin_a, conditions, fragment):
    with pytest.raises(services.RuleInvalid) as exc:
        services.policy_rule_save(
            actor=admin_a, tenant=tenant_a, key="bad", name="Bad", conditions=conditions
        )
    assert fragment in exc.value.message


def test_sod_preexisting_toxic_combination_denies(tenant_a, admin_a, member_a, catalog):
    _grant(tenant_a, admin_a, member_a, entitlement=catalog.crm_write)
    _grant(tenant_a, admin_a, member_a, entitlement=catalog.crm_export, duration=timedelta(days=1))
    assert engine.can(member_a, "export", catalog.crm)
    services.sod_rule_save(
        actor=admin_a,
        tenant=tenant_a,
        key="write-export",
        name="Write and export",
        entitlements=[catalog.crm_write, catalog.crm_export],
    )
    decision = engine.decide(member_a, "export", catalog.crm)
    assert not decision.allowed
    assert decision.reasons[0].kind == "sod"
    hits = engine.sod_check(user=member_a, tenant=tenant_a, entitlement=catalog.crm_export)
    assert [h.rule_key for h in hits] == ["write-export"]


def test_isolated_tenant_blocks_vendor_staff(tenant_a, operator, admin_a, staff_engineer, catalog):
    _grant(
        tenant_a,
        admin_a,
        staff_engineer,
        entitlement=catalog.analytics_read,
        source="request",
        duration=timedelta(hours=2),
    )
    assert engine.can(staff_engineer, "read", catalog.analytics)
    tenant_services.tenant_set_status(
        actor=operator, tenant=tenant_a, status="isolated", reason="incident"
    )
    engine.cache_invalidate(tenant_a.pk)
    assert not engine.can(staff_engineer, "read", catalog.analytics)
    assert not staff_engineer.has_perm("access.read_environment", catalog.analytics)


def test_status_change_seen_after_recheck_interval(
    tenant_a, operator, admin_a, member_a, catalog, settings
):
    """Changes from another process: the version/status row is re-read once the recheck
    interval has passed (0 here)."""
    settings.ACCESS_POLICY_RECHECK_SECONDS = 0
    _grant(tenant_a, admin_a, member_a, entitlement=catalog.analytics_read)
    assert engine.can(member_a, "read", catalog.analytics)
    tenant_services.tenant_set_status(
        actor=operator, tenant=tenant_a, status="suspended", reason="unpaid"
    )
    assert not engine.can(member_a, "read", catalog.analytics)


def test_has_perm_reflects_grants(tenant_a, admin_a, member_a, outsider_b, catalog):
    assert not member_a.has_perm("access.read_environment", catalog.crm)
    grant = _grant(tenant_a, admin_a, member_a, entitlement=catalog.crm_write)
    assert member_a.has_perm("access.read_environment", catalog.crm)
    assert member_a.has_perm("access.write_environment", catalog.crm)
    assert not member_a.has_perm("access.export_environment", catalog.crm)
    assert not outsider_b.has_perm("access.read_environment", catalog.crm)
    services.grant_suspend(actor=admin_a, grant=grant, reason="incident")
    assert not member_a.has_perm("access.read_environment", catalog.crm)


def test_service_account_subject(tenant_a, admin_a, catalog):
    account = services.service_account_create(actor=admin_a, tenant=tenant_a, name="etl")
    services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        service_account=account,
        entitlement=catalog.analytics_read,
        source="manual",
    )
    assert engine.can(account, "read", catalog.analytics)
    assert not engine.can(account, "read", catalog.crm)
