"""Portal and staff pages: the access trio on every page, the live alert region (HTMX) with a
constant number of queries, triage audited, role mining from the page, settings, and the
compliance dashboard across tenants."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.certification.analytics.models import AlertStatus, AnalyticsSettings, AnomalyAlert
from apps.certification.analytics.services import anomalies_detect
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from tests.analytics.conftest import IP_BERLIN, IP_SYDNEY, berlin

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
PAGES = [
    "/t/acme/analytics/",
    "/t/acme/analytics/findings/",
    "/t/acme/analytics/mining/",
    "/t/acme/analytics/events/",
]


def raise_alert(tenant: Any, user: Any, record: Any) -> AnomalyAlert:
    record(user, at=berlin(1, 10, 0), ip=IP_BERLIN)
    record(user, at=berlin(1, 10, 4), ip=IP_SYDNEY)
    anomalies_detect()
    with tenant_context(tenant):
        return AnomalyAlert.objects.get(kind="impossible_travel")


@pytest.mark.parametrize("url", [*PAGES, "/t/acme/analytics/settings/"])
def test_access_trio(url, client_for, admin_a, member_a, outsider_b) -> None:
    assert Client().get(url).status_code == 302
    assert client_for(outsider_b).get(url).status_code == 404
    assert client_for(member_a).get(url).status_code == 403
    assert client_for(admin_a).get(url).status_code == 200


def test_reviewers_read_but_do_not_act(client_for, approver_a, tenant_a, member_a, record) -> None:
    alert = raise_alert(tenant_a, member_a, record)
    client = client_for(approver_a)
    page = client.get(f"/t/acme/analytics/alerts/{alert.pk}/")
    assert page.status_code == 200
    assert b'name="action"' not in page.content
    post = client.post(f"/t/acme/analytics/alerts/{alert.pk}/triage/", {"action": "dismiss"})
    assert post.status_code == 403


def test_dashboard_live_region_shows_new_alerts(
    client_for, admin_a, tenant_a, member_a, record, django_assert_max_num_queries
) -> None:
    client = client_for(admin_a)
    page = client.get("/t/acme/analytics/")
    assert b'hx-trigger="every 10s"' in page.content
    raise_alert(tenant_a, member_a, record)
    with django_assert_max_num_queries(12):
        fragment = client.get("/t/acme/analytics/", **HTMX)
    assert fragment.status_code == 200
    assert b"<h1>" not in fragment.content
    assert b"Sydney" in fragment.content
    assert fragment["Vary"].find("HX-Request") >= 0


def test_triage_flow_is_audited_and_guarded(
    client_for, admin_a, tenant_a, member_a, record
) -> None:
    alert = raise_alert(tenant_a, member_a, record)
    client = client_for(admin_a)
    url = f"/t/acme/analytics/alerts/{alert.pk}/triage/"
    assert client.post(url, {"action": "investigate", "note": "looking"}).status_code == 302
    response = client.post(url, {"action": "dismiss", "note": ""}, follow=True)
    assert b"Say why" in response.content  # a dismissal needs a reason
    client.post(url, {"action": "escalate", "note": "stolen laptop"})
    with tenant_context(tenant_a):
        alert.refresh_from_db()
        assert alert.status == AlertStatus.ESCALATED
        assert alert.status_changed_by_id == admin_a.pk
        actions = list(
            AuditEvent.objects.filter(action__startswith="analytics.alert.")
            .exclude(action="analytics.alert.raised")
            .order_by("seq")
            .values_list("action", flat=True)
        )
    assert actions == ["analytics.alert.investigate", "analytics.alert.escalate"]
    again = client.post(url, {"action": "dismiss", "note": "x"}, follow=True)
    assert again.status_code == 200
    assert b"nothing was changed" in again.content


def test_another_tenants_alert_is_404(client_for, admin_a, tenant_b, outsider_b) -> None:
    from apps.certification.analytics.services import access_event_record

    access_event_record(
        tenant=tenant_b, kind="read", user=outsider_b, ip=IP_BERLIN, at=berlin(1, 3)
    )
    anomalies_detect()
    with tenant_context(tenant_b):
        alert = AnomalyAlert.objects.get()
    client = client_for(admin_a)
    assert client.get(f"/t/acme/analytics/alerts/{alert.pk}/").status_code == 404
    assert (
        client.post(
            f"/t/acme/analytics/alerts/{alert.pk}/triage/", {"action": "investigate"}
        ).status_code
        == 404
    )


def test_findings_and_mining_from_the_pages(client_for, admin_a, tenant_a) -> None:
    client = client_for(admin_a)
    assert client.post("/t/acme/analytics/findings/refresh/").status_code == 302
    assert client.post("/t/acme/analytics/mining/run/").status_code == 302
    page = client.get("/t/acme/analytics/mining/")
    assert page.status_code == 200
    assert b"Last run" in page.content


def test_settings_are_validated_and_audited(client_for, admin_a, tenant_a) -> None:
    client = client_for(admin_a)
    form = client.get("/t/acme/analytics/settings/").context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update({"business_start": "18:00", "business_end": "08:00", "webhook_alerts": "on"})
    bad = client.post("/t/acme/analytics/settings/", data)
    assert bad.status_code == 400
    data.update({"business_start": "08:00", "business_end": "18:00", "travel_km": 1500})
    assert client.post("/t/acme/analytics/settings/", data).status_code == 302
    with tenant_context(tenant_a):
        assert AnalyticsSettings.objects.get().travel_km == 1500
        event = AuditEvent.objects.get(action="analytics.settings.changed")
    assert event.personal["after"]["travel_km"] == "1500"


def test_pages_speak_german(client_for, admin_a) -> None:
    admin_a.language = "de"
    admin_a.save(update_fields=["language"])
    client = client_for(admin_a)
    client.cookies["django_language"] = "de"
    page = client.get("/t/acme/analytics/")
    assert b"Zugriffsanalyse" in page.content


def test_staff_compliance_dashboard(
    client_for, compliance_officer, staff_engineer, admin_a, tenant_a, member_a, record
) -> None:
    alert = raise_alert(tenant_a, member_a, record)
    assert client_for(staff_engineer).get("/staff/analytics/").status_code == 403
    assert client_for(admin_a).get("/staff/analytics/").status_code == 403
    client = client_for(compliance_officer)
    page = client.get("/staff/analytics/")
    assert page.status_code == 200
    assert b"ACME Corp" in page.content
    assert client.get("/staff/analytics/", **HTMX).status_code == 200
    assert client.get(f"/staff/analytics/alerts/{alert.pk}/").status_code == 200
    client.post(f"/staff/analytics/alerts/{alert.pk}/triage/", {"action": "investigate"})
    with tenant_context(tenant_a):
        alert.refresh_from_db()
        event = AuditEvent.objects.get(action="analytics.alert.investigate")
    assert alert.status == AlertStatus.INVESTIGATING
    assert event.actor_id == compliance_officer.pk
    assert client.get("/staff/analytics/alerts/999999/").status_code == 404
    # security/compliance staff escalating opens an incident (apps.incidents) and links it
    client.post(
        f"/staff/analytics/alerts/{alert.pk}/triage/", {"action": "escalate", "note": "stolen?"}
    )
    with tenant_context(tenant_a):
        alert.refresh_from_db()
    assert alert.status == AlertStatus.ESCALATED
    assert alert.incident_ref
