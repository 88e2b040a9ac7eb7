"""Writes about people's accounts: sign-in checks, second factors, sessions, preferences.

Every change is audited on the platform chain (accounts belong to no single tenant). Sign-in
refusals share one message whatever the reason, so the response never tells whether an account
exists, is disabled or is locked; the audit event keeps the reason.
"""

from __future__ import annotations

import secrets
import zoneinfo
from base64 import b32encode
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import Conflict, DomainError, PermissionDenied
from apps.core.requestcontext import current_request_info
from apps.identity import lockout
from apps.identity.models import User

BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"


class SignInRefused(DomainError):
    """One message for every reason a password sign-in fails (no user enumeration)."""

    status_code = 401

    def __init__(self) -> None:
        super().__init__(
            _(
                "Sign-in failed. Check your email address and password and try again. "
                "After several failed attempts, sign-in pauses for a few minutes."
            ),
            code="sign_in_refused",
        )


class SecondFactorRefused(DomainError):
    """One message for a wrong, reused or throttled second-factor code."""

    status_code = 401

    def __init__(self) -> None:
        super().__init__(
            _(
                "This code was not accepted. Enter the current code from your authenticator "
                "app or one of your backup codes. After several failed attempts, wait a few "
                "minutes before trying again."
            ),
            code="second_factor_refused",
        )


def _audit(**kwargs: Any) -> None:
    audit_event_record(use_current_tenant=False, **kwargs)


def _user_by_email(email: str) -> User | None:
    return User.objects.filter(email__iexact=email).first()


def _require_operator(actor: Any) -> None:
    """Account administration (disable, enable, MFA reset) is for operators."""
    if not (
        getattr(actor, "is_active", False)
        and (actor.is_superuser or actor.has_perm("identity.change_user"))
    ):
        raise PermissionDenied(_("Only operators may change other people's accounts."))


def _require_self_or_operator(actor: Any, user: User) -> None:
    if getattr(actor, "pk", None) != user.pk:
        _require_operator(actor)


# --- Sign-in ------------------------------------------------------------------------------


def login_password_check(*, email: str, password: str, ip: str) -> User:
    """First step of sign-in. Returns the user when the password is right and nothing holds
    the attempt back; raises `SignInRefused` otherwise (same message for every reason)."""
    email = lockout.normalise_email(email)
    state = lockout.lockout_state(email=email, ip=ip)
    if state.locked:
        # Do the hashing work a real check would do: the response time tells nothing.
        make_password(password)
        with transaction.atomic():
            _audit(
                action="login.locked",
                outcome="failure",
                target=_user_by_email(email),
                details={
                    "email": email,
                    "reason": "attempt_while_locked",
                    "scope": state.scope,
                    "locked_until": state.until.isoformat() if state.until else "",
                },
            )
        raise SignInRefused

    # ModelBackend runs the password hasher for unknown and disabled accounts too.
    user = authenticate(request=None, username=email, password=password)
    if isinstance(user, User):
        return user

    candidate = _user_by_email(email)
    if candidate is None:
        reason = "unknown_account"
    elif not candidate.is_active:
        reason = "account_disabled"
    else:
        reason = "bad_password"
    _failure_record(
        action="login.failed", email=email, ip=ip, user=candidate, details={"reason": reason}
    )
    raise SignInRefused


def _failure_record(
    *, action: str, email: str, ip: str, user: User | None, details: dict[str, Any]
) -> None:
    with transaction.atomic():
        state = lockout.lockout_register_failure(email=email, ip=ip)
        _audit(
            action=action,
            outcome="failure",
            target=user,
            details={"email": email, **details},
        )
        if state.started:
            _audit(
                action="login.locked",
                outcome="failure",
                target=user,
                details={
                    "email": email,
                    "reason": "threshold_reached",
                    "scope": state.scope,
                    "locked_until": state.until.isoformat() if state.until else "",
                },
            )


def login_second_factor_check(*, user: User, code: str, ip: str) -> Device:
    """Second step of sign-in: a TOTP code or a backup code. Counts failures towards the
    lockout; raises `SecondFactorRefused` for a wrong, reused or throttled code."""
    state = lockout.lockout_state(email=user.email, ip=ip)
    if state.locked:
        with transaction.atomic():
            _audit(
                action="login.locked",
                outcome="failure",
                target=user,
                details={
                    "email": user.email,
                    "reason": "attempt_while_locked",
                    "step": "second_factor",
                    "scope": state.scope,
                },
            )
        raise SecondFactorRefused
    device = mfa_verify(user=user, code=code)
    if device is None:
        _failure_record(
            action="login.mfa_failed",
            email=user.email,
            ip=ip,
            user=user,
            details={"reason": "bad_code"},
        )
        raise SecondFactorRefused
    return device


