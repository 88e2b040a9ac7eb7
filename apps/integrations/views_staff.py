"""Staff console: key status (envelope encryption), deprecated API calls per client, security
alerts. Security and compliance staff only (`User.has_oversight`)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.core.crypto.status import key_status as key_status_read
from apps.integrations import selectors


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
