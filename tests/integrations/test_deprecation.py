"""Deprecated endpoints: the headers a client sees, the per-client report and the weekly
notice to its technical contact."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from apps.core.tenancy import tenant_context
from apps.integrations.models import ApiDeprecatedCall
from apps.integrations.services.housekeeping import deprecated_calls_notify_due
from tests.integrations.conftest import bearer

pytestmark = pytest.mark.django_db
AUDIT_ROUTE = "GET api/v1/tenants/<tenant_slug>/audit-events"


@pytest.fixture
def deprecate_audit(settings):
    settings.API_DEPRECATIONS = {
        AUDIT_ROUTE: {"since": "2026-10-01", "sunset": "2027-03-31", "link": "https://x.test/m"}
    }


def test_configured_deprecation_sends_headers(deprecate_audit, issue_key):
    issued = issue_key(scopes=["audit:read"])
    response = bearer(issued.token).get("/api/v1/tenants/acme/audit-events")
    assert response.status_code == 200
    assert response["Deprecation"] == "@1790812800"  # 2026-10-01T00:00:00Z
    assert response["Sunset"] == "Wed, 31 Mar 2027 23:59:59 GMT"
    assert 'rel="deprecation"' in response["Link"]
    assert 'rel="sunset"' in response["Link"]
    assert "Deprecation" not in bearer(issued.token).get("/api/v1/me")


@pytest.mark.urls("tests.integrations.urls_deprecated")
def test_decorated_endpoint_is_deprecated_and_recorded(issue_key, tenant_a):
    issued = issue_key(scopes=["audit:read"])
    response = bearer(issued.token).get("/api/v0/ping")
    assert response.status_code == 200
    assert response["Deprecation"] == "@1767225600"
    assert response["Sunset"] == "Wed, 30 Jun 2027 23:59:59 GMT"
    with tenant_context(tenant_a):
        (row,) = ApiDeprecatedCall.objects.all()
    assert row.endpoint == "api/v0/ping"
    assert row.credential_id == issued.key.pk


def test_usage_is_recorded_per_client_and_notified_at_most_weekly(
    deprecate_audit, issue_key, tenant_a, client_for, compliance_officer
):
    first = issue_key(scopes=["audit:read"], technical_contact_email="first@acme.test")
    second = issue_key(
        scopes=["audit:read"], technical_contact_email="second@acme.test", contact_language="fr"
    )
    for _ in range(3):
        bearer(first.token).get("/api/v1/tenants/acme/audit-events")
    bearer(second.token).get("/api/v1/tenants/acme/audit-events")
    with tenant_context(tenant_a):
        rows = {r.credential_id: r for r in ApiDeprecatedCall.objects.all()}
    assert rows[first.key.pk].calls == 3
    assert rows[second.key.pk].calls == 1

    assert deprecated_calls_notify_due() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["first@acme.test", "second@acme.test"]
    assert "audit-events" in mail.outbox[0].body
    bearer(first.token).get("/api/v1/tenants/acme/audit-events")
    assert deprecated_calls_notify_due() == 0  # within the week: no second notice
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert deprecated_calls_notify_due() == 1  # only the client that called again
    assert mail.outbox[-1].to == ["first@acme.test"]

    report = client_for(compliance_officer).get("/staff/api/deprecations/")
    assert report.status_code == 200
    assert "audit-events" in report.content.decode()
    assert "CI pipeline" in report.content.decode()


def test_openapi_marks_configured_deprecations(deprecate_audit, client):
    doc = client.get("/api/v1/openapi.json").json()
    operation = doc["paths"]["/api/v1/tenants/{tenant_slug}/audit-events"]["get"]
    assert operation["deprecated"] is True
    assert {"Deprecation", "Sunset"} <= set(operation["responses"]["200"]["headers"])
    assert "deprecated" not in doc["paths"]["/api/v1/me"]["get"]
