"""GET /api/v1/tenants/<t>/users and /grants: scoped, tenant-bound, keyset-paged, and a constant
number of queries per page however many rows there are."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.access.models import GrantSource, PermissionLevel, RiskLevel
from apps.access.services import grant_create
from apps.access.services.catalog import entitlement_create
from apps.tenants import services as tenant_services
from tests.conftest import make_user
from tests.integrations.conftest import bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def granted(tenant_a: Any, admin_a: Any, operator: Any) -> list[Any]:
    environment = tenant_services.environment_create(
        actor=operator, tenant=tenant_a, slug="crm", name="CRM"
    )
    entitlement = entitlement_create(
        actor=operator,
        tenant=tenant_a,
        environment=environment,
        level=PermissionLevel.READ,
        risk=RiskLevel.LOW,
        name="crm-read",
    )
    people = []
    for i in range(7):
        person = make_user(f"p{i}@acme.test", full_name=f"Person {i}")
        tenant_services.membership_add(actor=operator, tenant=tenant_a, user=person, role="member")
        grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=person,
            entitlement=entitlement,
            source=GrantSource.MANUAL,
            expires_at=timezone.now() + timedelta(days=30),
            justification="test",
        )
        people.append(person)
    return people


def test_users_are_paged_by_id(issue_key: Any, granted: Any) -> None:
    client = bearer(issue_key(scopes=["users:read"]).token)
    first = client.get("/api/v1/tenants/acme/members?limit=5").json()
    assert len(first["items"]) == 5
    rest = client.get(f"/api/v1/tenants/acme/members?after_id={first['next_after_id']}").json()
    emails = {u["email"] for u in first["items"] + rest["items"]}
    assert {p.email for p in granted} <= emails
    assert rest["next_after_id"] is None


def test_grants_list_who_holds_what(issue_key: Any, granted: Any) -> None:
    body = bearer(issue_key(scopes=["grants:read"]).token).get("/api/v1/tenants/acme/grants")
    assert body.status_code == 200, body.content
    items = body.json()["items"]
    assert {i["subject"] for i in items} == {p.email for p in granted}
    assert {i["target"] for i in items} == {"crm-read"}
    assert all(i["state"] == "active" and i["expires_at"] for i in items)


def test_read_endpoints_need_their_scope(issue_key: Any) -> None:
    client = bearer(issue_key(scopes=["audit:read"]).token)
    for path in ("/api/v1/tenants/acme/members", "/api/v1/tenants/acme/grants"):
        response = client.get(path)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "insufficient_scope"


def test_other_tenant_is_not_found(issue_key: Any, tenant_b: Any) -> None:
    client = bearer(issue_key().token)
    for path in ("/api/v1/tenants/globex/members", "/api/v1/tenants/globex/grants"):
        assert client.get(path).status_code == 404


def test_constant_queries_per_page(
    issue_key: Any, granted: Any, django_assert_max_num_queries: Any
) -> None:
    client = bearer(issue_key().token)
    client.get("/api/v1/tenants/acme/grants")  # warm: last-used write, caches
    for path in ("/api/v1/tenants/acme/grants", "/api/v1/tenants/acme/members"):
        # key lookup, page query, call record (+ savepoints of the test transaction)
        with django_assert_max_num_queries(6):
            assert client.get(path).status_code == 200
