"""Reads about accounts and their second factors."""

from __future__ import annotations

from base64 import b32encode
from dataclasses import dataclass

import segno
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.identity.mfa import mfa_required_for
from apps.identity.models import User


@dataclass(frozen=True)
class MfaStatus:
    required: bool
    enrolled: bool
    backup_codes_left: int


def mfa_is_enrolled(*, user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def mfa_backup_codes_remaining(*, user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def mfa_status(*, user: User) -> MfaStatus:
    return MfaStatus(
        required=mfa_required_for(user),
        enrolled=mfa_is_enrolled(user=user),
        backup_codes_left=mfa_backup_codes_remaining(user=user),
    )


def totp_secret_text(device: TOTPDevice) -> str:
    """The secret as people type it into an authenticator app: base32 in groups of four."""
    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def totp_qr_svg(device: TOTPDevice) -> SafeString:
    """The provisioning URI as an inline SVG QR code, rendered on the server (no script, no
    third party sees the secret). segno only emits its own markup, so it is safe to inline."""
    qr = segno.make(device.config_url, error="m")
    svg = qr.svg_inline(
        scale=4,
        border=4,
        dark="#000",
        light="#fff",
        omitsize=True,
        svgclass="qr-code",
        title=_("QR code for your authenticator app"),
    )
    return mark_safe(svg)
