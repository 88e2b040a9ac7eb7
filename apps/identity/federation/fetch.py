"""Server-side fetches of federation (SAML metadata URL, OIDC discovery, JWKS and token
endpoint) — all through `apps.integrations.netfetch`, so none of them can be pointed at
loopback, private, link-local or cloud-metadata addresses (checked after resolution, the
connection pinned to the checked address), with size and time limits and no redirects.

On top of netfetch: https only, unless the setting FEDERATION_ALLOW_HTTP is on (tests with a
local provider; never in production, where config.settings.production forces it off).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

FETCH_TIMEOUT_SECONDS = 5.0
DOCUMENT_MAX_BYTES = 512 * 1024  # discovery documents, JWKS, token responses
METADATA_MAX_BYTES = 2 * 1024 * 1024  # SAML metadata (aggregates are refused anyway)


class FetchRefused(Exception):
    """The URL may not be fetched, or the fetch failed; the message is safe to show."""


def federation_fetch(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    max_bytes: int = DOCUMENT_MAX_BYTES,
    timeout: float = FETCH_TIMEOUT_SECONDS,
) -> Any:
    """An `OutboundResponse` (status, body, headers) or FetchRefused."""
    from apps.integrations.netfetch import OutboundError, outbound_request

    if urlsplit(url).scheme.lower() != "https" and not getattr(
        settings, "FEDERATION_ALLOW_HTTP", False
    ):
        raise FetchRefused("only https:// URLs are allowed")
    try:
        return outbound_request(
            method, url, body=body, headers=headers, max_bytes=max_bytes, timeout=timeout
        )
    except OutboundError as exc:
        raise FetchRefused(str(exc)) from exc
