"""The interface selectors: active grants only, through roles too, across tenants for staff."""

from __future__ import annotations

from datetime import timedelta

from apps.access import selectors, services
from apps.core.tenancy import tenant_context


def test_selectors(tenant_a, tenant_b, operator, admin_a, member_a, staff_engineer, catalog):
    services.grant_create(
        actor=admin_a, tenant=tenant_a, user=member_a, role=catalog.analyst, source="manual"
    )
    revoked = services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        entitlement=catalog.crm_write,
        source="manual",
    )
    services.grant_revoke(actor=admin_a, grant=revoked, reason="no longer needed")
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
    with tenant_context(tenant_a):
        assert [g.role for g in selectors.active_grants_for_user(member_a)] == [catalog.analyst]
        holders = {g.user for g in selectors.who_can_access(catalog.crm)}
        assert holders == {member_a, staff_engineer}
        vendor = list(selectors.vendor_grants_in_tenant(tenant_a))
        assert [g.user for g in vendor] == [staff_engineer]
    tenants = {g.tenant for g in selectors.what_can_user_access(staff_engineer)}
    assert tenants == {tenant_a, tenant_b}
