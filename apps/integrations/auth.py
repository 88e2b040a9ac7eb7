"""How API callers authenticate. Today: the portal session (with the second factor done when
the user's roles require it). API keys and OAuth2 client credentials plug in here."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import SessionAuth

from apps.identity.mfa import mfa_required_for


class VerifiedSessionAuth(SessionAuth):
    """Django session; refused when MFA is required but this session has not done it."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        if not user.is_authenticated:
            return None
        if mfa_required_for(user) and not user.is_verified():  # type: ignore[union-attr]
            return None
        request.auth_method = request.session.get("auth_method", "session")  # type: ignore[attr-defined]
        return user


def mfa_level(request: HttpRequest) -> str:
    """The strongest factor this session used: "totp", "backup_code" or "none"."""
    device = getattr(request.user, "otp_device", None)
    if device is None:
        return "none"
    label = device._meta.label_lower
    if label == "otp_totp.totpdevice":
        return "totp"
    if label == "otp_static.staticdevice":
        return "backup_code"
    return label
