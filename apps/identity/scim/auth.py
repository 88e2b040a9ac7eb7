"""Bearer-token authentication of SCIM requests (hot path: one HMAC, two cache reads — the
tenant's token-change marker and the rate-limit bucket — and, at most every few seconds per
process, one indexed lookup; a last-used write at most once a minute). A token is looked up
only joined to the tenant of the URL, so another tenant's token is simply unknown here: 401.

Token cache: a directory sync sends thousands of requests with the same token, and the token
row (with its tenant) was read and its ORM query compiled on every one of them. A token that
verified is now remembered per process for TOKEN_CACHE_TTL seconds, keyed by the HMAC of the
presented token (never the token itself). It cannot outlive its own end:

* expiry is checked on every request against the cached row's `expires_at`;
* revoking or rotating a token writes a per-tenant "tokens changed" marker to the shared cache
  (Redis) after commit; every request reads it and re-reads the row when the marker is newer
  than the cached copy — so a revocation takes effect at once in every worker;
* anything else about the row or the tenant (a tenant suspended, a row edited by hand) is
  re-read within TOKEN_CACHE_TTL seconds.
"""

from __future__ import annotations

import copy
import time
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.audit.services import audit_event_record
from apps.core.middleware import client_ip
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.scim.errors import ScimError
from apps.identity.scim.models import TOKEN_KIND, ScimSettings, ScimToken
from apps.identity.scim.selectors import scim_settings_for
from apps.integrations.ratelimit import rate_limit_hit
from apps.integrations.services.calls import auth_failure_note
from apps.integrations.tokens import token_hash, token_matches, token_parse
from apps.tenants.models import Tenant, TenantStatus

_DUMMY_HASH = "0" * 64
LAST_USED_EVERY = timedelta(seconds=60)


def _unauthorized(
    request: HttpRequest, tenant: Tenant | None, reason: str, label: str = ""
) -> ScimError:
    auth_failure_note(
        ip=client_ip(request),
        reason=f"scim_{reason}",
        tenant_id=tenant.pk if tenant is not None else None,
        credential=label,
    )
    return ScimError(
        401,
        _("The SCIM token is missing, not valid, or not for this tenant."),
        headers={"WWW-Authenticate": 'Bearer realm="scim"'},
    )


def _other_tenant_note(tenant: Tenant, prefix: str) -> None:
    """A real token of another tenant presented here: worth an audit event in this tenant."""
    with unscoped(reason="SCIM auth: is this unknown token another tenant's?"):
        other = ScimToken.objects.filter(prefix=prefix).exclude(tenant=tenant).first()
    if other is not None:
        audit_event_record(
            action="scim.auth_refused",
            tenant=tenant,
            outcome="failure",
            details={"reason": "token of another tenant", "credential": other.display_token},
        )


_SETTINGS_TTL = 10.0
_settings_cache: dict[int, tuple[float, ScimSettings]] = {}


def _settings_cached(tenant: Tenant) -> ScimSettings:
    """The tenant's rate limits, read at most every 10 s per process (hot path)."""
    now = time.monotonic()
    hit = _settings_cache.get(tenant.pk)
    if hit is not None and now - hit[0] < _SETTINGS_TTL:
        return hit[1]
    found = scim_settings_for(tenant)
    _settings_cache[tenant.pk] = (now, found)
    return found


def settings_forget(tenant_id: int) -> None:
    """Called when the settings change (takes effect at once in this process, within 10 s in
    the others)."""
    _settings_cache.pop(tenant_id, None)


TOKEN_CACHE_TTL = 5.0
_CHANGED_KEY = "custos:scim:tokens-changed:{tenant_id}"
# (tenant slug, HMAC of the presented token) -> (wall-clock time read, the token with its tenant)
_token_cache: dict[tuple[str, str], tuple[float, ScimToken]] = {}


def tokens_changed(tenant_id: int) -> None:
    """A token of the tenant was revoked or rotated (called by the token services): this
    process forgets its cached tokens now, and every process re-reads the tenant's tokens on
    their next use — marked now and again when the transaction commits, so that a re-read
    racing with the commit cannot keep the old row."""

    def mark() -> None:
        _token_cache.clear()
        cache.set(_CHANGED_KEY.format(tenant_id=tenant_id), time.time(), timeout=300)

    mark()
    transaction.on_commit(mark)


