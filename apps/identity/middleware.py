"""Per-user language and time zone; MFA enforcement for the roles that require it."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import resolve
from django.urls.exceptions import Resolver404
from django.utils import timezone, translation

from apps.identity.mfa import mfa_required_for

# URL names a half-signed-in user (password ok, MFA pending) may reach.
MFA_EXEMPT_URL_NAMES = frozenset(
    {
        "identity:login",
        "identity:login_mfa",
        "identity:logout",
        "identity:mfa_setup",
        "identity:mfa_backup_codes",
        "identity:set_language",
        "set_language",
        "healthz",
        "javascript-catalog",
    }
)


class UserPreferencesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            lang = getattr(user, "language", "")
            if lang and not request.COOKIES.get("django_language"):
                translation.activate(lang)
                request.LANGUAGE_CODE = lang
            try:
                timezone.activate(zoneinfo.ZoneInfo(getattr(user, "time_zone", "UTC") or "UTC"))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class MfaRequiredMiddleware:
    """A user whose roles require MFA gets nothing but the MFA pages until the session is
    verified with a second factor (django-otp's `is_verified`). The API answers 401 itself
    (apps.integrations.auth) instead of redirecting."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()  # type: ignore[union-attr,attr-defined]
            # A federated sign-in whose IdP asserted MFA, under a tenant policy that trusts it.
            and request.session.get("federation_mfa") != "idp"
        ):
            try:
                match = resolve(request.path_info)
                name = match.view_name
            except Resolver404:
                name = ""
            if (
                name not in MFA_EXEMPT_URL_NAMES
                and not request.path_info.startswith(("/static/", "/api/"))
                and mfa_required_for(user)
            ):
                from django_otp import user_has_device

                target = "identity:login_mfa" if user_has_device(user) else "identity:mfa_setup"
                return redirect(target)
        return self.get_response(request)
