"""POST /api/v1/decisions: API key with the decisions scope, session members; machine-readable
4xx for unknown or other tenants' subjects and environments."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from apps.access import services
from apps.integrations.scopes import DECISIONS, USERS_READ
from apps.integrations.services.api_keys import api_key_create

URL = "/api/v1/decisions"


@pytest.fixture(autouse=True)
def _clean_cache() -> Any:
    cache.clear()
    yield
    cache.clear()


def _key(admin: Any, tenant: Any, scopes: list[str]) -> Client:
    issued = api_key_create(
        actor=admin,
        tenant=tenant,
        name="app",
        scopes=scopes,
        technical_contact_email="ops@example.test",
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {issued.token}")


def _post(client: Client, body: dict[str, Any]) -> Any:
    return client.post(URL, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def granted(tenant_a, admin_a, member_a, staff_engineer, catalog):
    services.grant_create(
        actor=admin_a, tenant=tenant_a, user=member_a, role=catalog.analyst, source="manual"
    )
    services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=staff_engineer,
        role=catalog.support,
        source="request",
        duration=timedelta(hours=4),
    )
    services.policy_rule_save(
        actor=admin_a,
        tenant=tenant_a,
        key="eu-residency",
        name="EU residency",
        conditions={
            "applies": {
                "all": [
                    {"attr": "environment.region", "op": "eq", "value": "eu"},
                    {"attr": "subject.is_vendor_staff", "op": "eq", "value": True},
                ]
            },
            "require": {"attr": "context.location_region", "op": "eq", "value": "eu"},
        },
    )


def test_api_key_with_decisions_scope(tenant_a, admin_a, member_a, catalog, granted):
    client = _key(admin_a, tenant_a, [DECISIONS])
    response = _post(
        client,
        {
            "subject": {"type": "user", "id": member_a.pk},
            "action": "read",
            "environment": "crm-prod",
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["allowed"] is True
    assert body["reasons"][0]["kind"] == "grant"
    response = _post(
        client,
        {"subject": {"email": member_a.email}, "action": "write", "environment": catalog.crm.pk},
    )
    assert response.json()["allowed"] is False


def test_reasons_name_the_abac_rule(tenant_a, admin_a, staff_engineer, catalog, granted):
    client = _key(admin_a, tenant_a, [DECISIONS])
    body = {
        "subject": {"type": "user", "id": staff_engineer.pk},
        "action": "write",
        "environment": "crm-prod",
        "context": {"location_region": "us", "mfa_level": "totp"},
    }
    result = _post(client, body).json()
    assert result["allowed"] is False
    assert result["reasons"][0] == {
        "kind": "abac",
        "ref": "rule:eu-residency@v1",
        "message": "ABAC rule “EU residency” (rule:eu-residency@v1) is not satisfied.",
    }
    body["context"]["location_region"] = "eu"
    assert _post(client, body).json()["allowed"] is True


def test_scope_required(tenant_a, admin_a, member_a, catalog):
    client = _key(admin_a, tenant_a, [USERS_READ])
    response = _post(
        client, {"subject": {"id": member_a.pk}, "action": "read", "environment": "crm-prod"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


def test_other_tenants_ids_are_unknown(tenant_a, admin_a, member_a, outsider_b, catalog):
    client = _key(admin_a, tenant_a, [DECISIONS])
    response = _post(
        client,
        {"subject": {"id": member_a.pk}, "action": "read", "environment": catalog.other_env.pk},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_environment"
    response = _post(
        client, {"subject": {"id": outsider_b.pk}, "action": "read", "environment": "crm-prod"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_subject"
    response = _post(client, {"subject": {"id": 999999}, "action": "read", "environment": "nope"})
    assert response.status_code == 422


def test_bad_body_is_422(tenant_a, admin_a, catalog):
    client = _key(admin_a, tenant_a, [DECISIONS])
    response = _post(client, {"subject": {"id": 1}, "action": "delete", "environment": "crm-prod"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_session_member(tenant_a, member_a, outsider_b, catalog, granted, client_for):
    client = client_for(member_a)
    body = {
        "tenant": "acme",
        "subject": {"id": member_a.pk},
        "action": "read",
        "environment": "analytics",
    }
    response = _post(client, body)
    assert response.status_code == 200, response.content
    assert response.json()["allowed"] is True
    # another tenant's member cannot ask about acme
    response = _post(client_for(outsider_b), body)
    assert response.status_code == 404


def test_anonymous_refused(catalog):
    response = _post(
        Client(), {"subject": {"id": 1}, "action": "read", "environment": catalog.crm.pk}
    )
    assert response.status_code == 401
