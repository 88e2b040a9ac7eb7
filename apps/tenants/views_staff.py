"""Staff console (vendor staff): the tenants they serve, at a glance."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.tenants import selectors


@require_GET
@login_required
def staff_home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_vendor_staff:  # type: ignore[union-attr]
        raise PermissionDenied
    return render(
        request,
        "tenants/staff_home.html",
        {"tenant_summary": selectors.tenant_status_summary()},
    )
