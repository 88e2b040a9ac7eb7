"""A small catalog in tenant_a (ACME, EU, enterprise) and tenant_b (Globex), built through the
services, shared by the access tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from apps.access import services
from apps.access.models import Entitlement, Role
from apps.tenants import services as tenant_services
from apps.tenants.models import Environment, Region, Sensitivity, Tenant


@dataclass
class Catalog:
    crm: Environment  # EU, confidential
    analytics: Environment  # US
    crm_read: Entitlement
    crm_write: Entitlement
    crm_export: Entitlement
    crm_admin: Entitlement
    analytics_read: Entitlement
    support: Role  # crm read + write, vendor-internal
    analyst: Role  # analytics read + crm read
    other_env: Environment  # in tenant_b
    other_read: Entitlement


@pytest.fixture
def catalog(tenant_a: Tenant, tenant_b: Tenant, operator: Any) -> Catalog:
    crm = tenant_services.environment_create(
        actor=operator,
        tenant=tenant_a,
        slug="crm-prod",
        name="CRM production",
        region=Region.EU,
        sensitivity=Sensitivity.CONFIDENTIAL,
    )
    analytics = tenant_services.environment_create(
        actor=operator, tenant=tenant_a, slug="analytics", name="Analytics", region=Region.US
    )
    other_env = tenant_services.environment_create(
        actor=operator, tenant=tenant_b, slug="billing", name="Billing", region=Region.US
    )

    def ent(tenant: Tenant, env: Environment, level: str, risk: str) -> Entitlement:
        return services.entitlement_create(
            actor=operator, tenant=tenant, environment=env, level=level, risk=risk
        )

    crm_read = ent(tenant_a, crm, "read", "low")
    crm_write = ent(tenant_a, crm, "write", "medium")
    crm_export = ent(tenant_a, crm, "export", "high")
    crm_admin = ent(tenant_a, crm, "admin", "critical")
    analytics_read = ent(tenant_a, analytics, "read", "low")
    other_read = ent(tenant_b, other_env, "read", "low")
    support = services.role_create(
        actor=operator,
        tenant=tenant_a,
        key="support",
        name="Support",
        entitlements=[crm_read, crm_write],
        is_vendor_internal=True,
    )
    analyst = services.role_create(
        actor=operator,
        tenant=tenant_a,
        key="analyst",
        name="Analyst",
        entitlements=[analytics_read, crm_read],
    )
    return Catalog(
        crm,
        analytics,
        crm_read,
        crm_write,
        crm_export,
        crm_admin,
        analytics_read,
        support,
        analyst,
        other_env,
        other_read,
    )
