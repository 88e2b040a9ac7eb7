"""Catalog fixtures for the requests tests: acme's CRM (owned by approver_a) with read/write/
admin entitlements, a support manager on the vendor side."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from apps.core.tenancy import tenant_context
from apps.identity.models import StaffRole, UserKind
from apps.tenants import services as tenant_services
from tests.conftest import make_user


@pytest.fixture(autouse=True)
def _fresh_policy_cache() -> Any:
    """Database ids and policy versions repeat across tests (each rolls back): start every test
    with the engine's per-process cache empty."""
    from apps.access import engine

    engine.cache_invalidate()
    yield
    engine.cache_invalidate()


def entitlement_make(tenant: Any, environment: Any, level: str, risk: str) -> Any:
    from apps.access.models import Entitlement

    with tenant_context(tenant):
        return Entitlement.objects.create(
            tenant=tenant,
            environment=environment,
            level=level,
            risk=risk,
            name=f"{environment.slug}-{level}",
        )


@pytest.fixture
def crm(tenant_a: Any, operator: Any, approver_a: Any) -> Any:
    return tenant_services.environment_create(
        actor=operator, tenant=tenant_a, slug="crm", name="CRM", owner=approver_a
    )


@pytest.fixture
def crm_read(tenant_a: Any, crm: Any) -> Any:
    return entitlement_make(tenant_a, crm, "read", "low")


@pytest.fixture
def crm_write(tenant_a: Any, crm: Any) -> Any:
    return entitlement_make(tenant_a, crm, "write", "medium")


@pytest.fixture
def crm_admin(tenant_a: Any, crm: Any) -> Any:
    return entitlement_make(tenant_a, crm, "admin", "high")


@pytest.fixture
def support_manager(db: None) -> Any:
    return make_user(
        "maya@vendor.test",
        full_name="Maya Manager",
        kind=UserKind.STAFF,
        staff_role=StaffRole.SUPPORT_MANAGER,
    )


GOOD_REASON = (
    "Investigate the failed nightly invoice export reported in ticket SUP-42 by the finance team"
)
HOURS = timedelta(hours=1)
