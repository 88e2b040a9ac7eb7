"""The ORM layer of tenant isolation (apps/core/tenancy.py, apps/core/models.py): tenant-owned
managers fail closed without a tenant context, filter inside one, and crossing tenants is
explicit (`unscoped(reason=...)`) and on the record. Runs on SQLite and PostgreSQL; the
database layer underneath is tests/core/test_rls.py."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from django.test import Client

from apps.core.models import AuditEvent
from apps.core.tenancy import (
    TenantContextMissing,
    current_tenant,
    current_tenant_id,
    no_tenant,
    tenant_context,
    unscoped,
)
from apps.identity.models import User
from apps.tenants import services as tenant_services
from apps.tenants.models import Environment, Membership, Tenant


@pytest.fixture
def environments(operator: User, tenant_a: Tenant, tenant_b: Tenant) -> None:
    tenant_services.environment_create(actor=operator, tenant=tenant_a, slug="crm", name="CRM A")
    tenant_services.environment_create(actor=operator, tenant=tenant_b, slug="crm", name="CRM B")


def test_tenant_manager_fails_closed_without_context(environments: None) -> None:
    assert current_tenant_id() is None
    for call in (
        lambda: Environment.objects.all(),
        lambda: Environment.objects.count(),
        lambda: Environment.objects.filter(slug="crm").first(),
        lambda: Membership.objects.exists(),
        lambda: AuditEvent.objects.count(),
    ):
        with pytest.raises(TenantContextMissing):
            call()


def test_tenant_manager_filters_by_the_current_tenant(
    environments: None, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_a):
        assert current_tenant() == tenant_a
        assert list(Environment.objects.values_list("name", flat=True)) == ["CRM A"]
        assert not Environment.objects.filter(tenant=tenant_b).exists()
        # Asking explicitly for another tenant inside a tenant is a bug, not a query.
        with pytest.raises(TenantContextMissing):
            Environment.objects.for_tenant(tenant_b)
        assert Environment.objects.for_tenant(tenant_a).count() == 1
    with tenant_context(tenant_b):
        assert list(Environment.objects.values_list("name", flat=True)) == ["CRM B"]
    assert current_tenant_id() is None  # the context ends with the block


def test_nested_contexts_restore_the_outer_one(tenant_a: Tenant, tenant_b: Tenant) -> None:
    with tenant_context(tenant_a):
        with tenant_context(tenant_b):
            assert current_tenant_id() == tenant_b.pk
        assert current_tenant_id() == tenant_a.pk
        with no_tenant():
            assert current_tenant_id() is None
            with pytest.raises(TenantContextMissing):
                Environment.objects.count()
        assert current_tenant_id() == tenant_a.pk


def test_saving_a_tenant_row_without_a_tenant_is_refused(db: None) -> None:
    with pytest.raises(TenantContextMissing):
        Environment(slug="orphan", name="Orphan").save()


def test_a_new_row_takes_the_current_tenant(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        row = Environment.objects.create(slug="wiki", name="Wiki")
    assert row.tenant_id == tenant_a.pk


def test_related_lookups_stay_scoped(
    environments: None, tenant_a: Tenant, admin_a: User, outsider_b: User
) -> None:
    """The base manager is the scoped one too, so reverse/related access cannot leak."""
    with tenant_context(tenant_a):
        assert list(Membership.objects.values_list("user__email", flat=True)) == [admin_a.email]
        assert not Membership.objects.filter(user=outsider_b).exists()


def test_unscoped_needs_a_reason_and_is_on_the_record(
    environments: None, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match="reason"), unscoped(reason=""):
        pass  # pragma: no cover - never entered
    with (
        caplog.at_level(logging.DEBUG, logger="custos.tenancy"),
        unscoped(reason="test: count every tenant's environments"),
    ):
        assert Environment.objects.count() == 2
    assert any(
        "test: count every tenant's environments" in record.getMessage()
        for record in caplog.records
        if record.name == "custos.tenancy"
    )
    # The crossing ends with its block.
    with pytest.raises(TenantContextMissing):
        Environment.objects.count()


def test_a_person_crossing_tenants_leaves_an_audit_event(
    tenant_a: Tenant,
    tenant_b: Tenant,
    compliance_officer: User,
    client_for: Callable[[User], Client],
) -> None:
    """Cross-tenant reads done for a person (the compliance audit search) write an event."""
    response = client_for(compliance_officer).get("/staff/audit/")
    assert response.status_code == 200
    with unscoped(reason="test: read the platform chain"):
        searched = AuditEvent.objects.filter(
            action="audit.searched", actor_id=compliance_officer.pk
        )
        assert searched.count() == 1
        assert searched.get().tenant_id is None


def test_the_tenant_middleware_enters_and_leaves_the_context(
    environments: None,
    admin_a: User,
    client_for: Callable[[User], Client],
) -> None:
    response = client_for(admin_a).get("/t/acme/environments/")
    assert response.status_code == 200
    assert b"CRM A" in response.content
    assert b"CRM B" not in response.content
    assert current_tenant_id() is None  # nothing leaks into the test's thread
