"""Portal pages: anonymous -> login, other tenant -> 404, non-admin -> 403; the live regions
answer HTMX polls with the fragment only; the staff overview is for oversight staff."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.licenses.services import seat_allocate
from apps.licenses.services.seats import pool_for

pytestmark = pytest.mark.django_db

PAGES = [
    "/t/acme/licenses/",
    "/t/acme/licenses/onboard/",
    "/t/acme/licenses/imports/",
    "/t/acme/licenses/reviews/",
]


@pytest.mark.parametrize("url", PAGES)
def test_access_trio(url, client_for, tenant_a, admin_a, member_a, outsider_b):
    assert Client().get(url).status_code == 302
    assert client_for(outsider_b).get(url).status_code == 404
    assert client_for(member_a).get(url).status_code == 403
    assert client_for(admin_a).get(url).status_code == 200


def test_dashboard_shows_pools_alert_and_live_fragment(
    client_for, tenant_a, admin_a, operator, make_pool, django_assert_max_num_queries
):
    from apps.tenants import services as tenant_services
    from tests.conftest import make_user

    pool = make_pool(capacity=10, location="Berlin", name="Berlin office")
    for i in range(9):
        user = make_user(f"d{i}@acme.test")
        tenant_services.membership_add(actor=operator, tenant=tenant_a, user=user)
        seat_allocate(actor=admin_a, tenant=tenant_a, user=user, pool=pool)
    client = client_for(admin_a)
    page = client.get("/t/acme/licenses/").content.decode()
    assert "Berlin office" in page
    assert "over 90 %" in page
    assert 'hx-trigger="every 5s"' in page
    with django_assert_max_num_queries(25):
        fragment = client.get("/t/acme/licenses/", HTTP_HX_REQUEST="true")
    body = fragment.content.decode()
    assert "<html" not in body
    assert "Berlin office" in body
    assert "full by" in body  # the forecast
    detail = client.get(f"/t/acme/licenses/pools/{pool.pk}/").content.decode()
    assert "d0@acme.test" in detail


def test_onboard_form_runs_the_joiner(client_for, admin_a, tenant_a, make_pool):
    make_pool(capacity=1)
    client = client_for(admin_a)
    response = client.post(
        "/t/acme/licenses/onboard/",
        {
            "email": "form@acme.test",
            "role": "member",
            "products": ["office"],
            "when_full": "reject",
        },
    )
    assert response.status_code == 302
    refused = client.post(
        "/t/acme/licenses/onboard/",
        {
            "email": "form2@acme.test",
            "role": "member",
            "products": ["office"],
            "when_full": "reject",
        },
    )
    assert "no free seat" in refused.content.decode()
    assert pool_for(tenant=tenant_a, product_key="office").pk


def test_other_tenants_pool_is_404(client_for, outsider_b, make_pool):
    pool = make_pool(capacity=1)
    assert client_for(outsider_b).get(f"/t/globex/licenses/pools/{pool.pk}/").status_code in (
        403,
        404,
    )


def test_staff_overview(client_for, compliance_officer, staff_engineer, make_pool):
    make_pool(capacity=1)
    assert client_for(compliance_officer).get("/staff/licenses/").status_code == 200
    assert client_for(staff_engineer).get("/staff/licenses/").status_code == 403
