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


def test_batch_audit_one_joined_event_each_in_chain_order(
    api_token, make_pool, tenant_a, admin_a, operator
):
    """The fast path appends the `user.joined` events in bulk, but a person a provisioning
    template gives roles still has their grant events right before their `user.joined`, and
    the chain verifies."""
    from apps.access import services as access
    from apps.core.audit.verify import audit_verify
    from apps.core.models import AuditEvent, chain_key
    from apps.tenants import services as tenant_services

    env = tenant_services.environment_create(
        actor=operator, tenant=tenant_a, slug="ledger", name="Ledger"
    )
    entitlement = access.entitlement_create(
        actor=admin_a, tenant=tenant_a, environment=env, level="read", risk="low"
    )
    role = access.role_create(
        actor=admin_a, tenant=tenant_a, key="fin", name="Finance", entitlements=[entitlement]
    )
    access.provisioning_template_save(
        actor=admin_a,
        tenant=tenant_a,
        name="Finance joiners",
        criteria={"department": "Finance"},
        roles=[role],
    )
    make_pool(capacity=10)
    with tenant_context(tenant_a):
        last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    people = [
        {"email": "a@acme.test", "products": ["office"]},
        {"email": "b@acme.test", "products": ["office"], "department": "Finance"},
        {"email": "c@acme.test", "products": ["office"]},
    ]
    response = post(bearer(api_token()), people)
    assert response.json()["created"] == 3
    with tenant_context(tenant_a):
        events = list(
            AuditEvent.objects.filter(seq__gt=last)
            .exclude(action__startswith="api")
            .order_by("seq")
            .values_list("action", "target_id")
        )
    ids = {p["email"]: User.objects.get(email=p["email"]).pk for p in people}
    joined = [target for action, target in events if action == "user.joined"]
    assert joined == [str(ids["a@acme.test"]), str(ids["b@acme.test"]), str(ids["c@acme.test"])]
    b_at = events.index(("user.joined", str(ids["b@acme.test"])))
    a_at = events.index(("user.joined", str(ids["a@acme.test"])))
    between = [action for action, _target in events[a_at + 1 : b_at]]
    assert between  # b's grant event(s), then b joined
    assert "user.joined" not in between
    assert template_grants(tenant_a, ids["b@acme.test"]) == 1
    assert template_grants(tenant_a, ids["a@acme.test"]) == 0
    assert audit_verify(chains=[chain_key(tenant_a.pk)], use_checkpoint=False).ok


def template_grants(tenant, user_id):
    from apps.access.models import Grant

    with tenant_context(tenant):
        return Grant.objects.filter(user_id=user_id, source="template").count()
