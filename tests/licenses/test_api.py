"""POST /api/v1/tenants/<t>/users as an HR system meets it: 201 with seats, replays by
Idempotency-Key, 422 for the same key with another body, 409 while the first is in flight,
queued (202) over the provisioning rate, specific errors, nothing half-created."""

from __future__ import annotations

import json

import pytest

from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.licenses.models import IdempotencyRecord, LicensePool, ProvisioningJob, Seat
from apps.licenses.services.provisioning import policy_cache_clear
from apps.lifecycle.joiner import joiner_queue_drain
from apps.tenants.models import Membership
from tests.licenses.conftest import bearer

URL = "/api/v1/tenants/acme/users"
pytestmark = pytest.mark.django_db


def post(client, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(URL, data=json.dumps(body), content_type="application/json", **headers)


def test_onboard_creates_user_membership_and_seat(api_token, make_pool, tenant_a):
    pool = make_pool(capacity=5, location="Berlin")
    client = bearer(api_token())
    response = post(
        client,
        {
            "email": "Neo@Acme.test",
            "full_name": "Neo",
            "products": ["office"],
            "location": "berlin",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "neo@acme.test"
    assert body["seats"][0]["pool"] == pool.name
    user = User.objects.get(email="neo@acme.test")
    with tenant_context(tenant_a):
        assert Membership.objects.filter(user=user).exists()
        assert Seat.objects.filter(user=user, released_at__isnull=True).count() == 1


def test_idempotency_replay_mismatch_and_in_flight(api_token, make_pool, tenant_a):
    make_pool(capacity=5)
    client = bearer(api_token())
    body = {"email": "trin@acme.test", "products": ["office"]}
    first = post(client, body, key="req-1")
    replay = post(client, body, key="req-1")
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert User.objects.filter(email="trin@acme.test").count() == 1
    other = post(client, {**body, "full_name": "Trinity"}, key="req-1")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # A first request still running (its record in flight) makes the second wait: 409.
    with tenant_context(tenant_a):
        from apps.licenses.services.idempotency import request_hash

        digest = request_hash(
            {
                "email": "morph@acme.test", "full_name": "", "role": "member", "department": "",
                "title": "", "country": "", "language": "", "location": "",
                "products": ["office"], "attributes": {}, "when_full": "reject",
            }
        )  # fmt: skip
        IdempotencyRecord.objects.create(
            tenant=tenant_a, scope="users.create", key="req-2", request_hash=digest
        )
    busy = post(client, {"email": "morph@acme.test", "products": ["office"]}, key="req-2")
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "idempotency_in_flight"
    assert not User.objects.filter(email="morph@acme.test").exists()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "x@acme.test", "products": ["nope"]}, 422, "unknown_product"),
        ({"email": "x@mailinator.com", "products": ["office"]}, 422, "disposable_email"),
        ({"email": "not-an-email", "products": []}, 400, "invalid_email"),
        ({"email": "x@acme.test", "role": "god"}, 400, "unknown_role"),
    ],
)
def test_bad_input_is_refused_specifically_and_creates_nothing(
    api_token, make_pool, body, status, code
):
    make_pool(capacity=5)
    response = post(bearer(api_token()), body)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert not User.objects.filter(email=body["email"]).exists()


def test_pool_exhausted_is_409_and_all_or_nothing(api_token, make_pool, tenant_a):
    make_pool(capacity=1)
    client = bearer(api_token())
    assert post(client, {"email": "a@acme.test", "products": ["office"]}).status_code == 201
    response = post(client, {"email": "b@acme.test", "products": ["office"]}, key="k-b")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "pool_exhausted"
    assert not User.objects.filter(email="b@acme.test").exists()  # nothing half-created
    # Waiting instead of failing: the person is onboarded and waits for a seat.
    waiting = post(client, {"email": "b@acme.test", "products": ["office"], "when_full": "wait"})
    assert waiting.status_code == 201
    assert waiting.json()["waiting"][0]["product"] == "office"


def test_duplicate_person_is_409(api_token, make_pool, member_a):
    make_pool(capacity=5)
    response = post(bearer(api_token()), {"email": member_a.email, "products": ["office"]})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_member"


def test_over_the_rate_requests_are_queued_then_drained(api_token, make_pool, tenant_a, settings):
    settings.LICENSES_TENANT_RATE = 1
    settings.LICENSES_TENANT_BURST = 1
    policy_cache_clear()
    make_pool(capacity=5)
    client = bearer(api_token())
    first = post(client, {"email": "q1@acme.test", "products": ["office"]})
    second = post(client, {"email": "q2@acme.test", "products": ["office"]}, key="q2")
    assert first.status_code == 201
    assert second.status_code == 202
    job_id = second.json()["job_id"]
    assert (
        post(client, {"email": "q2@acme.test", "products": ["office"]}, key="q2").json()["job_id"]
        == job_id
    )
    with tenant_context(tenant_a):
        ProvisioningJob.objects.update(next_attempt_at="2000-01-01T00:00:00Z")
    settings.LICENSES_TENANT_RATE = 1000
    settings.LICENSES_TENANT_BURST = 1000
    policy_cache_clear()
    assert joiner_queue_drain()["done"] == 1
    job = client.get(f"/api/v1/tenants/acme/onboarding-jobs/{job_id}").json()
    assert job["status"] == "done"
    assert job["user_id"] == User.objects.get(email="q2@acme.test").pk


def test_scope_and_tenant_are_enforced(api_token, make_pool, outsider_b):
    make_pool(capacity=5)
    reader = bearer(api_token(scopes=["users:read"]))
    assert post(reader, {"email": "s@acme.test"}).status_code == 403
    other = bearer(api_token()).post(
        "/api/v1/tenants/globex/users",
        data=json.dumps({"email": "s@globex.test"}),
        content_type="application/json",
    )
    assert other.status_code == 404


def test_pool_listing(api_token, make_pool):
    make_pool(capacity=5, location="Berlin")
    response = bearer(api_token()).get("/api/v1/tenants/acme/license-pools")
    assert response.status_code == 200
    assert response.json()[0]["capacity"] == 5
    assert LicensePool is not None


def test_signup_endpoint_passes_low_risk_and_queues_the_rest(api_token, make_pool):
    make_pool(capacity=5)
    client = bearer(api_token())
    url = "/api/v1/tenants/acme/signups"
    ok = client.post(
        url,
        data=json.dumps(
            {
                "email": "fine@example.org",
                "ip": "192.0.2.1",
                "declared_location": "Berlin",
                "products": ["office"],
            }
        ),
        content_type="application/json",
    )
    assert ok.status_code == 201, ok.content
    assert ok.json()["decision"] == "auto_approved"
    assert ok.json()["user_id"] == User.objects.get(email="fine@example.org").pk
    risky = client.post(
        url,
        data=json.dumps(
            {"email": "x@yopmail.com", "ip": "203.0.113.9", "declared_location": "Paris"}
        ),
        content_type="application/json",
    )
    assert risky.status_code == 202
    body = risky.json()
    assert body["decision"] == "pending"
    assert body["review_due_at"]
    assert {s["code"] for s in body["signals"]} >= {"disposable_email", "geo_distance"}
    bad = client.post(
        url,
        data=json.dumps({"email": "y@example.org", "ip": "nope"}),
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_ip"
