"""The access-request API: list, create, decide, with the integrations' auth and scopes."""

from __future__ import annotations

import pytest

from apps.core.tenancy import tenant_context
from apps.requests.models import AccessRequest

from .conftest import GOOD_REASON

pytestmark = pytest.mark.django_db


def test_member_creates_and_approver_decides_through_the_api(
    client_for, tenant_a, member_a, approver_a, crm_read, crm_admin
):
    member = client_for(member_a)
    response = member.post(
        "/api/v1/tenants/acme/access-requests",
        data={"entitlement_id": crm_read.pk, "duration_hours": 2, "justification": GOOD_REASON},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert body["steps"][0]["label"] == "Resource owner"

    again = member.post(
        "/api/v1/tenants/acme/access-requests",
        data={"entitlement_id": crm_read.pk, "duration_hours": 2, "justification": GOOD_REASON},
        content_type="application/json",
    )
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]

    too_long = member.post(
        "/api/v1/tenants/acme/access-requests",
        data={
            "entitlement_id": crm_admin.pk,
            "duration_hours": 24 * 20,
            "justification": GOOD_REASON,
        },
        content_type="application/json",
    )
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "duration_too_long"

    own = member.post(
        f"/api/v1/tenants/acme/access-requests/{body['id']}/decision",
        data={"decision": "approve"},
        content_type="application/json",
    )
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "self_approval"

    approver = client_for(approver_a)
    listed = approver.get("/api/v1/tenants/acme/access-requests?status=pending")
    assert [r["id"] for r in listed.json()["items"]] == [body["id"]]
    decided = approver.post(
        f"/api/v1/tenants/acme/access-requests/{body['id']}/decision",
        data={"decision": "approve", "reason": "fine"},
        content_type="application/json",
    )
    assert decided.status_code == 200
    assert decided.json()["status"] == "active"
    twice = approver.post(
        f"/api/v1/tenants/acme/access-requests/{body['id']}/decision",
        data={"decision": "approve"},
        content_type="application/json",
    )
    assert twice.status_code == 409


def test_other_tenant_is_404(client_for, outsider_b, tenant_a, crm_read):
    response = client_for(outsider_b).get("/api/v1/tenants/acme/access-requests")
    assert response.status_code == 404
    with tenant_context(tenant_a):
        assert not AccessRequest.objects.exists()
