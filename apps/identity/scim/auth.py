"""Bearer-token authentication of SCIM requests (hot path: one indexed lookup inside the
tenant's scope, one HMAC, one cache hit for the rate limit, a last-used write at most once a
minute). A token is looked up only among the tenant's own tokens (RLS on PostgreSQL), so
another tenant's token is simply unknown here: 401."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

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
from apps.integrations.tokens import token_matches, token_parse
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
    tenant = token.tenant
    label = token.display_token
    if not token_matches(parsed.token, token.secret_hash):
        raise _unauthorized(request, tenant, "invalid_token", label)
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
        _rate_limit_and_touch(request, tenant, token, now)
    return tenant, token


def _rate_limit_and_touch(request: HttpRequest, tenant: Tenant, token: ScimToken, now: Any) -> None:
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
