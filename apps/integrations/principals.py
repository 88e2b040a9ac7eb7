"""Who is calling the API when it is not a signed-in person."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.tenants.models import Tenant


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """`request.auth` for API keys and OAuth2 clients. It acts in exactly one tenant, with
    exactly the scopes listed (nothing from any person's role)."""

    kind: str  # PrincipalKind.API_KEY or PrincipalKind.OAUTH_CLIENT
    tenant: Tenant
    scopes: frozenset[str]
    credential_id: int  # ApiKey.pk or OAuthClient.pk
    credential: str  # "cus_<prefix>_…" or the OAuth client_id (never a secret)
    name: str
    contact_email: str = ""
    contact_language: str = "en"
    token_id: int | None = None  # OAuthAccessToken.pk for OAuth callers

    is_authenticated = True

    @property
    def subject_type(self) -> str:
        return "integrations.apikey" if self.kind == "api_key" else "integrations.oauthclient"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def __str__(self) -> str:
        label = "API key" if self.kind == "api_key" else "OAuth client"
        return f"{label} {self.name} ({self.credential})"
