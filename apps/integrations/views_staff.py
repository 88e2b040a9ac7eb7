"""Staff console: key status (envelope encryption), deprecated API calls per client, security
alerts. Security and compliance staff only (`User.has_oversight`)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.core.crypto.status import key_status as key_status_read
from apps.core.exceptions import DomainError
from apps.integrations import selectors
from apps.integrations.forms import OffboardForm


def _require_oversight(request: HttpRequest) -> None:
    user: Any = request.user
    if not getattr(user, "has_oversight", False):
        raise PermissionDenied


@require_GET
@login_required
def key_status(request: HttpRequest) -> HttpResponse:
    """Versions, rotation times, what each key protects and how many values — never material."""
    _require_oversight(request)
    return render(request, "integrations/staff_key_status.html", {"status": key_status_read()})


@require_GET
@login_required
def api_deprecations(request: HttpRequest) -> HttpResponse:
    _require_oversight(request)
    return render(
        request,
        "integrations/staff_api_deprecations.html",
        {"rows": selectors.deprecated_calls_report()},
    )


@require_GET
@login_required
def api_alerts(request: HttpRequest) -> HttpResponse:
    _require_oversight(request)
    return render(
        request, "integrations/staff_api_alerts.html", {"alerts": selectors.security_alerts_all()}
    )


# --- vendor staff offboarding ------------------------------------------------------------------
def _require_offboarding_officer(request: HttpRequest) -> None:
    from apps.identity.models import StaffRole

    user: Any = request.user
    if not (
        user.is_superuser
        or user.has_perm("identity.change_user")
        or (user.is_vendor_staff and user.staff_role == StaffRole.SECURITY)
    ):
        raise PermissionDenied


@require_GET
@login_required
def staff_offboarding(request: HttpRequest) -> HttpResponse:
    """Vendor staff accounts; offboarding one revokes everything they hold at once."""
    _require_offboarding_officer(request)
    return render(
        request,
        "integrations/staff_offboarding.html",
        {"staff": selectors.vendor_staff_list(), "form": OffboardForm()},
    )


@require_POST
@login_required
def staff_offboard_confirm(request: HttpRequest, user_id: int) -> HttpResponse:
    from apps.identity.models import User, UserKind
    from apps.lifecycle.leaver import staff_offboard

    _require_offboarding_officer(request)
    person = get_object_or_404(User, pk=user_id, kind=UserKind.STAFF)
    form = OffboardForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "integrations/staff_offboarding.html",
            {"staff": selectors.vendor_staff_list(), "form": form, "selected": person},
            status=400,
        )
    try:
        result = staff_offboard(actor=request.user, user=person, reason=form.cleaned_data["reason"])
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _(
                "%(person)s is offboarded: account disabled, sessions ended, access revoked in "
                "%(tenants)d tenant(s), %(clients)d OAuth client(s) revoked, %(marked)d shared "
                "credential(s) marked for rotation."
            )
            % {
                "person": person.email,
                "tenants": len(result.confirmations),
                "clients": result.oauth_clients_revoked,
                "marked": result.credentials_to_rotate,
            },
        )
    return redirect("staff_integrations:staff_offboarding")
