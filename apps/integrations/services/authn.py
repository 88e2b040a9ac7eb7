"""Authenticating API keys and OAuth2 access tokens (the hot path: one indexed query, one HMAC,
one cache read/write for the rate limit; the last-used write at most once a minute).

Refusals, in order, each recorded for misuse detection:
    malformed / unknown / wrong secret   401 invalid_token
    revoked (or owner left)              401 credential_revoked
    expired (rotated-out keys included)  401 credential_expired
    tenant suspended or terminated       403 tenant_unavailable
    source address not allowed           403 ip_not_allowed
    over the rate limit                  429 rate_limited + Retry-After
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.middleware import client_ip
from apps.core.tenancy import unscoped
from apps.integrations.conf import conf
from apps.integrations.errors import ApiAuthError
from apps.integrations.models import (
    ApiKey,
    CredentialState,
    OAuthAccessToken,
    OAuthClient,
    PrincipalKind,
)
from apps.integrations.principals import ApiPrincipal
from apps.integrations.ratelimit import rate_limit_hit
from apps.integrations.services.calls import auth_failure_note
from apps.integrations.tokens import (
    ACCESS_TOKEN_KIND,
    API_KEY_KIND,
    token_hash,
    token_matches,
    token_parse,
)
from apps.tenants.models import TenantStatus

_CLOSED = frozenset({TenantStatus.SUSPENDED, TenantStatus.TERMINATED})
# Compared against when the prefix is unknown, so both paths cost one HMAC.
_DUMMY_HASH = "0" * 64


def _fail(
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    *,
    tenant_id: int | None = None,
    credential: str = "",
    subject: Any = None,
) -> ApiAuthError:
    request.custos_auth_failure = {  # type: ignore[attr-defined]
        "tenant_id": tenant_id,
        "credential": credential,
        "reason": code,
    }
    auth_failure_note(
        ip=client_ip(request),
        reason=code,
        tenant_id=tenant_id,
        credential=credential,
        subject=subject,
    )
    return ApiAuthError(status, code, message)


@lru_cache(maxsize=2048)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def ip_allowed(ip: str, cidrs: list[str]) -> bool:
    if not cidrs:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(cidrs)))


def _common_checks(
    request: HttpRequest,
    *,
    tenant: Any,
    cidrs: list[str],
    credential: str,
    subject: Any,
    rate_key: str,
    per_minute: int,
    burst: int,
) -> str:
    if tenant.status in _CLOSED:
        raise _fail(
            request,
            403,
            "tenant_unavailable",
            _("The tenant of this credential is %(status)s.")
            % {"status": tenant.get_status_display().lower()},
            tenant_id=tenant.pk,
            credential=credential,
            subject=subject,
        )
    ip = client_ip(request)
    if not ip_allowed(ip, cidrs):
        raise _fail(
            request,
            403,
            "ip_not_allowed",
            _("This credential may not be used from this network address."),
            tenant_id=tenant.pk,
            credential=credential,
            subject=subject,
        )
    wait = rate_limit_hit(key=rate_key, per_minute=per_minute, burst=burst)
    if wait is not None:
        raise ApiAuthError(
            429,
            "rate_limited",
            _("Too many requests for this credential; retry in %(seconds)d s.") % {"seconds": wait},
            headers={"Retry-After": str(wait)},
        )
    return ip


def _touch(model: Any, obj: Any, now: Any, **extra: Any) -> None:
    """Last-used time, written at most once per API_LAST_USED_WRITE_SECONDS per credential."""
    every = timedelta(seconds=int(conf("API_LAST_USED_WRITE_SECONDS")))
    if obj.last_used_at is not None and now - obj.last_used_at < every:
        return
    with unscoped(reason="API authentication: last-used time of a credential"):
        qs = model.objects.filter(pk=obj.pk)
        if obj.last_used_at is not None:
            qs = qs.filter(last_used_at__lte=now - every)
        qs.update(last_used_at=now, **extra)


# The key lookup runs on every API request. The ORM spends ~0.5 ms compiling a query with two
# joins (more than the query itself takes), so this one statement is written out once per
# database vendor and its rows converted with the fields' own converters.
_KEY_COLUMNS = (
    "id", "tenant_id", "name", "prefix", "secret_hash", "scopes", "technical_contact_email",
    "contact_language", "expires_at", "allowed_cidrs", "rate_limit_per_minute",
    "rate_limit_burst", "state", "owner_id", "replaced_by_id", "last_used_at",
)  # fmt: skip
_lookup_plans: dict[str, tuple[str, list[Any], list[str], list[str]]] = {}


def _lookup_plan(connection: Any) -> tuple[str, list[Any], list[str], list[str]]:
    plan = _lookup_plans.get(connection.vendor)
    if plan is not None:
        return plan
    from apps.identity.models import User
    from apps.tenants.models import Tenant

    q = connection.ops.quote_name
    key_fields = [f for f in ApiKey._meta.concrete_fields if f.attname in _KEY_COLUMNS]
    tenant_fields = list(Tenant._meta.concrete_fields)
    active = User._meta.get_field("is_active")
    columns = [f"k.{q(f.column)}" for f in key_fields]
    columns += [f"t.{q(f.column)}" for f in tenant_fields]
    columns.append(f"u.{q(active.column)}")
    # Identifiers come from model metadata and are quoted; the prefix is a parameter.
    sql = (
        f"SELECT {', '.join(columns)} FROM {q(ApiKey._meta.db_table)} k "  # noqa: S608
        f"INNER JOIN {q(Tenant._meta.db_table)} t ON t.{q('id')} = k.{q('tenant_id')} "
        f"LEFT OUTER JOIN {q(User._meta.db_table)} u ON u.{q('id')} = k.{q('owner_id')} "
        f"WHERE k.{q('prefix')} = %s"
    )
    converters = []
    for field, alias in (
        [(f, "k") for f in key_fields] + [(f, "t") for f in tenant_fields] + [(active, "u")]
    ):
        col = field.get_col(alias)
        converters.append(
            (col, connection.ops.get_db_converters(col) + col.get_db_converters(connection))
        )
    plan = (
        sql,
        converters,
        [f.attname for f in key_fields],
        [f.attname for f in tenant_fields],
    )
    _lookup_plans[connection.vendor] = plan
    return plan


def _fetch_one(connection: Any, sql: str, params: list[Any]) -> Any:
    """Run the lookup across tenants (RLS). On PostgreSQL in autocommit mode the scope setting
    and the SELECT go in one message, i.e. one implicit transaction and one round trip, instead
    of BEGIN / set_config / SELECT / COMMIT."""
    if (
        connection.vendor == "postgresql"
        and connection.get_autocommit()
        and not connection.in_atomic_block
    ):
        import psycopg

        from apps.core.db.base import SET_SCOPE_SQL

        with connection.cursor() as cursor:
            if isinstance(cursor.cursor, psycopg.ClientCursor):
                cursor.execute(f"{SET_SCOPE_SQL}; {sql}", ["", "on", *params])
                cursor.nextset()
                return cursor.fetchone()
    with (
        unscoped(reason="API key authentication: look the key up by its prefix"),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
        return cursor.fetchone()


def _api_key_lookup(prefix: str) -> tuple[ApiKey, bool] | None:
    """(key with its tenant loaded, owner still active) for a prefix, in one statement."""
    from django.db import connections

    from apps.tenants.models import Tenant

    connection = connections[ApiKey.objects.db]
    sql, converters, key_names, tenant_names = _lookup_plan(connection)
    row = _fetch_one(connection, sql, [prefix])
    if row is None:
        return None
    values = []
    for value, (col, funcs) in zip(row, converters, strict=True):
        for func in funcs:
            value = func(value, col, connection)
        values.append(value)
    n_key = len(key_names)
    key = ApiKey.from_db(connection.alias, key_names, values[:n_key])
    tenant = Tenant.from_db(connection.alias, tenant_names, values[n_key:-1])
    ApiKey._meta.get_field("tenant").set_cached_value(key, tenant)
    owner_active = values[-1]
    return key, key.owner_id is None or bool(owner_active)


def api_key_authenticate(request: HttpRequest, raw: str) -> ApiPrincipal:
    parsed = token_parse(raw, kind=API_KEY_KIND)
    if parsed is None:
        raise _fail(request, 401, "invalid_token", _("The API key is not valid."))
    found = _api_key_lookup(parsed.prefix)
    if found is None:
        token_matches(raw, _DUMMY_HASH)
        raise _fail(request, 401, "invalid_token", _("The API key is not valid."))
    key, owner_active = found
    label = key.display_token
    if not token_matches(raw, key.secret_hash):
        raise _fail(
            request,
            401,
            "invalid_token",
            _("The API key is not valid."),
            tenant_id=key.tenant_id,
            credential=label,
            subject=key,
        )
    now = timezone.now()
    if key.state == CredentialState.REVOKED or not owner_active:
        raise _fail(
            request,
            401,
            "credential_revoked",
            _("The API key has been revoked."),
            tenant_id=key.tenant_id,
            credential=label,
            subject=key,
        )
    if key.state == CredentialState.EXPIRED or key.expires_at <= now:
        raise _fail(
            request,
            401,
            "credential_expired",
            _("The API key has expired."),
            tenant_id=key.tenant_id,
            credential=label,
            subject=key,
        )
    ip = _common_checks(
        request,
        tenant=key.tenant,
        cidrs=key.allowed_cidrs,
        credential=label,
        subject=key,
        rate_key=f"key:{key.pk}",
        per_minute=key.rate_limit_per_minute,
        burst=key.rate_limit_burst,
    )
    _touch(ApiKey, key, now, last_used_ip=ip)
    request.auth_method = "api_key"  # type: ignore[attr-defined]
    return ApiPrincipal(
        kind=PrincipalKind.API_KEY,
        tenant=key.tenant,
        scopes=frozenset(key.scopes),
        credential_id=key.pk,
        credential=label,
        name=key.name,
        contact_email=key.technical_contact_email,
        contact_language=key.contact_language,
    )


def access_token_authenticate(request: HttpRequest, raw: str) -> ApiPrincipal:
    parsed = token_parse(raw, kind=ACCESS_TOKEN_KIND)
    if parsed is None:
        raise _fail(request, 401, "invalid_token", _("The access token is not valid."))
    with unscoped(reason="OAuth authentication: look the access token up by its prefix"):
        token = (
            OAuthAccessToken.objects.select_related("client", "tenant", "client__owner")
            .filter(prefix=parsed.prefix)
            .first()
        )
    if token is None or not token_matches(raw, token.token_hash):
        if token is None:
            token_hash(raw)
        raise _fail(request, 401, "invalid_token", _("The access token is not valid."))
    client: OAuthClient = token.client
    now = timezone.now()
    owner_gone = client.owner is not None and not client.owner.is_active
    if token.revoked_at is not None or client.state != CredentialState.ACTIVE or owner_gone:
        raise _fail(
            request,
            401,
            "credential_revoked",
            _("The access token has been revoked."),
            tenant_id=token.tenant_id,
            credential=client.client_id,
            subject=client,
        )
    if token.expires_at <= now:
        raise ApiAuthError(401, "credential_expired", _("The access token has expired."))
    _common_checks(
        request,
        tenant=token.tenant,
        cidrs=client.allowed_cidrs,
        credential=client.client_id,
        subject=client,
        rate_key=f"oauth:{client.pk}",
        per_minute=client.rate_limit_per_minute,
        burst=client.rate_limit_burst,
    )
    _touch(OAuthClient, client, now)
    request.auth_method = "oauth2_client_credentials"  # type: ignore[attr-defined]
    return ApiPrincipal(
        kind=PrincipalKind.OAUTH_CLIENT,
        tenant=token.tenant,
        scopes=frozenset(token.scopes),
        credential_id=client.pk,
        credential=client.client_id,
        name=client.name,
        contact_email=client.technical_contact_email,
        contact_language=client.contact_language,
        token_id=token.pk,
    )
