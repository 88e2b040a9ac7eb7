"""Portal and staff pages: scoped, translated, errors as form errors, HTMX fragments."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from apps.core.tenancy import tenant_context
from apps.requests import services
from apps.requests.links import approval_link_url
from apps.requests.models import AccessRequest, ApprovalDecision, RequestKind, RequestStatus

from .conftest import GOOD_REASON

pytestmark = pytest.mark.django_db


def pending(tenant, member, target, hours=2):
    return services.access_request_submit(
        actor=member,
        tenant=tenant,
        entitlement=target,
        duration=timedelta(hours=hours),
        justification=GOOD_REASON,
    )


@pytest.mark.parametrize(
    "url",
    [
        "/t/acme/requests/",
        "/t/acme/requests/catalog/",
        "/t/acme/requests/inbox/",
        "/t/acme/requests/vendor-access/",
    ],
)
def test_anonymous_is_sent_to_login_and_outsiders_get_404(
    url, client_for, tenant_a, admin_a, outsider_b
):
    response = Client().get(url)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert client_for(outsider_b).get(url).status_code == 404


def test_members_cannot_open_the_lockbox_or_service_levels(client_for, member_a):
    client = client_for(member_a)
    assert client.get("/t/acme/requests/vendor-access/").status_code == 403
    assert client.get("/t/acme/requests/service-levels/").status_code == 403


def test_catalog_lists_items_and_filters_with_htmx(client_for, member_a, crm_read, crm_admin):
    client = client_for(member_a)
    page = client.get("/t/acme/requests/catalog/")
    assert page.status_code == 200
    assert b"crm-read" in page.content
    assert b"crm-admin" in page.content
    fragment = client.get("/t/acme/requests/catalog/?risk=high", headers={"HX-Request": "true"})
    assert b"crm-admin" in fragment.content
    assert b"crm-read" not in fragment.content
    assert b"<html" not in fragment.content
    assert "HX-Request" in fragment["Vary"]


def test_request_form_shows_refusals_as_form_errors(client_for, member_a, approver_a, crm_read):
    client = client_for(member_a)
    response = client.post(
        "/t/acme/requests/new/",
        {"entitlement": crm_read.pk, "duration_hours": 24 * 91, "justification": GOOD_REASON},
    )
    assert response.status_code == 200
    assert b"longest allowed duration" in response.content
    ok = client.post(
        "/t/acme/requests/new/",
        {"entitlement": crm_read.pk, "duration_hours": 3, "justification": GOOD_REASON},
    )
    assert ok.status_code == 302
    detail = client.get(ok["Location"])
    assert b"Resource owner" in detail.content
    assert b"Arno" not in detail.content  # approvers' names are not exposed by default


def test_inline_decide_with_htmx_and_twice_is_refused(
    client_for, tenant_a, member_a, approver_a, crm_read
):
    req = pending(tenant_a, member_a, crm_read)
    client = client_for(approver_a)
    inbox = client.get("/t/acme/requests/inbox/")
    assert f"inbox-row-{req.pk}".encode() in inbox.content
    response = client.post(
        f"/t/acme/requests/{req.pk}/decide/",
        {"decision": "approve", "reason": "ok"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "access-request-changed"
    again = client.post(
        f"/t/acme/requests/{req.pk}/decide/",
        {"decision": "approve"},
        headers={"HX-Request": "true"},
    )
    assert again.status_code == 422
    with tenant_context(tenant_a):
        assert ApprovalDecision.objects.filter(step__request=req).count() == 1


def test_member_cannot_decide_someone_elses_request(
    client_for, tenant_a, operator, member_a, approver_a, crm_read
):
    from apps.tenants import services as tenant_services
    from tests.conftest import make_user

    other = make_user("tom@acme.test")
    tenant_services.membership_add(actor=operator, tenant=tenant_a, user=other)
    req = pending(tenant_a, member_a, crm_read)
    response = client_for(other).post(f"/t/acme/requests/{req.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 404


def test_bulk_approve(client_for, tenant_a, operator, member_a, approver_a, crm_read, crm_write):
    one = pending(tenant_a, member_a, crm_read)
    two = pending(tenant_a, member_a, crm_write)
    response = client_for(approver_a).post(
        "/t/acme/requests/inbox/bulk-approve/", {"ids": [one.pk, two.pk]}
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        assert set(AccessRequest.objects.values_list("status", flat=True)) == {RequestStatus.ACTIVE}


def test_inbox_query_count_is_constant(
    client_for,
    tenant_a,
    member_a,
    approver_a,
    crm_read,
    crm_write,
    crm_admin,
    django_assert_max_num_queries,
):
    for target in (crm_read, crm_write):
        pending(tenant_a, member_a, target)
    client = client_for(approver_a)
    client.get("/t/acme/requests/inbox/")
    with django_assert_max_num_queries(14):
        client.get("/t/acme/requests/inbox/")


def test_signed_link_needs_the_approver_with_mfa_and_works_once(
    tenant_a, member_a, approver_a, admin_a, client_for, crm_read
):
    req = pending(tenant_a, member_a, crm_read)
    with tenant_context(tenant_a):
        step = req.steps.get()
        url = approval_link_url(req=req, step=step, approver=approver_a)
    # Signed in without the second factor: refused.
    plain = Client()
    plain.force_login(approver_a)
    assert plain.get(url).status_code == 403
    # Another approver's session: refused.
    assert client_for(admin_a).get(url).status_code == 403
    client = client_for(approver_a)
    assert client.get(url).status_code == 200
    assert client.post(url, {"decision": "approve"}).status_code == 302
    replay = client.post(url, {"decision": "approve"})
    assert replay.status_code == 409
    tampered = url.replace("/link/", "/link/x")
    assert client.get(tampered).status_code == 400


def test_relinquish_from_my_access(client_for, tenant_a, member_a, approver_a, crm_read):
    req = pending(tenant_a, member_a, crm_read)
    services.access_request_decide(actor=approver_a, req=req, decision="approve")
    client = client_for(member_a)
    page = client.get("/t/acme/requests/access/")
    assert b"crm-read" in page.content
    assert client.post(f"/t/acme/requests/{req.pk}/relinquish/").status_code == 302
    with tenant_context(tenant_a):
        assert AccessRequest.objects.get(pk=req.pk).status == RequestStatus.ENDED


def test_service_levels_page_and_csv(client_for, tenant_a, member_a, approver_a, crm_read):
    req = pending(tenant_a, member_a, crm_read)
    services.access_request_decide(actor=approver_a, req=req, decision="approve")
    client = client_for(approver_a)
    assert client.get("/t/acme/requests/service-levels/").status_code == 200
    csv = client.get("/t/acme/requests/service-levels/?format=csv")
    assert csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().strip().splitlines()
    assert lines[0].startswith("day,requests,decided,within_sla")
    assert lines[1].split(",")[1:4] == ["1", "1", "1"]


def test_lockbox_journey_through_the_pages(
    client_for, tenant_a, staff_engineer, support_manager, approver_a, crm_read
):
    engineer = client_for(staff_engineer)
    form = engineer.get("/staff/requests/new/?tenant=acme")
    assert b"crm-read" not in form.content or b"CRM" in form.content
    response = engineer.post(
        "/staff/requests/new/",
        {
            "tenant": "acme",
            "entitlement": crm_read.pk,
            "duration_hours": 2,
            "ticket_ref": "SUP-1",
            "justification": GOOD_REASON,
        },
    )
    assert response.status_code == 302, response.content
    with tenant_context(tenant_a):
        req = AccessRequest.objects.get(kind=RequestKind.VENDOR)
    manager = client_for(support_manager)
    assert f"#{req.pk}".encode() in manager.get("/staff/requests/inbox/").content
    manager.post(f"/staff/requests/{req.pk}/decide/", {"decision": "approve"})
    customer = client_for(approver_a)
    customer.post(f"/t/acme/requests/{req.pk}/decide/", {"decision": "approve"})
    lockbox = customer.get("/t/acme/requests/vendor-access/")
    assert b"Sam Support" in lockbox.content
    assert b"SUP-1" in lockbox.content
    customer.post(f"/t/acme/requests/{req.pk}/revoke/", {"reason": "done"})
    with tenant_context(tenant_a):
        assert AccessRequest.objects.get(pk=req.pk).status == RequestStatus.ENDED
    # Customer users cannot reach the staff console.
    assert client_for(approver_a).get("/staff/requests/").status_code == 403


def test_german_pages(client_for, member_a, crm_read):
    member_a.language = "de"
    member_a.save(update_fields=["language"])
    client = client_for(member_a)
    client.cookies["django_language"] = "de"
    page = client.get("/t/acme/requests/catalog/", headers={"Accept-Language": "de"})
    assert b"Zugriffskatalog" in page.content


def test_out_of_office_page_names_a_delegate_who_then_gets_the_approvals(
    client_for, tenant_a, operator, member_a, approver_a, admin_a, crm_read
):
    from django.utils import timezone

    from apps.requests import selectors

    client = client_for(approver_a)
    assert client_for(member_a).get("/t/acme/requests/delegates/").status_code == 403
    now = timezone.localtime(timezone.now())
    bad = client.post(
        "/t/acme/requests/delegates/",
        {
            "delegate": admin_a.pk,
            "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert b"must end after it starts" in bad.content
    ok = client.post(
        "/t/acme/requests/delegates/",
        {
            "delegate": admin_a.pk,
            "starts_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
            "note": "Holiday",
        },
    )
    assert ok.status_code == 302
    req = pending(tenant_a, member_a, crm_read)
    with tenant_context(tenant_a):
        assert [r.pk for r in selectors.inbox_page(user=admin_a).items] == [req.pk]
