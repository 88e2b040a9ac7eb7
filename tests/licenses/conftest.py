"""Fixtures for the licences tests: products and pools made through the services, an isolated
cache (token buckets) and the API key helper."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from apps.licenses.disposable import disposable_cache_clear
from apps.licenses.services import pool_create, product_create
from apps.licenses.services.provisioning import policy_cache_clear


@pytest.fixture(autouse=True)
def _isolated_licences(settings: Any, tmp_path: Any) -> Iterator[None]:
    settings.KEK_FILE = tmp_path / "keys" / "kek.json"
    settings.LICENSES_DISPOSABLE_FILE = str(tmp_path / "disposable.txt")
    cache.clear()
    policy_cache_clear()
    disposable_cache_clear()
    yield
    cache.clear()
    policy_cache_clear()


@pytest.fixture
def office(tenant_a: Any, operator: Any) -> Any:
    return product_create(actor=operator, tenant=tenant_a, key="office", name="Office Suite")


@pytest.fixture
def make_pool(tenant_a: Any, operator: Any, office: Any) -> Callable[..., Any]:
    def make(capacity: int = 10, location: str = "", **fields: Any) -> Any:
        name = fields.pop(
            "name",
            f"Office {location or 'default'}{' reserve' if fields.get('is_reserve') else ''}",
        )
        return pool_create(
            actor=operator,
            tenant=tenant_a,
            product=fields.pop("product", office),
            name=name,
            capacity=capacity,
            location=location,
            **fields,
        )

    return make


@pytest.fixture
def api_token(admin_a: Any, tenant_a: Any) -> Callable[..., str]:
    from apps.integrations.services.api_keys import api_key_create

    def issue(scopes: list[str] | None = None, **extra: Any) -> str:
        issued = api_key_create(
            actor=admin_a,
            tenant=tenant_a,
            name="HR system",
            scopes=scopes or ["users:write", "users:read", "licenses:read"],
            technical_contact_email="hr@acme.test",
            rate_limit_per_minute=extra.pop("rate_limit_per_minute", 100_000),
            rate_limit_burst=extra.pop("rate_limit_burst", 10_000),
            **extra,
        )
        return issued.token

    return issue


def bearer(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")
