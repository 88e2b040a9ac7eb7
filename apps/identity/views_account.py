"""The signed-in person's own account: preferences, two-step verification, sessions,
password."""

from __future__ import annotations

from contextlib import suppress
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language as django_set_language
from django_otp import login as otp_login

from apps.core.exceptions import DomainError
from apps.identity import selectors, services
from apps.identity.forms import PasswordChangeForm, PreferencesForm, TotpConfirmForm
from apps.identity.mfa import mfa_required_for
from apps.identity.models import User
from apps.identity.views import is_fully_signed_in, set_language_cookie

BACKUP_CODES_SESSION_KEY = "identity_new_backup_codes"


def _me(request: HttpRequest) -> User:
    return User.objects.get(pk=cast(int, request.user.pk))


@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    user = _me(request)
    form = PreferencesForm(
        request.POST or None, initial={"language": user.language, "time_zone": user.time_zone}
    )
    if request.method == "POST" and form.is_valid():
        language = form.cleaned_data["language"]
        try:
            services.user_set_preferences(
                user=user, language=language, time_zone=form.cleaned_data["time_zone"]
            )
        except DomainError as exc:
            form.add_error(exc.code if exc.code in form.fields else None, exc.message)
        else:
            response = redirect("identity:account")
            set_language_cookie(response, language)
            messages.success(request, _("Your preferences are saved."))
            return response
    context = {"form": form, "account": user, "mfa": selectors.mfa_status(user=user)}
    return render(request, "identity/account.html", context, status=400 if form.errors else 200)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_setup(request: HttpRequest) -> HttpResponse:
    user = _me(request)
    current: Any = request.user
    if selectors.mfa_is_enrolled(user=user):
        if current.is_verified():
            messages.info(request, _("Two-step verification is already set up."))
            return redirect("identity:account")
        return redirect("identity:login_mfa")
    try:
        device = services.mfa_device_start(user=user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("identity:account")
    form = TotpConfirmForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.mfa_device_confirm(
                user=user, device=device, code=form.cleaned_data["code"]
            )
        except DomainError as exc:
            form.add_error("code", exc.message)
            status = exc.status_code
        else:
            request.session.cycle_key()
            otp_login(request, device)
            request.session[BACKUP_CODES_SESSION_KEY] = codes
            messages.success(request, _("Two-step verification is on."))
            return redirect("identity:mfa_backup_codes")
    context = {
        "form": form,
        "qr_svg": selectors.totp_qr_svg(device),
        "secret": selectors.totp_secret_text(device),
        "required": mfa_required_for(user),
    }
    return render(request, "identity/mfa_setup.html", context, status=status)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_backup_codes(request: HttpRequest) -> HttpResponse:
    """New codes are shown once, right after they were made; afterwards the page only says
    how many are left and offers new ones (which replace the old)."""
    user = _me(request)
    current: Any = request.user
    if request.method == "POST":
        if not current.is_verified():
            raise PermissionDenied(_("Confirm this sign-in with your second factor first."))
        try:
            codes = services.mfa_backup_codes_generate(actor=user, user=user)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("identity:account")
        request.session[BACKUP_CODES_SESSION_KEY] = codes
        return redirect("identity:mfa_backup_codes")
    codes = request.session.pop(BACKUP_CODES_SESSION_KEY, None)
    context = {
        "codes": codes if isinstance(codes, list) else None,
        "mfa": selectors.mfa_status(user=user),
        "verified": current.is_verified(),
    }
    return render(request, "identity/mfa_backup_codes.html", context)


@require_POST
@login_required
def sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    """End every session of the user, this one included."""
    user = _me(request)
    services.user_sign_out_everywhere(actor=user, user=user)
    auth_logout(request)
    messages.success(
        request, _("All your sessions have ended, including this one. Sign in again to continue.")
    )
    return redirect("identity:login")


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's language switch, plus: a signed-in person keeps the choice as preference."""
    response = django_set_language(request)
    language = request.POST.get("language", "")
    if language and is_fully_signed_in(request):
        user = _me(request)
        # An unknown language is ignored here, as Django's view ignored it.
        with suppress(DomainError):
            services.user_set_preferences(user=user, language=language, time_zone=user.time_zone)
    return response


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = PasswordChangeForm
    template_name = "identity/password_change.html"
    success_url = reverse_lazy("identity:account")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(
            self.request, _("Your password is changed. Your other sessions have ended.")
        )
        return response


password_change = PasswordChangeView.as_view()
