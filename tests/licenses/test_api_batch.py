"""POST /api/v1/tenants/<t>/users/batch: up to 200 people per request, each all or nothing and
answering for itself (201 / 409 / 422), the whole batch replayable by Idempotency-Key, one
provisioning token per batch (429 with Retry-After when none is left)."""

from __future__ import annotations

import json

import pytest

from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.licenses.models import LicensePool, Seat
from apps.licenses.services.provisioning import policy_cache_clear
from apps.tenants.models import Membership
from tests.licenses.conftest import bearer

URL = "/api/v1/tenants/acme/users/batch"
pytestmark = pytest.mark.django_db


def post(client, users, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        URL, data=json.dumps({"users": users}), content_type="application/json", **headers
    )


def test_batch_onboards_each_person_all_or_nothing(api_token, make_pool, tenant_a, member_a):
    pool = make_pool(capacity=2)
    client = bearer(api_token())
    users = [
        {"email": "One@Acme.test", "products": ["office"]},
        {"email": "mia@acme.test", "products": ["office"]},  # a member already
        {"email": "three@acme.test", "products": ["nope"]},  # unknown product
        {"email": "four@acme.test", "products": ["office"]},
        {"email": "five@acme.test", "products": ["office"]},  # the pool is full by now
        {"email": "not-an-email", "products": []},
    ]
    response = post(client, users, key="batch-1")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["failed"]) == (2, 4)
    items = body["items"]
    assert [i["status"] for i in items] == [201, 409, 422, 201, 409, 422]
    assert [i["error"]["code"] for i in items if i["error"]] == [
        "already_member",
        "unknown_product",
        "pool_exhausted",
        "invalid_email",
    ]
    assert items[0]["email"] == "one@acme.test"
    assert items[0]["seats"] == ["office"]
    # Nothing half-created: refused people have no account, membership or seat.
    for email in ("three@acme.test", "five@acme.test"):
        assert not User.objects.filter(email=email).exists()
    with tenant_context(tenant_a):
        assert LicensePool.objects.get(pk=pool.pk).used == 2
        assert Seat.objects.filter(pool=pool, released_at__isnull=True).count() == 2
        assert (
            Membership.objects.filter(user__email__in=["one@acme.test", "four@acme.test"]).count()
            == 2
        )

    replay = post(client, users, key="batch-1")
    assert replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == body
    other = post(client, users[:1], key="batch-1")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_batch_with_an_existing_account_takes_the_careful_path(
    api_token, make_pool, tenant_a, outsider_b
):
    make_pool(capacity=5)
    client = bearer(api_token())
    response = post(
        client,
        [
            {"email": outsider_b.email, "products": ["office"]},  # an account of another tenant
            {"email": "new@acme.test", "products": ["office"]},
            {"email": "new@acme.test", "products": ["office"]},  # the same person twice
        ],
    )
    assert response.status_code == 200, response.content
    items = response.json()["items"]
    assert [i["status"] for i in items] == [201, 201, 409]
    assert User.objects.filter(email="new@acme.test").count() == 1
    with tenant_context(tenant_a):
        assert Membership.objects.filter(user=outsider_b).exists()


def test_batch_limits_and_throttle(api_token, make_pool, settings):
    make_pool(capacity=500)
    client = bearer(api_token())
    too_many = post(client, [{"email": f"p{i}@acme.test"} for i in range(201)])
    assert too_many.status_code == 422
    empty = post(client, [])
    assert empty.status_code == 422
    settings.LICENSES_TENANT_RATE = settings.LICENSES_TENANT_BURST = 1
    policy_cache_clear()
    assert post(client, [{"email": "a@acme.test"}]).status_code == 200
    throttled = post(client, [{"email": "b@acme.test"}], key="batch-t")
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) >= 1
    assert not User.objects.filter(email="b@acme.test").exists()
    # The key was given back: the same request may be retried later.
    settings.LICENSES_TENANT_RATE = settings.LICENSES_TENANT_BURST = 1000
    policy_cache_clear()
    assert post(client, [{"email": "b@acme.test"}], key="batch-t").status_code == 200


def test_batch_needs_the_write_scope(api_token, make_pool):
    make_pool(capacity=5)
    client = bearer(api_token(scopes=["users:read"]))
    assert post(client, [{"email": "x@acme.test"}]).status_code == 403
