"""Pages: the staff console (security/compliance only), the dry run → "suspend now" flow, the
restore page, and the customer portal (tenant-scoped; customer admins only)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from apps.access.models import Grant
from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.incidents import services
from apps.incidents.models import Incident, TenantScope
from tests.conftest import verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(world: Any, security_officer: User) -> Incident:
    return services.incident_open(
        actor=security_officer,
        title="Leaked CI token",
        severity="high",
        tenants=[world.tenant_a],
        scope=TenantScope.WHOLE_TENANT,
        customer_summary="A token of your CI was seen in a public log.",
    )


def test_staff_pages_for_oversight_only(
    world: Any, incident: Incident, security_officer: User, staff_engineer: User, admin_a: User
) -> None:
    urls = [
        "/staff/incidents/",
        "/staff/incidents/new/",
        f"/staff/incidents/{incident.pk}/",
        f"/staff/incidents/{incident.pk}/suspend/",
        f"/staff/incidents/{incident.pk}/restore/",
    ]
    anonymous = Client()
    for url in urls:
        assert anonymous.get(url).status_code == 302
        assert verified_client(staff_engineer).get(url).status_code == 403
        assert verified_client(admin_a).get(url).status_code == 403
        assert verified_client(security_officer).get(url).status_code == 200
    assert verified_client(security_officer).get("/staff/incidents/999999/").status_code == 404


def test_open_an_incident_from_the_console(
    world: Any, security_officer: User, compliance_officer: User
) -> None:
    client = verified_client(security_officer)
    response = client.post(
        "/staff/incidents/new/",
        {
            "title": "Suspicious exports",
            "severity": "medium",
            "tenants": [world.tenant_a.slug],
            "scope": "selected",
            "owners": [compliance_officer.pk],
        },
    )
    incident = Incident.objects.get(title="Suspicious exports")
    assert response.status_code == 302
    assert response["Location"] == f"/staff/incidents/{incident.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "Incident opened" in page
    assert "ACME Corp" in page
    bad = client.post("/staff/incidents/new/", {"title": "", "severity": "x"})
    assert bad.status_code == 200
    assert Incident.objects.count() == 1


def test_dry_run_then_suspend_now(world: Any, incident: Incident, security_officer: User) -> None:
    client = verified_client(security_officer)
    url = f"/staff/incidents/{incident.pk}/suspend/"
    page = client.get(url, {"isolate": world.tenant_a.pk}).content.decode()
    assert "Nothing has changed yet" in page
    assert "mia@acme.test" in page
    assert "will be isolated" in page
    fingerprint = re.search(r'name="fingerprint" value="([0-9a-f]{64})"', page).group(1)
    with tenant_context(world.tenant_a):
        assert not Grant.objects.filter(suspended_at__isnull=False).exists()
    csv_body = b"".join(client.get(f"{url}preview.csv").streaming_content).decode()
    assert "grant_suspended" in csv_body
    assert "account_disabled" in csv_body
    wrong = client.post(
        url,
        {
            "fingerprint": fingerprint,
            "isolate": str(world.tenant_a.pk),
            "reason": "token leak",
            "confirm_reference": "nope",
        },
    )
    assert wrong.status_code == 409
    assert "Type the incident reference" in wrong.content.decode()
    done = client.post(
        url,
        {
            "fingerprint": fingerprint,
            "isolate": str(world.tenant_a.pk),
            "reason": "token leak",
            "confirm_reference": incident.reference,
        },
    )
    assert done.status_code == 302
    with tenant_context(world.tenant_a):
        assert not Grant.objects.filter(suspended_at__isnull=True, revoked_at__isnull=True).exists()
    again = client.post(
        url,
        {"fingerprint": fingerprint, "reason": "x", "confirm_reference": incident.reference},
    )
    assert again.status_code == 409
    assert "Nothing is left to suspend" in again.content.decode()


def test_portal_shows_the_tenants_incidents_to_its_admins_only(
    world: Any,
    incident: Incident,
    security_officer: User,
    admin_a: User,
    member_a: User,
    outsider_b: User,
) -> None:
    own = f"/t/acme/incidents/{incident.pk}/"
    assert verified_client(admin_a).get("/t/acme/incidents/").status_code == 200
    page = verified_client(admin_a).get(own).content.decode()
    assert incident.reference in page
    assert "public log" in page
    assert verified_client(member_a).get(own).status_code == 403
    assert verified_client(outsider_b).get(own).status_code == 404
    # Globex's own URL for ACME's incident: not there.
    assert verified_client(outsider_b).get(f"/t/globex/incidents/{incident.pk}/").status_code == 404
    listing = verified_client(outsider_b).get("/t/globex/incidents/").content.decode()
    assert incident.reference not in listing


def test_sign_off_in_the_portal(
    world: Any, incident: Incident, security_officer: User, admin_a: User
) -> None:
    url = f"/t/acme/incidents/{incident.pk}/sign-off/"
    early = verified_client(admin_a).post(url, {"statement": "ok"})
    assert early.status_code == 400
    assert "not documented yet" in early.content.decode()
    services.incident_postmortem_record(
        actor=security_officer,
        incident=incident,
        root_cause="Leaked token.",
        remediation="Rotated.",
    )
    done = verified_client(admin_a).post(url, {"statement": "We accept."})
    assert done.status_code == 302
    page = verified_client(admin_a).get(f"/t/acme/incidents/{incident.pk}/").content.decode()
    assert "Signed off by" in page


def test_restore_page_refuses_without_sign_off_with_a_message(
    world: Any, incident: Incident, security_officer: User
) -> None:
    preview = services.suspension_preview(actor=security_officer, incident=incident)
    services.suspension_execute(
        actor=security_officer,
        incident=incident,
        fingerprint_seen=preview.fingerprint,
        confirm_reference=incident.reference,
        reason="leak",
    )
    client = verified_client(security_officer)
    page = client.get(f"/staff/incidents/{incident.pk}/restore/").content.decode()
    snap_id = re.search(r'name="snapshot" value="(\d+)"', page).group(1)
    response = client.post(
        f"/staff/incidents/{incident.pk}/restore/",
        {
            "tenant": "acme",
            "snapshot": [snap_id],
            "mode": "time_bound",
            "expires_at": "2099-01-01T00:00",
            "reason": "clean",
        },
    )
    assert response.status_code == 400
    assert "not signed off" in response.content.decode()
    other = client.post(
        f"/staff/incidents/{incident.pk}/restore/",
        {"tenant": "globex", "snapshot": [snap_id], "mode": "reapproved", "reason": "x"},
    )
    assert other.status_code == 404


def test_detail_page_actions_give_messages_not_errors(
    world: Any, incident: Incident, security_officer: User
) -> None:
    client = verified_client(security_officer)
    base = f"/staff/incidents/{incident.pk}"
    r = client.post(f"{base}/subjects/", {"tenant": "acme", "kind": "user", "identifier": "x@y"})
    assert r.status_code == 302
    r = client.post(f"{base}/notes/", {"text": "Called the customer."}, follow=True)
    assert "Note added" in r.content.decode()
    r = client.post(
        f"{base}/notifications/",
        {"tenant": "acme", "jurisdiction": "gdpr", "language": "de"},
        follow=True,
    )
    assert "Notification drafted" in r.content.decode()
    r = client.post(f"{base}/status/", {"status": "closed"}, follow=True)
    assert "cannot become" in r.content.decode()
    r = client.post(f"{base}/subjects/", {"tenant": "globex", "kind": "user", "identifier": "a"})
    assert r.status_code == 404


def test_audit_log_and_explain_page_show_the_suspension_sensibly(
    world: Any, incident: Incident, security_officer: User, admin_a: User, client_for: Any
) -> None:
    preview = services.suspension_preview(actor=security_officer, incident=incident)
    services.suspension_execute(
        actor=security_officer,
        incident=incident,
        fingerprint_seen=preview.fingerprint,
        confirm_reference=incident.reference,
        reason="leak",
    )
    client = client_for(admin_a)
    audit = client.get("/t/acme/audit/").content.decode()
    assert "access.grants.suspended" in audit
    assert "6 grants" in audit  # the batch event's target
    assert "accounts.disabled" in audit
    explain = client.get(f"/t/acme/access/explain/environments/{world.crm.pk}/")
    assert explain.status_code == 200
    assert "Suspended" in explain.content.decode()  # the grant row itself says so
