"""`engine.abac_check`: the ABAC part of a decision without a grant (what request eligibility
asks), used by apps.requests instead of the engine's internals."""

from __future__ import annotations

import pytest

from apps.access import engine, services
from apps.access.engine import Context
from apps.requests.policy import abac_denials
from apps.tenants import services as tenant_services
from tests.access.test_engine import RESIDENCY

pytestmark = pytest.mark.django_db


def test_abac_check_without_a_grant(tenant_a, admin_a, operator, staff_engineer, catalog):
    # No rules: allowed, nothing to say, even without any grant.
    assert engine.abac_check(staff_engineer, "read", catalog.crm) == (True, ())
    services.policy_rule_save(
        actor=admin_a,
        tenant=tenant_a,
        key="eu-residency",
        name="EU residency",
        conditions=RESIDENCY,
    )
    decision = engine.abac_check(staff_engineer, "read", catalog.crm, Context(location_region="us"))
    assert not decision.allowed
    assert [r.kind for r in decision.reasons] == ["abac"]
    assert "EU-located staff" in decision.reasons[0].message
    assert engine.abac_check(staff_engineer, "read", catalog.crm, Context(location_region="eu"))
    assert engine.abac_check(staff_engineer, "read", catalog.analytics)  # US: rule not applicable
    # The same answer through the requests app's eligibility helper.
    assert abac_denials(
        user=staff_engineer,
        action="read",
        environment=catalog.crm,
        context=Context(location_region="us"),
    ) == ["EU-resident data only from EU-located staff."]
    # An isolated tenant keeps vendor staff out whatever the rules say.
    tenant_services.tenant_set_status(
        actor=operator, tenant=tenant_a, status="isolated", reason="incident"
    )
    engine.cache_invalidate(tenant_a.pk)  # a status change is seen at the next recheck
    decision = engine.abac_check(
        staff_engineer, "read", catalog.analytics, Context(location_region="eu")
    )
    assert not decision.allowed
    assert decision.reasons[0].ref == "tenant_status"
