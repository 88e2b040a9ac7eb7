"""PostgreSQL only: the suspension is set-based (its statement count does not grow with the
tenant's size), runs under row-level security, and leaves audit chains that verify."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.access.models import Entitlement, Grant, GrantSource
from apps.core.audit.verify import audit_verify
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import User
from apps.incidents import services
from apps.incidents.models import TenantScope
from apps.integrations.models import ApiKey, CredentialState
from apps.tenants import services as tenant_services
from apps.tenants.models import Membership, Tenant, TenantRole
from tests._ci import require_postgres

pytestmark = pytest.mark.django_db


def _populate(tenant: Tenant, operator: User, *, people: int, keys: int, tag: str) -> None:
    """People with memberships and two grants each, plus API keys (bulk rows, as a directory
    import leaves them)."""
    environment = tenant_services.environment_create(
        actor=operator, tenant=tenant, slug=f"env-{tag}", name=f"Env {tag}"
    )
    with tenant_context(tenant):
        read = Entitlement.objects.create(
            tenant=tenant, environment=environment, level="read", risk="low", name=f"{tag}-read"
        )
        write = Entitlement.objects.create(
            tenant=tenant, environment=environment, level="write", risk="low", name=f"{tag}-write"
        )
    users = User.objects.bulk_create(
        [User(email=f"{tag}{i}@{tenant.slug}.test", password="!") for i in range(people)]
    )
    until = timezone.now() + timedelta(days=5)
    with tenant_context(tenant):
        Membership.objects.bulk_create(
            [Membership(tenant=tenant, user=u, role=TenantRole.MEMBER) for u in users]
        )
        Grant.objects.bulk_create(
            [
                Grant(
                    tenant=tenant,
                    user=u,
                    entitlement=e,
                    source=GrantSource.MANUAL,
                    expires_at=until,
                    ends_at_due=until,
                )
                for u in users
                for e in (read, write)
            ]
        )
        ApiKey.objects.bulk_create(
            [
                ApiKey(
                    tenant=tenant,
                    name=f"key {i}",
                    prefix=f"{tag}{i:06d}",
                    secret_hash="0" * 64,
                    technical_contact_email="ops@example.test",
                    expires_at=until,
                )
                for i in range(keys)
            ]
        )


def _suspend(actor: User, tenant: Tenant) -> tuple[int, Any]:
    incident = services.incident_open(
        actor=actor,
        title=f"Breach {tenant.slug}",
        severity="critical",
        tenants=[tenant],
        scope=TenantScope.WHOLE_TENANT,
    )
    preview = services.suspension_preview(actor=actor, incident=incident, isolate=[tenant.pk])
    with CaptureQueriesContext(connection) as queries:
        services.suspension_execute(
            actor=actor,
            incident=incident,
            fingerprint_seen=preview.fingerprint,
            confirm_reference=incident.reference,
            reason="breach",
            isolate=[tenant.pk],
        )
    return len(queries), incident


def test_suspension_is_set_based_under_rls_and_the_chains_verify(
    operator: User, security_officer: User, admin_a: User, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    require_postgres()
    _populate(tenant_a, operator, people=20, keys=5, tag="s")
    _populate(tenant_b, operator, people=400, keys=100, tag="b")
    small, _ = _suspend(security_officer, tenant_a)
    big, _incident = _suspend(security_officer, tenant_b)
    # 20x the people, grants and keys: the same statements (give or take a constant).
    assert big <= small + 5, (small, big)
    with tenant_context(tenant_b):
        assert not Grant.objects.filter(suspended_at__isnull=True).exists()
        assert not ApiKey.objects.filter(state=CredentialState.ACTIVE).exists()
    with unscoped(reason="test"):
        assert not User.objects.filter(email__endswith="@globex.test", is_active=True).exists()
    report = audit_verify(use_checkpoint=False)
    assert report.ok, report


def test_a_tenant_context_sees_only_its_own_incident_rows(
    operator: User, security_officer: User, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    require_postgres()
    from apps.incidents.models import GrantSnapshot, IncidentTenant

    _populate(tenant_b, operator, people=3, keys=1, tag="r")
    _suspend(security_officer, tenant_b)
    with tenant_context(tenant_a):
        assert not IncidentTenant.objects.exists()
        with connection.cursor() as cursor:  # RLS, not only the ORM filter
            cursor.execute("SELECT count(*) FROM incidents_grantsnapshot")
            assert cursor.fetchone()[0] == 0
    with tenant_context(tenant_b):
        assert GrantSnapshot.objects.count() == 6
