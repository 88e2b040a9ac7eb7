"""`manage.py demo_totp EMAIL`: the current six-digit sign-in code of a demo account.

Works only for accounts whose authenticator carries the demo-derived secret that seed_demo
gave them (apps/tenants/management/demo_data.py); a real enrolment has a random secret and
this command refuses it. The code goes to stdout alone, so scripts can use it.
"""

from __future__ import annotations

import time
from base64 import b32encode
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.crypto import constant_time_compare
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.identity.models import User
from apps.tenants.management.demo_data import demo_totp_key


class Command(BaseCommand):
    help = "Print the current TOTP code of a demo account (accounts made by seed_demo only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument(
            "--uri",
            action="store_true",
            help="Also print the otpauth:// URI, to add the account to an authenticator app.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"].strip().lower()
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No account {email}. Run `manage.py seed_demo` first.")
        key = demo_totp_key(email)
        device = next(
            (
                d
                for d in TOTPDevice.objects.filter(user=user, confirmed=True)
                if constant_time_compare(d.key, key)
            ),
            None,
        )
        if device is None:
            raise CommandError(
                f"{email} has no demo authenticator: either the account does not need MFA "
                "(sign in with the password only) or it enrolled its own device."
            )
        now = int(time.time())
        step_now = (now - device.t0) // device.step
        # A code is accepted once (django-otp remembers the last time step used); when the
        # current one is spent, the next one is accepted already (one step of drift tolerance).
        drift = 1 if device.last_t >= step_now else 0
        code = totp(
            device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=drift
        )
        self.stdout.write(f"{code:0{device.digits}d}")
        remaining = device.step - (now - device.t0) % device.step + drift * device.step
        self.stderr.write(f"valid for about {remaining} s; a code works once")
        if options["uri"]:
            issuer = quote(settings.OTP_TOTP_ISSUER)
            secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
            self.stdout.write(
                f"otpauth://totp/{issuer}:{quote(email)}?secret={secret}"
                f"&issuer={issuer}&digits={device.digits}&period={device.step}"
            )