@transaction.atomic(savepoint=False)  # both writes or neither, without a savepoint per login
def login_succeeded_record(*, user: User, ip: str, factor: str) -> None:
    """A sign-in is complete (`factor`: "totp", "backup_code", "none" or
    "enrolment_required"): reset the (account, IP) counter and record it."""
    lockout.lockout_register_success(email=user.email, ip=ip)
    _audit(action="login.succeeded", actor=user, target=user, details={"second_factor": factor})


@transaction.atomic
def logout_record(*, user: User) -> None:
    _audit(action="logout", actor=user, target=user)


# --- Second factors -----------------------------------------------------------------------


def _normalise_code(code: str) -> str:
    return "".join((code or "").split()).replace("-", "").lower()


def _backup_code_digests(code: str) -> list[str]:
    """Backup codes are stored as keyed digests (a copy of the table reveals none). Old
    secret keys still verify codes issued before a key rotation."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [
        salted_hmac(
            "custos.identity.backup-code", code, secret=key, algorithm="sha256"
        ).hexdigest()[:16]
        for key in keys
    ]


def _is_totp_code(code: str) -> bool:
    return code.isdigit() and len(code) in (6, 8)


def mfa_verify(*, user: User, code: str) -> Device | None:
    """Check a second-factor code for `user` and use it up. The device row is locked
    (`select_for_update`) for the check and the update, so two requests racing with the same
    code are serialised and the second one sees the first's `last_t` (TOTP) or finds the
    backup code gone: a code works once."""
    code = _normalise_code(code)
    if not code or len(code) > 16:
        return None
    with transaction.atomic():
        if _is_totp_code(code):
            devices = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
            for device in devices.order_by("pk"):
                # verify_token accepts only a time step later than `last_t` and saves the
                # new `last_t` inside this transaction, under the row lock.
                if device.verify_token(code):
                    return device
            return None
        digests = _backup_code_digests(code)
        for static in StaticDevice.objects.select_for_update().filter(user=user, confirmed=True):
            deleted, _per_model = StaticToken.objects.filter(
                device=static, token__in=digests
            ).delete()
            if deleted:
                static.set_last_used_timestamp(commit=True)
                return static
    return None


def mfa_device_start(*, user: User) -> TOTPDevice:
    """The unconfirmed authenticator device shown during enrolment (the same one on every
    reload, so the QR code stays valid until it is confirmed)."""
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise Conflict(_("Two-step verification is already set up for this account."))
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def _backup_codes_replace(*, user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes: list[str] = []
    while len(codes) < BACKUP_CODE_COUNT:
        raw = b32encode(secrets.token_bytes(5)).decode("ascii").lower()
        if raw not in codes:
            codes.append(raw)
    StaticToken.objects.bulk_create(
        [StaticToken(device=device, token=_backup_code_digests(code)[0]) for code in codes]
    )
    return [f"{code[:4]}-{code[4:]}" for code in codes]


@transaction.atomic
def mfa_device_confirm(*, user: User, device: TOTPDevice, code: str) -> list[str]:
    """Finish enrolment with a code from the app. Returns the new backup codes (shown once)."""
    locked = TOTPDevice.objects.select_for_update().filter(pk=device.pk, user=user).first()
    if locked is None:
        raise DomainError(_("This enrolment is no longer valid. Start again."))
    if locked.confirmed:
        raise Conflict(_("Two-step verification is already set up for this account."))
    code = _normalise_code(code)
    if not _is_totp_code(code) or not locked.verify_token(code):
        raise DomainError(
            _("This code is not valid. Enter the current six-digit code from your app."),
            code="bad_code",
        )
    locked.confirmed = True
    locked.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user).exclude(pk=locked.pk).delete()
    _audit(
        action="mfa.enrolled",
        actor=user,
        target=user,
        details={"device": "totp", "device_id": locked.pk},
    )
    codes = _backup_codes_replace(user=user)
    _audit(
        action="mfa.backup_codes_generated",
        actor=user,
        target=user,
        details={"count": len(codes)},
    )
    device.confirmed = True
    return codes


@transaction.atomic
def mfa_backup_codes_generate(*, actor: Any, user: User) -> list[str]:
    """New backup codes replace the old ones (which stop working)."""
    _require_self_or_operator(actor, user)
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise DomainError(_("Set up an authenticator app first."))
    codes = _backup_codes_replace(user=user)
    _audit(
        action="mfa.backup_codes_generated",
        actor=actor,
        target=user,
        details={"count": len(codes)},
    )
    return codes


@transaction.atomic
def mfa_reset(*, actor: Any, user: User, reason: str) -> None:
    """Remove every second factor of `user` (lost phone) and end their sessions; at the next
    sign-in, roles that require MFA enrol again."""
    _require_operator(actor)
    totp_deleted, _per_model = TOTPDevice.objects.filter(user=user).delete()
    static_deleted, _per_model = StaticDevice.objects.filter(user=user).delete()
    _bump_session_generation(user)
    _audit(
        action="mfa.reset",
        actor=actor,
        target=user,
        details={"reason": reason, "devices_removed": totp_deleted + static_deleted},
    )


# --- Sessions and account state -----------------------------------------------------------


def _bump_session_generation(user: User) -> None:
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])


@transaction.atomic
def user_sign_out_everywhere(*, actor: Any, user: User, reason: str = "") -> None:
    """End every session of `user` at once (sessions carry a hash of the generation)."""
    _require_self_or_operator(actor, user)
    _bump_session_generation(user)
    _audit(
        action="sessions.revoked",
        actor=actor,
        target=user,
        details={"session_generation": user.session_generation, "reason": reason},
    )


@transaction.atomic
def user_disable(*, actor: Any, user: User, reason: str) -> User:
    """Disable the account and end all its sessions at once. Idempotent."""
    _require_operator(actor)
    if getattr(actor, "pk", None) == user.pk:
        raise DomainError(_("You cannot disable your own account."))
    changed = User.objects.filter(pk=user.pk, is_active=True).update(
        is_active=False,
        disabled_at=timezone.now(),
        session_generation=F("session_generation") + 1,
    )
    user.refresh_from_db()
    if changed:
        _audit(
            action="user.disabled",
            actor=actor,
            target=user,
            before={"is_active": True},
            after={"is_active": False},
            details={"reason": reason},
        )
    return user


@transaction.atomic
def user_enable(*, actor: Any, user: User, reason: str) -> User:
    _require_operator(actor)
    changed = User.objects.filter(pk=user.pk, is_active=False).update(
        is_active=True, disabled_at=None
    )
    user.refresh_from_db()
    if changed:
        _audit(
            action="user.enabled",
            actor=actor,
            target=user,
            before={"is_active": False},
            after={"is_active": True},
            details={"reason": reason},
        )
    return user


@transaction.atomic
def user_access_end_for_leaver(*, user: User, reason: str, disable: bool) -> bool:
    """System path of the lifecycle leaver (apps/lifecycle/leaver.py; the caller is the
    authority, e.g. the tenant's directory): end every session of `user` and, when `disable`,
    disable the account too. Returns whether the account was disabled by this call."""
    fields: dict[str, Any] = {"session_generation": F("session_generation") + 1}
    disabled = False
    if disable:
        disabled = bool(
            User.objects.filter(pk=user.pk, is_active=True).update(
                is_active=False, disabled_at=timezone.now(), **fields
            )
        )
    if not disabled:
        User.objects.filter(pk=user.pk).update(**fields)
    user.refresh_from_db(fields=["session_generation", "is_active", "disabled_at"])
    _audit(
        action="user.disabled" if disabled else "sessions.revoked",
        target=user,
        details={"reason": reason, "by": "lifecycle.leaver"},
    )
    return disabled


@transaction.atomic
def user_enable_for_rejoiner(*, user: User, reason: str) -> bool:
    """System path: the tenant's directory reactivates a person the leaver disabled."""
    changed = User.objects.filter(pk=user.pk, is_active=False).update(
        is_active=True, disabled_at=None
    )
    user.refresh_from_db(fields=["is_active", "disabled_at"])
    if changed:
        _audit(
            action="user.enabled",
            target=user,
            details={"reason": reason, "by": "lifecycle"},
        )
    return bool(changed)


def _valid_languages() -> set[str]:
    return {code for code, _name in settings.LANGUAGES}


@transaction.atomic
def user_set_preferences(*, user: User, language: str, time_zone: str) -> User:
    """Language ("" = follow the browser) and time zone (an IANA name)."""
    if language and language not in _valid_languages():
        raise DomainError(_("Unknown language."), code="language")
    if time_zone not in zoneinfo.available_timezones():
        raise DomainError(_("Unknown time zone."), code="time_zone")
    before = {"language": user.language, "time_zone": user.time_zone}
    after = {"language": language, "time_zone": time_zone}
    if before == after:
        return user
    User.objects.filter(pk=user.pk).update(language=language, time_zone=time_zone)
    user.language, user.time_zone = language, time_zone
    _audit(action="preferences.changed", actor=user, target=user, before=before, after=after)
    return user


# --- Passwords ----------------------------------------------------------------------------


@transaction.atomic
def user_password_set(*, actor: Any, user: User, password: str, via: str) -> User:
    """Set a new password (`via`: "reset" or "change"). Every session bound to the old
    password ends; a reset by email also lifts the lockout the owner may be facing."""
    if actor is not None:
        _require_self_or_operator(actor, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    if via == "reset":
        lockout.lockout_clear(email=user.email, ip=current_request_info().ip)
    _audit(action="password.changed", actor=actor or user, target=user, details={"via": via})
    return user


@transaction.atomic
def password_reset_requested_record(*, email: str, users: list[User]) -> None:
    """Audit a reset request. The page looks the same whether or not the address is known."""
    _audit(
        action="password.reset_requested",
        target=users[0] if len(users) == 1 else None,
        details={"email": lockout.normalise_email(email), "known_account": bool(users)},
    )
