"""Where access events come from: sign-in (success and failed password, through Django's auth
signals), portal pages and API calls (middleware), and applications reporting through
POST /api/v1/t/<tenant>/access-events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from apps.certification.analytics.models import AccessEvent
from apps.core.tenancy import tenant_context
from apps.integrations.services.api_keys import api_key_create
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache() -> Any:
    cache.clear()
    yield
    cache.clear()


def events(tenant: Any, **filters: Any) -> list[AccessEvent]:
    with tenant_context(tenant):
        return list(AccessEvent.objects.filter(**filters).order_by("id"))


def test_sign_in_and_failed_password_are_recorded(tenant_a, member_a) -> None:
    client = Client(REMOTE_ADDR="192.0.2.44")
    client.post(reverse("identity:login"), {"email": member_a.email, "password": "wrong one"})
    client.post(reverse("identity:login"), {"email": member_a.email, "password": PASSWORD})
    failed, login = events(tenant_a, user=member_a)
    assert (failed.kind, login.kind) == ("auth_failed", "login")
    assert login.ip == "192.0.2.44"
    assert (login.country, login.city) == ("DE", "Berlin")


def test_portal_reads_once_per_window_and_every_write(client_for, tenant_a, admin_a) -> None:
    client = client_for(admin_a)
    before = len(events(tenant_a, user=admin_a, channel="portal", kind__in=["read", "write"]))
    client.get("/t/acme/analytics/")
    client.get("/t/acme/analytics/findings/")
    client.post("/t/acme/analytics/findings/refresh/")
    portal = events(tenant_a, user=admin_a, channel="portal", kind__in=["read", "write"])[before:]
    assert [e.kind for e in portal] == ["read", "write"]
    assert portal[1].detail == "POST /t/acme/analytics/findings/refresh/"


def test_refused_requests_are_not_recorded(client_for, tenant_a, member_a, outsider_b) -> None:
    client_for(member_a).get("/t/acme/analytics/")  # 403
    client_for(outsider_b).get("/t/acme/analytics/")  # 404
    assert events(tenant_a, channel="portal", kind__in=["read", "write"]) == []


def test_applications_report_events_through_the_api(
    tenant_a, tenant_b, admin_a, member_a, catalog, outsider_b
) -> None:
    issued = api_key_create(
        actor=admin_a,
        tenant=tenant_a,
        name="crm",
        scopes=["decisions"],
        technical_contact_email="ops@acme.test",
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    url = "/api/v1/t/acme/access-events"
    body = {
        "events": [
            {
                "kind": "read",
                "email": member_a.email,
                "environment": "crm-prod",
                "ip": "100.64.0.1",
            },
            {
                "kind": "export",
                "user_id": member_a.pk,
                "environment": catalog.crm.pk,
                "rows": 12_000,
                "at": "2026-12-01T10:00:00Z",
            },
        ]
    }
    response = client.post(url, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json() == {"recorded": 2}
    read, export = events(tenant_a, channel="application")
    assert read.entitlement_id == catalog.crm_read.pk
    assert read.country == "FR"
    assert export.entitlement_id == catalog.crm_export.pk
    assert export.rows == 12_000
    assert export.principal.startswith("cus_")
    # another tenant's person or environment is "unknown", never a hint it exists
    bad = {"events": [{"kind": "read", "email": outsider_b.email}]}
    refused = client.post(url, data=json.dumps(bad), content_type="application/json")
    assert refused.status_code == 422
    assert (
        client.post(
            "/api/v1/t/globex/access-events", data=json.dumps(body), content_type="application/json"
        ).status_code
        == 404
    )
    assert events(tenant_b) == []
    # a malformed address is the caller's error (422 naming the field), never a server error
    not_an_ip = {"events": [{"kind": "read", "email": member_a.email, "ip": "not-an-ip"}]}
    malformed = client.post(url, data=json.dumps(not_an_ip), content_type="application/json")
    assert malformed.status_code == 422
    assert b"ip" in malformed.content


def test_reporting_needs_the_scope(tenant_a, admin_a) -> None:
    issued = api_key_create(
        actor=admin_a,
        tenant=tenant_a,
        name="ro",
        scopes=["users:read"],
        technical_contact_email="ops@acme.test",
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    response = client.post(
        "/api/v1/t/acme/access-events",
        data=json.dumps({"events": [{"kind": "read"}]}),
        content_type="application/json",
    )
    assert response.status_code == 403
