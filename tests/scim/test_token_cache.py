"""The per-process SCIM token cache (apps.identity.scim.auth): a directory sync does not read
the token row on every request, yet a revocation or rotation takes effect at once — in this
process and, through the shared "tokens changed" marker, in every other one."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.tenancy import tenant_context
from apps.identity.scim import auth
from apps.identity.scim import services as scim_services
from apps.identity.scim.models import ScimToken
from apps.tenants import services as tenant_services
from apps.tenants.models import TenantStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_token_cache():
    auth.token_cache_clear()
    yield
    auth.token_cache_clear()


def _token_reads(scim_client) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        status = scim_client.call("GET", "ServiceProviderConfig").status_code
    reads = sum(1 for q in queries.captured_queries if "scim_scimtoken" in q["sql"].lower())
    return status, reads


def test_a_verified_token_is_not_read_again_within_the_ttl(scim_a):
    assert _token_reads(scim_a) == (200, 2)  # the look-up, and the first last-used write
    assert _token_reads(scim_a) == (200, 0)
    assert _token_reads(scim_a) == (200, 0)


def test_the_cached_row_is_reread_after_the_ttl(scim_a, monkeypatch):
    assert _token_reads(scim_a)[0] == 200
    monkeypatch.setattr(auth, "TOKEN_CACHE_TTL", 0.0)
    assert _token_reads(scim_a) == (200, 1)


def test_revocation_takes_effect_at_once_in_this_process(scim_a, tenant_a, admin_a):
    assert scim_a.call("GET", "Users").status_code == 200
    with tenant_context(tenant_a):
        token = ScimToken.objects.get()
    scim_services.scim_token_revoke(actor=admin_a, token=token, reason="leaked")
    assert scim_a.call("GET", "Users").status_code == 401


def test_revocation_by_another_process_takes_effect_through_the_marker(scim_a, tenant_a):
    """Another worker revoked the token: the row changed and the shared marker was set, but
    this process's cache still holds the row."""
    assert scim_a.call("GET", "Users").status_code == 200
    with tenant_context(tenant_a):
        ScimToken.objects.update(revoked_at=timezone.now())
    assert auth._token_cache, "the row is still cached in this process"
    cache.set(auth._CHANGED_KEY.format(tenant_id=tenant_a.pk), time.time(), timeout=300)
    assert scim_a.call("GET", "Users").status_code == 401


def test_rotation_ends_the_old_token_after_the_overlap_even_when_cached(scim_a, tenant_a, admin_a):
    assert scim_a.call("GET", "Users").status_code == 200
    with tenant_context(tenant_a):
        token = ScimToken.objects.get()
    scim_services.scim_token_rotate(actor=admin_a, token=token, overlap_hours=0)
    assert scim_a.call("GET", "Users").status_code == 401


def test_another_tenants_token_stays_refused_after_its_own_use(scim_a, scim_b, tenant_a):
    assert scim_b.call("GET", "Users").status_code == 200  # cached for tenant B's URL only
    wrong = type(scim_a)(tenant_a, scim_b.token)
    assert wrong.call("GET", "Users").status_code == 401


def test_a_suspended_tenant_is_refused_once_the_cached_row_expires(
    scim_a, tenant_a, operator, monkeypatch
):
    assert scim_a.call("GET", "Users").status_code == 200
    tenant_services.tenant_set_status(
        actor=operator, tenant=tenant_a, status=TenantStatus.SUSPENDED, reason="unpaid"
    )
    monkeypatch.setattr(auth, "TOKEN_CACHE_TTL", 0.0)  # i.e. at most TOKEN_CACHE_TTL later
    assert scim_a.call("GET", "Users").status_code == 403


def test_requests_get_their_own_copies(scim_a, tenant_a, rf):
    request = rf.get("/", HTTP_AUTHORIZATION=f"Bearer {scim_a.token}")
    first_tenant, first_token = auth.scim_authenticate(request, tenant_a.slug)
    second_tenant, second_token = auth.scim_authenticate(request, tenant_a.slug)
    [(_read_at, cached)] = auth._token_cache.values()
    assert first_token.pk == second_token.pk == cached.pk
    assert len({id(first_token), id(second_token), id(cached)}) == 3
    assert len({id(first_tenant), id(second_tenant), id(cached.tenant)}) == 3
