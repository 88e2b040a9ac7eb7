"""Helpers for the identity tests: real TOTP codes, the sign-in steps, audit lookups."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.models import AuditEvent
from apps.core.tenancy import unscoped
from apps.identity import services
from apps.identity.models import User
from tests.conftest import PASSWORD

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
GENERIC_SIGN_IN_ERROR = "Sign-in failed. Check your email address and password and try again."
SECOND_FACTOR_ERROR = "This code was not accepted."


@pytest.fixture
def clock(time_machine: Any) -> Any:
    """Frozen time (TOTP steps and lockout waits are about time); `clock.shift(seconds)`."""
    time_machine.move_to(START, tick=False)
    return time_machine


def code_for(device: TOTPDevice, *, steps: int = 0) -> str:
    """The code the user's authenticator app shows now (or `steps` time steps away)."""
    device.refresh_from_db()
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=steps)
    return f"{value:0{device.digits}d}"


def enrol(user: User) -> tuple[TOTPDevice, list[str]]:
    """Enrol through the services, as the setup page does. The confirming code uses up the
    current time step: shift the clock before signing in with TOTP."""
    device = services.mfa_device_start(user=user)
    codes = services.mfa_device_confirm(user=user, device=device, code=code_for(device))
    device.refresh_from_db()
    return device, codes


def password_step(
    client: Client, email: str, password: str = PASSWORD, next_url: str = "", **extra: Any
) -> Any:
    data = {"email": email, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("identity:login"), data, **extra)


def code_step(client: Client, code: str, **extra: Any) -> Any:
    return client.post(reverse("identity:login_mfa"), {"code": code}, **extra)


def is_signed_in(client: Client) -> bool:
    """Can this client open the account page (a page behind login and MFA)?"""
    return client.get(reverse("identity:account")).status_code == 200


def events(action: str) -> list[AuditEvent]:
    with unscoped(reason="test reads the audit log"):
        return list(AuditEvent.objects.filter(action=action).order_by("chain", "seq"))


def visible_text(response: Any) -> str:
    """The page without the per-request noise (CSRF tokens, nonces, request ids)."""
    body = response.content.decode()
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", body)
    body = re.sub(r'"X-CSRFToken": "[^"]*"', "", body)
    body = re.sub(r'"inlineScriptNonce": "[^"]*"', "", body)
    return re.sub(r'nonce="[^"]*"', "", body)


class CountingHasher(MD5PasswordHasher):
    """Counts how often the password hasher runs (the time an attempt takes)."""

    runs = 0

    def encode(self, password: str, salt: str) -> str:
        type(self).runs += 1
        return super().encode(password, salt)
