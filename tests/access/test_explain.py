"""The "who can reach what, and why" pages: tenant-scoped, persona-gated, engine-backed; ended
grants shown as ended; the vendor's org chart never shown to the customer."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.access import services
from apps.core.models import AuditEvent
from apps.core.tenancy import unscoped
from apps.tenants import services as tenant_services
from apps.tenants.models import TenantRole

from .conftest import Catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def grants(tenant_a, tenant_b, operator, admin_a, member_a, staff_engineer, catalog: Catalog):
    """member_a: crm read (standing) + analyst role; staff_engineer: support role for 4 h with a
    ticket, and read in Globex too."""
    mia_read = services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        entitlement=catalog.crm_read,
        source="manual",
        justification="Account manager for the CRM",
    )
    mia_analyst = services.grant_create(
        actor=admin_a, tenant=tenant_a, user=member_a, role=catalog.analyst, source="idp_mapping"
    )
    sam_support = services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=staff_engineer,
        role=catalog.support,
        source="request",
        duration=timedelta(hours=4),
        justification="Customer ticket: export fails",
        ticket_ref="SUP-4711",
        approval_ref="request:17",
    )
    sam_globex = services.grant_create(
        actor=operator,
        tenant=tenant_b,
        user=staff_engineer,
        entitlement=catalog.other_read,
        source="request",
        duration=timedelta(hours=2),
        ticket_ref="SUP-4800",
    )
    return {
        "mia_read": mia_read,
        "mia_analyst": mia_analyst,
        "sam_support": sam_support,
        "sam_globex": sam_globex,
    }


def _body(response: Any) -> str:
    return response.content.decode()


# --- who can access environment E ---------------------------------------------------------------


def test_environment_page_lists_every_subject_with_path(client_for, admin_a, catalog, grants):
    response = client_for(admin_a).get(f"/t/acme/access/explain/environments/{catalog.crm.pk}/")
    body = _body(response)
    assert response.status_code == 200
    assert "Mia Member" in body
    assert "Sam Support" in body
    assert "role Analyst" in body  # grant → role → entitlement
    assert "role Support" in body
    assert catalog.crm_read.name in body
    assert "SUP-4711" in body
    assert "request:17" in body
    assert "ends in" in body  # countdown for the time-bound grant
    assert "Standing" in body
    assert "IdP mapping" in body


def test_environment_page_filters_by_level_and_side(client_for, admin_a, catalog, grants):
    client = client_for(admin_a)
    url = f"/t/acme/access/explain/environments/{catalog.crm.pk}/"
    write_only = _body(client.get(url, {"level": "write"}))
    assert "Sam Support" in write_only  # Support role has crm write
    assert "Mia Member" not in write_only
    vendor = _body(client.get(url, {"side": "vendor"}))
    assert "Sam Support" in vendor
    assert "Mia Member" not in vendor
    customer = _body(client.get(url, {"side": "customer"}))
    assert "Mia Member" in customer
    assert "Sam Support" not in customer
    idp = _body(client.get(url, {"source": "idp_mapping"}))
    assert "role Analyst" in idp
    assert "Account manager" not in idp


def test_htmx_filter_returns_only_the_rows_region(client_for, admin_a, catalog, grants):
    response = client_for(admin_a).get(
        f"/t/acme/access/explain/environments/{catalog.crm.pk}/",
        {"level": "read"},
        headers={"HX-Request": "true"},
    )
    body = _body(response)
    assert response.status_code == 200
    assert "<html" not in body
    assert "Mia Member" in body
    assert "HX-Request" in response["Vary"]


def test_other_tenants_environment_is_not_found(client_for, admin_a, catalog, grants):
    response = client_for(admin_a).get(
        f"/t/acme/access/explain/environments/{catalog.other_env.pk}/"
    )
    assert response.status_code == 404


def test_outsider_gets_404_and_member_403(client_for, outsider_b, member_a, catalog):
    url = f"/t/acme/access/explain/environments/{catalog.crm.pk}/"
    assert client_for(outsider_b).get(url).status_code == 404
    assert client_for(member_a).get(url).status_code == 403


def test_anonymous_is_sent_to_login(client, catalog):
    response = client.get(f"/t/acme/access/explain/environments/{catalog.crm.pk}/")
    assert response.status_code == 302
    assert "/accounts/" in response["Location"]


def test_expired_grant_is_shown_as_ended_not_active(
    client_for, admin_a, member_a, tenant_a, catalog, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        entitlement=catalog.crm_admin,
        source="manual",
        duration=timedelta(hours=1),
        ticket_ref="CHG-1",
    )
    time_machine.shift(timedelta(hours=2))  # the sweeper has not run: still ended
    client = client_for(admin_a)
    url = f"/t/acme/access/explain/environments/{catalog.crm.pk}/"
    current = _body(client.get(url))
    assert "CHG-1" not in current
    ended = _body(client.get(url, {"state": "ended"}))
    assert "CHG-1" in ended
    assert "Ended: expired" in ended
    assert "badge-active" not in ended


# --- why: the engine's answer ------------------------------------------------------------------


def test_why_page_gives_the_engines_reasons(client_for, admin_a, staff_engineer, catalog, grants):
    url = f"/t/acme/access/explain/environments/{catalog.crm.pk}/why/user/{staff_engineer.pk}/"
    body = _body(client_for(admin_a).get(url))
    sam = grants["sam_support"]
    assert f"Grant #{sam.pk} (role:{catalog.support.pk}) gives write on CRM production." in body
    assert "No active grant gives admin on CRM production." in body
    assert "SUP-4711" in body


def test_member_may_see_own_why_but_not_others(client_for, member_a, staff_engineer, catalog):
    client = client_for(member_a)
    base = f"/t/acme/access/explain/environments/{catalog.crm.pk}/why/user/"
    assert client.get(f"{base}{member_a.pk}/").status_code == 200
    assert client.get(f"{base}{staff_engineer.pk}/").status_code == 403


# --- what can user U access (portal) ------------------------------------------------------------


def test_user_page_shows_the_persons_grants_in_this_tenant_only(
    client_for, admin_a, staff_engineer, grants
):
    body = _body(client_for(admin_a).get(f"/t/acme/access/explain/users/{staff_engineer.pk}/"))
    assert "SUP-4711" in body
    assert "SUP-4800" not in body  # Globex grant invisible in ACME


def test_user_page_of_a_stranger_is_404(client_for, admin_a, outsider_b):
    response = client_for(admin_a).get(f"/t/acme/access/explain/users/{outsider_b.pk}/")
    assert response.status_code == 404


def test_member_sees_own_access_but_not_others(client_for, member_a, admin_a, grants):
    client = client_for(member_a)
    assert client.get(f"/t/acme/access/explain/users/{member_a.pk}/").status_code == 200
    assert client.get(f"/t/acme/access/explain/users/{admin_a.pk}/").status_code == 403


# --- vendor staff in my tenant --------------------------------------------------------------------


def test_customer_admin_sees_vendor_grants_without_the_org_chart(
    client_for, admin_a, tenant_a, operator, grants
):
    body = _body(client_for(admin_a).get("/t/acme/access/explain/vendor/"))
    assert "Sam Support" in body
    assert "Support engineer" in body  # vendor role label
    assert "Customer ticket: export fails" in body
    assert "ends in" in body
    assert "SUP-4800" not in body
    assert "Mia Member" not in body
    assert "sam@vendor.test" not in body  # name and vendor role only


def test_vendor_page_needs_an_admin_like_role(client_for, member_a, approver_a, tenant_a):
    assert client_for(member_a).get("/t/acme/access/explain/vendor/").status_code == 403
    assert client_for(approver_a).get("/t/acme/access/explain/vendor/").status_code == 200


# --- staff console: the access explorer ---------------------------------------------------------


def test_explorer_shows_the_employee_in_each_tenant_side_by_side(
    client_for, compliance_officer, staff_engineer, grants
):
    client = client_for(compliance_officer)
    assert "Sam Support" in _body(client.get("/staff/access/users/", {"q": "sam"}))
    body = _body(client.get(f"/staff/access/users/{staff_engineer.pk}/"))
    assert "ACME Corp" in body
    assert "Globex" in body
    assert "CRM production" in body
    assert "Billing" in body
    assert "SUP-4711" in body
    assert "SUP-4800" in body
    with unscoped(reason="test: read the platform chain"):
        assert AuditEvent.objects.filter(action="access.explorer.viewed").count() == 1


def test_explorer_needs_an_oversight_role(client_for, staff_engineer, admin_a):
    client = client_for(staff_engineer)
    assert client.get("/staff/access/users/").status_code == 403
    assert client.get(f"/staff/access/users/{staff_engineer.pk}/").status_code == 403
    assert client_for(admin_a).get("/staff/access/users/").status_code == 403


def test_explorer_counts_ended_grants_separately(
    client_for, compliance_officer, staff_engineer, grants, admin_a
):
    services.grant_revoke(actor=admin_a, grant=grants["sam_support"], reason="ticket closed")
    body = _body(client_for(compliance_officer).get(f"/staff/access/users/{staff_engineer.pk}/"))
    assert "1 ended grant" in body
    assert "SUP-4711" not in body


# --- navigation --------------------------------------------------------------------------------


def test_navigation_entries_per_persona(client_for, admin_a, compliance_officer, tenant_a):
    tenant_body = _body(client_for(admin_a).get("/t/acme/"))
    assert "/t/acme/access/explain/" in tenant_body
    assert "/t/acme/access/explain/vendor/" in tenant_body
    staff_body = _body(client_for(compliance_officer).get("/staff/"))
    assert "/staff/access/users/" in staff_body


def test_translated_in_german(client_for, admin_a, catalog, grants, settings):
    client = client_for(admin_a)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    body = _body(client.get(f"/t/acme/access/explain/environments/{catalog.crm.pk}/"))
    assert "Wer kann auf CRM production zugreifen" in body


def test_reviewer_membership_may_explain(client_for, tenant_a, operator, catalog):
    from tests.conftest import make_user

    reviewer = make_user("rita@acme.test", full_name="Rita Reviewer")
    tenant_services.membership_add(
        actor=operator, tenant=tenant_a, user=reviewer, role=TenantRole.REVIEWER
    )
    url = f"/t/acme/access/explain/environments/{catalog.crm.pk}/"
    assert client_for(reviewer).get(url).status_code == 200


def test_query_count_does_not_grow_with_grants_and_pages_are_keyset(
    client_for, admin_a, tenant_a, operator, catalog
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.access import selectors_explain
    from tests.conftest import make_user

    client = client_for(admin_a)
    url = f"/t/acme/access/explain/environments/{catalog.crm.pk}/"

    def queries() -> int:
        client.get(url)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    person = make_user("p0@acme.test", full_name="Person 0")
    tenant_services.membership_add(actor=operator, tenant=tenant_a, user=person, role="member")
    services.grant_create(
        actor=admin_a, tenant=tenant_a, user=person, entitlement=catalog.crm_read, source="manual"
    )
    few = queries()
    for i in range(1, selectors_explain.PAGE_SIZE + 5):
        person = make_user(f"p{i}@acme.test", full_name=f"Person {i}")
        tenant_services.membership_add(actor=operator, tenant=tenant_a, user=person, role="member")
        services.grant_create(
            actor=admin_a,
            tenant=tenant_a,
            user=person,
            role=catalog.analyst if i % 2 else None,
            entitlement=None if i % 2 else catalog.crm_read,
            source="manual",
        )
    assert queries() == few
    first = _body(client.get(url))
    assert first.count('<tr class="grant-') == selectors_explain.PAGE_SIZE
    assert "Next page" in first
    cursor = re.search(r"after=(\d+)", first).group(1)
    second = _body(client.get(url, {"after": cursor}))
    assert second.count('<tr class="grant-') == 5  # 30 grants: 25 + 5
    assert "Person 0" in second
    assert "Person 0" not in first


def test_explorer_pages_through_tenants(staff_engineer, grants):
    from apps.access import selectors_explain

    first = selectors_explain.staff_profile_across_tenants(user=staff_engineer, per_page=1)
    assert [p.tenant.name for p in first.profiles] == ["ACME Corp"]
    assert first.tenant_count == 2
    assert first.has_next
    second = selectors_explain.staff_profile_across_tenants(user=staff_engineer, per_page=1, page=2)
    assert [p.tenant.name for p in second.profiles] == ["Globex"]
    assert not second.has_next
    assert second.profiles[0].by_environment == {"Billing": {"read"}}
