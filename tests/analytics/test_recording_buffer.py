"""The access-event middleware with ANALYTICS_EVENT_BUFFER_SIZE > 1: API calls and portal pages
wait in a per-process buffer and are written in one bulk INSERT (by size, age or a flush),
each with the time of its own request and in its own tenant."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from apps.certification.analytics import hooks
from apps.certification.analytics.models import AccessEvent
from apps.core.tenancy import tenant_context
from apps.integrations.services.api_keys import api_key_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _buffered(settings: Any) -> Any:
    cache.clear()
    hooks.access_events_flush()
    settings.ANALYTICS_EVENT_BUFFER_SIZE = 3
    settings.ANALYTICS_EVENT_MAX_AGE_SECONDS = 60
    yield
    hooks.access_events_flush()
    cache.clear()


def api_events(tenant: Any) -> list[AccessEvent]:
    with tenant_context(tenant):
        return list(AccessEvent.objects.filter(channel="api").order_by("at", "id"))


def key_client(actor: Any, tenant: Any) -> Client:
    issued = api_key_create(
        actor=actor,
        tenant=tenant,
        name="reader",
        scopes=["users:read"],
        technical_contact_email=f"ops@{tenant.slug}.test",
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {issued.token}", REMOTE_ADDR="192.0.2.10")


def test_api_calls_are_written_in_one_batch_when_the_buffer_is_full(
    tenant_a, tenant_b, admin_a, outsider_b
):
    acme, globex = key_client(admin_a, tenant_a), key_client(outsider_b, tenant_b)
    assert acme.get("/api/v1/tenants/acme/members").status_code == 200
    assert globex.get("/api/v1/tenants/globex/members").status_code == 200
    assert api_events(tenant_a) == api_events(tenant_b) == []  # still buffered
    assert acme.get("/api/v1/tenants/acme/members").status_code == 200  # the third: written
    first, second = api_events(tenant_a)
    (other,) = api_events(tenant_b)
    assert first.detail == second.detail == "GET /api/v1/tenants/acme/members"
    assert first.at < other.at < second.at  # the time of each request, not of the write
    assert first.principal.startswith("cus_")
    assert (first.country, first.city) == ("DE", "Berlin")
    assert other.detail == "GET /api/v1/tenants/globex/members"


def test_a_flush_writes_what_is_buffered(tenant_a, admin_a):
    client = key_client(admin_a, tenant_a)
    client.get("/api/v1/tenants/acme/members")
    assert api_events(tenant_a) == []
    assert hooks.access_events_flush() == 1
    assert len(api_events(tenant_a)) == 1
    assert hooks.access_events_flush() == 0
