"""OAuth2 client credentials with `private_key_jwt` client authentication (RFC 7523 section
2.2 and 3, RFC 6749 section 4.4).

The client signs a short JWT with its private key; we verify it with the public key it
registered (PEM) or published (JWKS URL, fetched through the SSRF-safe fetcher, cached, refreshed
when an unknown `kid` appears). Accepted algorithms: RS256, ES256, EdDSA (never `none`, never
HS*: there is no shared secret). Checks: iss = sub = client_id, aud = our token endpoint URL,
exp in the future and at most OAUTH_ASSERTION_MAX_SECONDS ahead, jti never seen before (kept
until exp). Every client-authentication failure is `invalid_client` (RFC 7523 section 3.2).

Access tokens are opaque (`cat_<prefix>_<secret>`), stored hashed, valid for the client's
token lifetime (10 minutes by default): revocation is immediate, nothing to verify offline.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context, unscoped
from apps.integrations.conf import conf
from apps.integrations.errors import OAuthError
from apps.integrations.models import (
    CredentialState,
    OAuthAccessToken,
    OAuthAssertionJti,
    OAuthClient,
)
from apps.integrations.netfetch import OutboundError, outbound_request
from apps.integrations.scopes import scopes_clean
from apps.integrations.services.api_keys import _require_admin, cidrs_clean
from apps.integrations.services.authn import ip_allowed
from apps.integrations.services.calls import auth_failure_note
from apps.integrations.tokens import ACCESS_TOKEN_KIND, random_id, token_generate, token_hash
from apps.tenants.models import TenantStatus

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALLOWED_ALGORITHMS = ("RS256", "ES256", "EdDSA")
MAX_ASSERTION_BYTES = 8192
MAX_TOKEN_SECONDS = 3600
TOKEN_PATH = "/api/v1/oauth/token"  # noqa: S105 - a URL path


def token_endpoint_url(request: Any = None) -> str:
    """The audience client assertions must name."""
    base = str(conf("API_ISSUER_BASE") or "").rstrip("/")
    if base:
        return base + TOKEN_PATH
    if request is None:
        raise ValueError("API_ISSUER_BASE is not set")
    return str(request.build_absolute_uri(TOKEN_PATH))


# --- keys ------------------------------------------------------------------------------------
def _key_fits(alg: str, key: Any) -> bool:
    if alg == "RS256":
        return isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048
    if alg == "ES256":
        return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    if alg == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey)
    return False


def public_key_clean(pem: str) -> str:
    """A PEM public key we can verify with (RSA >= 2048, P-256, Ed25519)."""
    try:
        key = load_pem_public_key(pem.strip().encode())
    except ValueError as exc:
        raise DomainError(_("This is not a PEM public key."), code="invalid_key") from exc
    if not any(_key_fits(alg, key) for alg in ALLOWED_ALGORITHMS):
        raise DomainError(
            _("Use an RSA key of at least 2048 bits, an EC P-256 key or an Ed25519 key."),
            code="invalid_key",
        )
    return pem.strip() + "\n"


def _jwks_cache_key(client: OAuthClient) -> str:
    digest = hashlib.sha256(client.jwks_url.encode()).hexdigest()[:16]
    return f"custos:jwks:{client.pk}:{digest}"


def jwks_fetch(url: str) -> dict[str, Any]:
    try:
        response = outbound_request("GET", url, headers={"Accept": "application/json"})
    except OutboundError as exc:
        raise DomainError(
            _("The JWKS URL could not be fetched: %(error)s") % {"error": exc}, code="jwks"
        ) from exc
    if response.status != 200:
        raise DomainError(
            _("The JWKS URL answered %(status)d.") % {"status": response.status}, code="jwks"
        )
    try:
        data = json.loads(response.body)
    except ValueError as exc:
        raise DomainError(_("The JWKS URL did not return JSON."), code="jwks") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise DomainError(_("The JWKS document has no key list."), code="jwks")
    for entry in data["keys"]:
        if isinstance(entry, dict) and ("d" in entry or "k" in entry):
            raise DomainError(
                _("The JWKS document contains private or symmetric key material."), code="jwks"
            )
    return data


def _jwks(client: OAuthClient, *, refresh: bool) -> dict[str, Any]:
    key = _jwks_cache_key(client)
    cached = cache.get(key)
    now = time.time()
    if cached is not None:
        too_soon = now - cached["fetched"] < int(conf("OAUTH_JWKS_REFRESH_MIN_SECONDS"))
        if not refresh or too_soon:
            return dict(cached["jwks"])
    try:
        jwks = jwks_fetch(client.jwks_url)
    except DomainError:
        if cached is not None:
            return dict(cached["jwks"])
        raise
    cache.set(key, {"jwks": jwks, "fetched": now}, timeout=int(conf("OAUTH_JWKS_CACHE_SECONDS")))
    return jwks


def _jwk_find(jwks: dict[str, Any], kid: str | None) -> Any:
    entries = [e for e in jwks.get("keys", []) if isinstance(e, dict)]
    if kid is not None:
        entries = [e for e in entries if e.get("kid") == kid]
    elif len(entries) != 1:
        return None
    for entry in entries:
        if entry.get("use", "sig") != "sig":
            continue
        try:
            return jwt.PyJWK(entry).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
    return None


def _verification_key(client: OAuthClient, kid: str | None) -> Any:
    if client.public_key_pem:
        return load_pem_public_key(client.public_key_pem.encode())
    key = _jwk_find(_jwks(client, refresh=False), kid)
    if key is None:  # a rotation at the client: fetch again (at most once a minute)
        key = _jwk_find(_jwks(client, refresh=True), kid)
    return key


# --- clients ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientSpec:
    name: str
    allowed_scopes: list[str]
    technical_contact_email: str
    contact_language: str = "en"
    public_key_pem: str = ""
    jwks_url: str = ""
    token_lifetime_seconds: int = 600
    allowed_cidrs: list[str] | str = ()  # type: ignore[assignment]


def oauth_client_create(*, actor: Any, tenant: Any, spec: ClientSpec) -> OAuthClient:
    _require_admin(actor=actor, tenant=tenant)
    pem, url = spec.public_key_pem.strip(), spec.jwks_url.strip()
    if bool(pem) == bool(url):
        raise DomainError(_("Give either a public key or a JWKS URL."), code="invalid_key")
    if pem:
        pem = public_key_clean(pem)
    else:
        jwks_fetch(url)  # proves the URL is reachable, public and serves public keys
    try:
        scopes = scopes_clean(spec.allowed_scopes)
    except ValueError as exc:
        raise DomainError(str(exc), code="invalid_scope") from exc
    if not scopes:
        raise DomainError(_("Choose at least one scope."), code="invalid_scope")
    lifetime = int(spec.token_lifetime_seconds)
    if not 60 <= lifetime <= MAX_TOKEN_SECONDS:
        raise DomainError(
            _("Token lifetime must be between 60 and %(max)d seconds.")
            % {"max": MAX_TOKEN_SECONDS},
            code="invalid_lifetime",
        )
    with tenant_context(tenant), transaction.atomic():
        client = OAuthClient.objects.create(
            tenant=tenant,
            name=spec.name.strip()[:100],
            client_id=random_id("cuc_", 24),
            public_key_pem=pem,
            jwks_url=url,
            allowed_scopes=scopes,
            token_lifetime_seconds=lifetime,
            allowed_cidrs=cidrs_clean(spec.allowed_cidrs),
            technical_contact_email=spec.technical_contact_email.strip().lower(),
            contact_language=spec.contact_language,
            created_by=actor,
            owner=actor,
        )
        audit_event_record(
            action="oauth_client.created",
            actor=actor,
            tenant=tenant,
            target=client,
            after={
                "client_id": client.client_id,
                "scopes": scopes,
                "key_source": "pem" if pem else "jwks",
                "jwks_url": url,
                "public_key_sha256": hashlib.sha256(pem.encode()).hexdigest() if pem else "",
            },
        )
    return client


def oauth_client_revoke(*, actor: Any, client: OAuthClient, reason: str = "") -> bool:
    """Immediate: the client cannot get tokens, and its live tokens stop working."""
    tenant = client.tenant
    _require_admin(actor=actor, tenant=tenant)
    now = timezone.now()
    with tenant_context(tenant), transaction.atomic():
        done = OAuthClient.objects.filter(pk=client.pk, state=CredentialState.ACTIVE).update(
            state=CredentialState.REVOKED, revoked_at=now, revoked_by=actor, revoke_reason=reason
        )
        tokens = OAuthAccessToken.objects.filter(client=client, revoked_at__isnull=True).update(
            revoked_at=now
        )
        if done:
            audit_event_record(
                action="oauth_client.revoked",
                actor=actor,
                tenant=tenant,
                target=client,
                details={"reason": reason[:200], "tokens_revoked": tokens},
            )
    return bool(done)


# --- the token endpoint ------------------------------------------------------------------------
def _invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, status=401)


@sensitive_variables("assertion", "issued", "form")
def oauth_token_issue(*, form: dict[str, str], audience: str, ip: str) -> dict[str, Any]:
    """Handle a token request; returns the RFC 6749 section 5.1 response body, or raises
    OAuthError (section 5.2)."""
    grant_type = form.get("grant_type", "")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
    assertion = form.get("client_assertion", "")
    if form.get("client_secret"):
        raise _invalid_client("client secrets are not accepted; use private_key_jwt")
    if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
        raise _invalid_client(f"client_assertion_type must be {ASSERTION_TYPE}")
    if len(assertion) > MAX_ASSERTION_BYTES:
        raise _invalid_client("client_assertion is too large")

    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        auth_failure_note(ip=ip, reason="malformed_assertion")
        raise _invalid_client("client_assertion is not a JWT") from exc
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        auth_failure_note(ip=ip, reason="algorithm_refused")
        raise _invalid_client(f"alg must be one of {', '.join(ALLOWED_ALGORITHMS)}")
    client_id = unverified.get("iss")
    if not isinstance(client_id, str) or unverified.get("sub") != client_id:
        auth_failure_note(ip=ip, reason="iss_sub_mismatch")
        raise _invalid_client("iss and sub must both be the client_id")
    if form.get("client_id") and form["client_id"] != client_id:
        raise _invalid_client("client_id does not match the assertion")

    with unscoped(reason="OAuth token endpoint: find the client by its client_id"):
        client = (
            OAuthClient.objects.select_related("tenant", "owner")
            .filter(client_id=client_id)
            .first()
        )
    if client is None:
        auth_failure_note(ip=ip, reason="unknown_client")
        raise _invalid_client("unknown client")

    def refuse(reason: str, description: str) -> OAuthError:
        auth_failure_note(
            ip=ip,
            reason=reason,
            tenant_id=client.tenant_id,
            credential=client.client_id,
            subject=client,
        )
        return _invalid_client(description)

    owner_gone = client.owner is not None and not client.owner.is_active
    if client.state != CredentialState.ACTIVE or owner_gone:
        raise refuse("client_revoked", "the client has been revoked")
    if client.tenant.status in (TenantStatus.SUSPENDED, TenantStatus.TERMINATED):
        raise refuse("tenant_unavailable", "the client's tenant is not active")
    if not ip_allowed(ip, client.allowed_cidrs):
        raise refuse("ip_not_allowed", "this client may not be used from this address")

    try:
        key = _verification_key(client, header.get("kid"))
    except DomainError as exc:
        raise refuse("jwks_unavailable", "the client's JWKS could not be fetched") from exc
    if key is None or not _key_fits(alg, key):
        raise refuse("no_matching_key", "no registered key matches the assertion (kid/alg)")
    skew = int(conf("OAUTH_CLOCK_SKEW_SECONDS"))
    try:
        claims = jwt.decode(
            assertion,
            key=key,
            algorithms=[alg],
            audience=audience,
            issuer=client.client_id,
            leeway=skew,
            options={"require": ["exp", "iss", "sub", "aud", "jti"]},
        )
    except jwt.InvalidAudienceError as exc:
        raise refuse("wrong_audience", f"aud must be {audience}") from exc
    except jwt.ExpiredSignatureError as exc:
        raise refuse("expired_assertion", "the assertion has expired") from exc
    except jwt.PyJWTError as exc:
        raise refuse("bad_assertion", f"the assertion is not valid: {type(exc).__name__}") from exc
    now = timezone.now()
    exp = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    if exp > now + timedelta(seconds=int(conf("OAUTH_ASSERTION_MAX_SECONDS")) + skew):
        raise refuse("assertion_too_long", "exp is too far in the future (at most 5 minutes)")
    jti = str(claims["jti"])
    if not jti or len(jti) > 255:
        raise refuse("bad_jti", "jti must be 1 to 255 characters")

    requested = form.get("scope", "").split()
    try:
        scopes = scopes_clean(requested) if requested else list(client.allowed_scopes)
    except ValueError as exc:
        raise OAuthError("invalid_scope", str(exc)) from exc
    if not set(scopes) <= set(client.allowed_scopes):
        extra = sorted(set(scopes) - set(client.allowed_scopes))
        raise OAuthError("invalid_scope", f"scope not allowed for this client: {' '.join(extra)}")

    issued = token_generate(ACCESS_TOKEN_KIND)
    lifetime = min(int(client.token_lifetime_seconds), MAX_TOKEN_SECONDS)
    with tenant_context(client.tenant):
        try:
            with transaction.atomic():
                OAuthAssertionJti.objects.create(
                    tenant=client.tenant,
                    client=client,
                    jti=jti,
                    expires_at=exp + timedelta(seconds=skew),
                )
        except IntegrityError as exc:
            raise refuse("replayed_assertion", "this assertion (jti) was already used") from exc
        with transaction.atomic():
            token = OAuthAccessToken.objects.create(
                tenant=client.tenant,
                client=client,
                prefix=issued.prefix,
                token_hash=token_hash(issued.token),
                scopes=scopes,
                issued_at=now,
                expires_at=now + timedelta(seconds=lifetime),
            )
            audit_event_record(
                action="oauth.token_issued",
                tenant=client.tenant,
                target=client,
                details={"token": f"cat_{token.prefix}_…", "scopes": scopes, "ip": ip},
            )
    return {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": " ".join(scopes),
    }
