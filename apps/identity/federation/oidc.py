"""Per-tenant generic OpenID Connect, on social-auth (social_core's OpenIdConnectAuth).

The backend is configured at request time from the tenant's IdpConnection: discovery
document from the issuer, authorization code + PKCE (S256), state and nonce in the session
(nonce stored through social_django's association storage), iss/aud/exp/iat/azp/at_hash
checks by social_core + PyJWT, JWKS fetched and re-fetched when an unknown `kid` appears (key
rotation). Only RS256/ES256 are accepted (`alg: none` never verifies). Social's user pipeline
is NOT used: the validated claims go to our own federated_sign_in (linking, JIT, mapping).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from django.http import HttpRequest
from requests.structures import CaseInsensitiveDict
from social_core.backends.open_id_connect import OpenIdConnectAuth
from social_core.exceptions import SocialAuthBaseException
from social_core.utils import http_error
from social_django.utils import load_strategy

from apps.core.crypto.fields import field_secret_get
from apps.identity.federation.fetch import FetchRefused, federation_fetch
from apps.identity.federation.models import IdpConnection

MFA_AMR = {"mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "iris", "retina", "vbm"}
MFA_ACR = {
    "https://refeds.org/profile/mfa",
    "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
}


class OidcError(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class TenantOIDCAuth(OpenIdConnectAuth):
    """Generic OIDC backend whose settings come from one IdpConnection."""

    name = "custos-oidc"
    JWT_ALGORITHMS = ["RS256", "ES256", "PS256"]
    DEFAULT_USE_PKCE = True

    def __init__(self, strategy: Any, redirect_uri: str, connection: IdpConnection) -> None:
        self.connection = connection
        self._client_secret: str | None = None
        super().__init__(strategy, redirect_uri=redirect_uri)

    def setting(self, name: str, default: Any = None) -> Any:
        conn = self.connection
        if name == "SECRET":
            # social-core asks for settings dozens of times per request: the client secret
            # is decrypted (a data-key read and an AES-GCM open) once per backend, and only
            # when the secret itself is asked for.
            if self._client_secret is None:
                self._client_secret = (
                    field_secret_get(conn, "client_secret") if conn.client_secret else ""
                )
            return self._client_secret
        values: dict[str, Any] = {
            "OIDC_ENDPOINT": conn.issuer.rstrip("/"),
            "KEY": conn.client_id,
            "USE_PKCE": True,
            "PKCE_CODE_CHALLENGE_METHOD": "S256",
            "SCOPE": [s for s in conn.scopes.split() if s],
            "IGNORE_DEFAULT_SCOPE": True,
            "ID_TOKEN_ISSUER": conn.issuer,
            "JWT_ALGORITHMS": self.JWT_ALGORITHMS,
        }
        if name in values:
            return values[name]
        return super().setting(name, default)

    def request(  # type: ignore[override]
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Any = None,
        data: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        auth: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        stage: Any = "user_info",
    ) -> requests.Response:
        """Every server-side call of social-core (discovery, JWKS, token endpoint) goes
        through the SSRF guard instead of a bare `requests` call."""
        import json as jsonlib

        send_headers = {
            str(k): v.decode() if isinstance(v, bytes) else str(v)
            for k, v in dict(headers or {}).items()
        }
        send_headers.setdefault("Accept", "application/json")
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        body: bytes | None = None
        if data is not None:
            body = urlencode(data, doseq=True).encode()
            send_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif json is not None:
            body = jsonlib.dumps(json).encode()
            send_headers.setdefault("Content-Type", "application/json")
        if isinstance(auth, tuple):
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            send_headers["Authorization"] = f"Basic {token}"
        elif auth is not None:
            raise OidcError("unsupported_auth")
        try:
            fetched = federation_fetch(
                method, url, body=body, headers=send_headers, timeout=timeout or 5.0
            )
        except FetchRefused as exc:
            raise OidcError("fetch_refused", f"{urlsplit(url).netloc}: {exc}") from exc
        response = requests.Response()
        response.status_code = fetched.status
        response._content = fetched.body
        response.headers = CaseInsensitiveDict(fetched.headers)
        response.url = url
        response.encoding = "utf-8"
        try:
            response.raise_for_status()
        except requests.HTTPError as exc:
            raise http_error(self, exc, stage=stage) from exc
        return response

    def do_auth(self, access_token: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Return the validated ID token claims instead of running social's pipeline."""
        if not self.id_token:
            raise OidcError("missing_id_token")
        return dict(self.id_token)


def backend_for(
    *, request: HttpRequest, connection: IdpConnection, redirect_uri: str
) -> TenantOIDCAuth:
    strategy = load_strategy(request)
    backend = TenantOIDCAuth(strategy, redirect_uri=redirect_uri, connection=connection)
    backend.name = f"custos-oidc-{connection.pk}"
    return backend


def login_redirect_url(
    *, request: HttpRequest, connection: IdpConnection, redirect_uri: str
) -> str:
    backend = backend_for(request=request, connection=connection, redirect_uri=redirect_uri)
    try:
        return backend.auth_url()
    except SocialAuthBaseException as exc:
        raise OidcError("provider_unreachable", str(exc)[:200]) from exc
    except OSError as exc:
        raise OidcError("provider_unreachable", str(exc)[:200]) from exc


def callback_claims(
    *, request: HttpRequest, connection: IdpConnection, redirect_uri: str
) -> dict[str, Any]:
    """Validate the callback (state, code exchange with PKCE verifier, ID token)."""
    backend = backend_for(request=request, connection=connection, redirect_uri=redirect_uri)
    if request.GET.get("error"):
        raise OidcError("provider_error", request.GET.get("error", "")[:100])
    try:
        claims = backend.complete()
    except SocialAuthBaseException as exc:
        code = getattr(exc, "code", "") or type(exc).__name__
        raise OidcError(f"oidc_{code}", str(exc)[:200]) from exc
    except (OSError, ValueError) as exc:
        raise OidcError("provider_unreachable", str(exc)[:200]) from exc
    if not isinstance(claims, dict) or not claims.get("sub"):
        raise OidcError("missing_subject")
    return claims


def claims_mfa(claims: dict[str, Any]) -> bool:
    amr = claims.get("amr") or []
    if isinstance(amr, str):
        amr = [amr]
    return bool(MFA_AMR.intersection(str(a) for a in amr)) or claims.get("acr") in MFA_ACR
