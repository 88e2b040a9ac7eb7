"""How API callers authenticate, and what handlers check.

* `ApiKeyAuth`: `Authorization: Bearer cus_<prefix>_<secret>` (a tenant's API key).
* `OAuthBearerAuth`: `Authorization: Bearer cat_<prefix>_<secret>` (an access token from
  POST /api/v1/oauth/token, OAuth2 client credentials with private_key_jwt).
* `VerifiedSessionAuth`: the portal session (with the second factor done when the user's
  roles require it).

A bearer credential that is present but bad is refused outright (401/403/429); it never falls
back to the session. Handlers call `api_tenant(request, tenant_slug, scope=...)` (or
`require_scope` for endpoints without a tenant) and then enter `tenant_context(tenant)`.

Tenant rule: an API key or OAuth client acts in its own tenant only. A tenant URL naming any
other tenant answers 404 `not_found`, exactly like a tenant that does not exist, so a credential
cannot probe which tenants exist.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja.errors import HttpError
from ninja.security import SessionAuth
from ninja.security.base import AuthBase

from apps.identity.mfa import mfa_required_for
from apps.integrations.errors import ApiAuthError
from apps.integrations.principals import ApiPrincipal
from apps.integrations.scopes import ROLE_SCOPES, SCOPES


class VerifiedSessionAuth(SessionAuth):
    """Django session; refused when MFA is required but this session has not done it."""

    def __call__(self, request: HttpRequest) -> Any:
        # Nobody signed in: there is no session to forge a request with, so the answer is
        # 401 unauthenticated (not a CSRF 403 that would send integrators looking for a token).
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)

    def _get_key(self, request: HttpRequest) -> str | None:
        try:
            return super()._get_key(request)
        except HttpError as exc:
            raise ApiAuthError(
                403,
                "csrf_failed",
                _("A signed-in session must send its CSRF token (X-CSRFToken header)."),
            ) from exc

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        if not user.is_authenticated:
            return None
        if (
            mfa_required_for(user)
            and not user.is_verified()  # type: ignore[union-attr,attr-defined]
            and request.session.get("federation_mfa") != "idp"  # IdP MFA trusted by policy
        ):
            return None
        request.auth_method = request.session.get("auth_method", "session")  # type: ignore[attr-defined]
        return user


def _bearer(request: HttpRequest, kind: str) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value if value.startswith(f"{kind}_") else None


class ApiKeyAuth(AuthBase):
    openapi_type = "http"
    openapi_scheme = "bearer"
    openapi_bearerFormat = "cus_<prefix>_<secret>"
    openapi_description = (
        "A tenant API key, created (and shown once) in the customer portal under "
        "Integrations → API keys. Send it as `Authorization: Bearer cus_…`."
    )

    def __call__(self, request: HttpRequest) -> ApiPrincipal | None:
        raw = _bearer(request, "cus")
        if raw is None:
            return None
        from apps.integrations.services.authn import api_key_authenticate

        return api_key_authenticate(request, raw)


class OAuthBearerAuth(AuthBase):
    openapi_type = "oauth2"
    openapi_description = (
        "OAuth2 client credentials with private_key_jwt (RFC 7523): POST a signed client "
        "assertion to /api/v1/oauth/token, then send `Authorization: Bearer cat_…`."
    )

    @property
    def openapi_flows(self) -> dict[str, Any]:
        return {
            "clientCredentials": {
                "tokenUrl": "/api/v1/oauth/token",
                "scopes": {name: str(label) for name, label in SCOPES.items()},
            }
        }

    def __call__(self, request: HttpRequest) -> ApiPrincipal | None:
        raw = _bearer(request, "cat")
        if raw is None:
            return None
        from apps.integrations.services.authn import access_token_authenticate

        return access_token_authenticate(request, raw)


def _insufficient(scope: str) -> ApiAuthError:
    return ApiAuthError(
        403,
        "insufficient_scope",
        _("This credential lacks the scope %(scope)s.") % {"scope": scope},
        details={"required_scope": scope},
    )


def require_scope(request: HttpRequest, scope: str) -> None:
    """Refuse (403 insufficient_scope) an API key or OAuth client without `scope`. People
    (session) are checked against their role in the tenant by `api_tenant`."""
    principal = getattr(request, "auth", None)
    if isinstance(principal, ApiPrincipal) and scope not in principal.scopes:
        raise _insufficient(scope)


def api_tenant(request: HttpRequest, tenant_slug: str, *, scope: str) -> Any:
    """The tenant a handler may act in, after checking the caller may be there with `scope`.
    The caller then enters `tenant_context(tenant)`."""
    principal = getattr(request, "auth", None)
    if isinstance(principal, ApiPrincipal):
        if principal.tenant.slug != tenant_slug:
            raise Http404
        require_scope(request, scope)
        tenant = principal.tenant
    else:
        from apps.tenants.selectors import tenant_access_for_request

        access = tenant_access_for_request(user=request.user, slug=tenant_slug)
        role = access.membership.role if access.membership else ""
        if scope not in ROLE_SCOPES.get(role, frozenset()):
            raise _insufficient(scope)
        tenant = access.tenant
    request.custos_tenant_id = tenant.pk  # type: ignore[attr-defined]
    return tenant


def mfa_level(request: HttpRequest) -> str:
    """The strongest factor this session used: "totp", "backup_code" or "none"."""
    device = getattr(request.user, "otp_device", None)
    if device is None:
        # Federated sign-in whose IdP asserted MFA (AuthnContext / amr), trusted by policy.
        session = getattr(request, "session", None)
        if session is not None and session.get("federation_mfa") == "idp":
            return "idp_mfa"
        return "none"
    label = device._meta.label_lower
    if label == "otp_totp.totpdevice":
        return "totp"
    if label == "otp_static.staticdevice":
        return "backup_code"
    return label
