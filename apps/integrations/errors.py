"""Errors the API answers with its one error shape (and extra headers when needed)."""

from __future__ import annotations


class ApiAuthError(Exception):
    """Authentication or authorisation refused: 401 (unknown, expired, revoked credential),
    403 (scope, network, tenant closed) or 429 (rate limit, with Retry-After)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: object = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details


class OAuthError(Exception):
    """An RFC 6749 section 5.2 error of the token endpoint."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