def token_cache_clear() -> None:
    _token_cache.clear()


def _detached(token: ScimToken) -> ScimToken:
    """A copy of the cached row and its tenant: nothing a request does to its objects reaches
    the cache or the next request."""
    tenant = copy.copy(token.tenant)
    token = copy.copy(token)
    token.tenant = tenant
    return token


def _token_cached(slug: str, digest: str) -> ScimToken | None:
    hit = _token_cache.get((slug, digest))
    if hit is None:
        return None
    read_at, token = hit
    if not 0 <= time.time() - read_at < TOKEN_CACHE_TTL:
        return None
    changed = cache.get(_CHANGED_KEY.format(tenant_id=token.tenant_id))
    if changed is not None and changed >= read_at:
        return None
    return _detached(token)


def _token_remember(slug: str, digest: str, token: ScimToken, read_at: float) -> None:
    if len(_token_cache) > 1000:  # a handful of tokens in practice; never grows without bound
        _token_cache.clear()
    _token_cache[(slug, digest)] = (read_at, token)


def _tenant_or_401(request: HttpRequest, slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise _unauthorized(request, None, "unknown_tenant")
    return tenant


def scim_authenticate(request: HttpRequest, slug: str) -> tuple[Tenant, ScimToken]:
    """The URL's tenant and the token, looked up together in one indexed query (the token's
    prefix, joined to the tenant of the URL's slug: another tenant's token is not found)."""
    header = request.headers.get("Authorization", "")
    scheme, _sep, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise _unauthorized(request, _tenant_or_401(request, slug), "missing_token")
    parsed = token_parse(raw.strip(), kind=TOKEN_KIND)
    if parsed is None:
        raise _unauthorized(request, _tenant_or_401(request, slug), "invalid_token")
    digest = token_hash(parsed.token)
    token = _token_cached(slug, digest)
    if token is None:
        read_at = time.time()  # before the read: a change committed meanwhile is newer
        # cross-tenant: the tenant is known only with the token; the join pins it to the URL's.
        with unscoped(reason="SCIM auth: the token of the tenant named in the URL"):
            token = (
                ScimToken.objects.select_related("tenant")
                .filter(prefix=parsed.prefix, tenant__slug=slug)
                .first()
            )
        if token is None:
            token_matches(parsed.token, _DUMMY_HASH)
            tenant = _tenant_or_401(request, slug)
            _other_tenant_note(tenant, parsed.prefix)
            raise _unauthorized(request, tenant, "invalid_token")
        if not token_matches(parsed.token, token.secret_hash):
            raise _unauthorized(request, token.tenant, "invalid_token", token.display_token)
        _token_remember(slug, digest, token, read_at)
        token = _detached(token)
    tenant = token.tenant
    label = token.display_token
    now = timezone.now()
    if not token.is_usable(now):
        raise _unauthorized(request, tenant, "token_ended", label)
    if tenant.status in (TenantStatus.SUSPENDED, TenantStatus.TERMINATED):
        raise ScimError(
            403,
            _("The tenant is %(status)s; directory sync is closed.")
            % {"status": tenant.get_status_display().lower()},
        )
    with tenant_context(tenant):
        _rate_limit_and_touch(request, tenant, token, now, (slug, digest))
    return tenant, token


def _rate_limit_and_touch(
    request: HttpRequest,
    tenant: Tenant,
    token: ScimToken,
    now: Any,
    cache_key: tuple[str, str],
) -> None:
    settings = _settings_cached(tenant)
    wait = rate_limit_hit(
        key=f"scim:{tenant.pk}",
        per_minute=settings.rate_limit_per_minute,
        burst=settings.rate_limit_burst,
    )
    if wait is not None:
        raise ScimError(
            429,
            _("Too many SCIM requests for this tenant; retry in %(seconds)d s.")
            % {"seconds": wait},
            headers={"Retry-After": str(wait)},
        )
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ScimToken.objects.filter(pk=token.pk).update(
            last_used_at=now, last_used_ip=client_ip(request)
        )
        token.last_used_at = now
        cached = _token_cache.get(cache_key)
        if cached is not None:  # the cached row must not ask for the write again
            cached[1].last_used_at = now
