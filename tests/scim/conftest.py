from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.identity.models import User
from apps.identity.scim import services as scim_services
from apps.tenants.models import Tenant

SCIM = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class ScimClient:
    """Django's test client speaking SCIM with a bearer token."""

    def __init__(self, tenant: Tenant, token: str) -> None:
        self.client = Client()
        self.base = f"/scim/v2/{tenant.slug}/"
        self.token = token

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        extra = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}
        extra.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
        data = json.dumps(body) if body is not None else None
        func = getattr(self.client, method.lower())
        if data is None:
            response = func(self.base + path, **extra)
        else:
            response = func(self.base + path, data=data, content_type=SCIM, **extra)
        response.json_body = json.loads(response.content) if response.content else None
        return response

    def create_user(self, user_name: str, **extra: Any) -> dict[str, Any]:
        body = {"schemas": [USER_SCHEMA], "userName": user_name, **extra}
        response = self.call("POST", "Users", body)
        assert response.status_code == 201, response.content
        return response.json_body

    def patch(self, path: str, operations: list[dict[str, Any]], **headers: str) -> Any:
        return self.call(
            "PATCH", path, {"schemas": [PATCH_SCHEMA], "Operations": operations}, **headers
        )


@pytest.fixture
def scim_token_a(tenant_a: Tenant, admin_a: User) -> str:
    return scim_services.scim_token_create(actor=admin_a, tenant=tenant_a, name="Entra ID").secret


@pytest.fixture
def scim_a(tenant_a: Tenant, scim_token_a: str) -> ScimClient:
    return ScimClient(tenant_a, scim_token_a)


@pytest.fixture
def scim_b(tenant_b: Tenant, outsider_b: User) -> ScimClient:
    secret = scim_services.scim_token_create(actor=outsider_b, tenant=tenant_b, name="Okta").secret
    return ScimClient(tenant_b, secret)


@pytest.fixture
def scim_client_factory() -> Callable[[Tenant, str], ScimClient]:
    return ScimClient


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Any:
    """Tenant ids repeat across tests (and time travel leaves buckets in the future)."""
    from django.core.cache import cache

    from apps.identity.scim import auth

    cache.clear()
    auth._settings_cache.clear()
    yield
    cache.clear()
    auth._settings_cache.clear()
