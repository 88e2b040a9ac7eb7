"""Sign-in: email + password, then a second factor (TOTP or backup code); sign-out.

A user with a second factor is not signed in after the password step: the session only holds
a short-lived "pending" marker bound to the account's session hash, and `auth.login` runs once
the code is accepted. A user whose roles require MFA but who has no device yet is signed in
after the password and kept on the enrolment pages by `MfaRequiredMiddleware`.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import translation
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice

from apps.core.exceptions import DomainError
from apps.core.middleware import client_ip
from apps.identity import services
from apps.identity.forms import LoginForm, SecondFactorForm
from apps.identity.mfa import mfa_required_for
from apps.identity.models import User

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
PENDING_SESSION_KEY = "identity_pending_sign_in"
PENDING_MAX_AGE_SECONDS = 5 * 60


def safe_next_url(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def set_language_cookie(response: HttpResponse, language: str) -> None:
    """Make the UI follow the user's language preference from the next page on."""
    if not language:
        response.delete_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
        return
    translation.activate(language)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


def is_fully_signed_in(request: HttpRequest) -> bool:
    """Signed in, and the second factor is done where one is needed."""
    user: Any = request.user
    if not user.is_authenticated:
        return False
    if user.is_verified() or request.session.get("federation_mfa") == "idp":
        return True
    return not mfa_required_for(user) and not user_has_device(user)


# --- Pending sign-in (password accepted, second factor outstanding) ------------------------


def _pending_start(request: HttpRequest, user: User, next_url: str) -> None:
    if request.user.is_authenticated:
        auth_logout(request)
    request.session.cycle_key()
    request.session[PENDING_SESSION_KEY] = {
        "user_id": user.pk,
        "auth_hash": user.get_session_auth_hash(),
        "started": int(time.time()),
        "next": next_url,
    }


def _pending_get(request: HttpRequest) -> tuple[User, str] | None:
    """The account waiting for its second factor, or None when there is none, it is stale,
    or the account changed since (disabled, new password, sessions revoked)."""
    data = request.session.get(PENDING_SESSION_KEY)
    try:
        user_id = int(data["user_id"])  # type: ignore[index]
        started = int(data["started"])  # type: ignore[index]
        auth_hash = str(data["auth_hash"])  # type: ignore[index]
        next_url = str(data.get("next") or "")  # type: ignore[union-attr]
    except (TypeError, KeyError, ValueError, AttributeError):
        request.session.pop(PENDING_SESSION_KEY, None)
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if (
        user is None
        or not 0 <= time.time() - started <= PENDING_MAX_AGE_SECONDS
        or not constant_time_compare(auth_hash, user.get_session_auth_hash())
    ):
        request.session.pop(PENDING_SESSION_KEY, None)
        return None
    return user, safe_next_url(request, next_url)


def _sign_in(
    request: HttpRequest, user: User, *, device: Device | None, factor: str, next_url: str
) -> HttpResponse:
    with transaction.atomic():
        auth_login(request, user, backend=MODEL_BACKEND)  # new session key (no fixation)
        # "saml"/"oidc" when a federated sign-in asked for our TOTP; else a password sign-in.
        request.session.setdefault("auth_method", "password")
        if device is not None:
            otp_login(request, device)
        services.login_succeeded_record(user=user, ip=client_ip(request), factor=factor)
    request.session.pop(PENDING_SESSION_KEY, None)
    if factor == "enrolment_required":
        target = reverse("identity:mfa_setup")
    else:
        target = next_url or resolve_url(settings.LOGIN_REDIRECT_URL)
    response = HttpResponseRedirect(target)
    if user.language:
        set_language_cookie(response, user.language)
    return response


# --- Views ----------------------------------------------------------------------------------


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    next_url = safe_next_url(request, request.POST.get("next") or request.GET.get("next"))
    if is_fully_signed_in(request):
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    # Home-realm discovery sends unknown domains back here with the email filled in.
    form = LoginForm(request.POST or None, initial={"email": request.GET.get("email", "")[:254]})
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = services.login_password_check(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                ip=client_ip(request),
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
            status = exc.status_code
        else:
            request.session.pop("auth_method", None)
            request.session.pop("federation_mfa", None)
            if user_has_device(user):
                _pending_start(request, user, next_url)
                return redirect("identity:login_mfa")
            factor = "enrolment_required" if mfa_required_for(user) else "none"
            return _sign_in(request, user, device=None, factor=factor, next_url=next_url)
    return render(request, "identity/login.html", {"form": form, "next": next_url}, status=status)


@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def login_mfa(request: HttpRequest) -> HttpResponse:
    current: Any = request.user
    if current.is_authenticated:
        if current.is_verified():
            return redirect(settings.LOGIN_REDIRECT_URL)
        user = User.objects.get(pk=current.pk)
        next_url = ""
        if not user_has_device(user):
            return redirect("identity:mfa_setup")
    else:
        pending = _pending_get(request)
        if pending is None:
            messages.error(
                request, _("Your sign-in has expired or was not started. Please sign in again.")
            )
            return redirect("identity:login")
        user, next_url = pending
    form = SecondFactorForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            device = services.login_second_factor_check(
                user=user, code=form.cleaned_data["code"], ip=client_ip(request)
            )
        except DomainError as exc:
            form.add_error("code", exc.message)
            status = exc.status_code
        else:
            factor = "backup_code" if isinstance(device, StaticDevice) else "totp"
            return _sign_in(request, user, device=device, factor=factor, next_url=next_url)
    return render(request, "identity/login_mfa.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
def logout(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "identity/logout.html")
    if request.user.is_authenticated:
        services.logout_record(user=User.objects.get(pk=request.user.pk))
        # Signed in through a SAML IdP with single logout: end the session here and at the IdP.
        from apps.identity.federation.views_public import saml_logout_redirect

        slo = saml_logout_redirect(request)
        if slo is not None:
            return slo
    auth_logout(request)
    messages.success(request, _("You have been signed out."))
    return redirect(settings.LOGOUT_REDIRECT_URL)


def admin_login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """Stands in for the Django admin's own login form."""
    next_url = safe_next_url(request, request.GET.get("next")) or reverse("admin:index")
    return redirect(f"{reverse('identity:login')}?next={quote(next_url)}")
