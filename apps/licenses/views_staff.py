"""Staff console: pools over their cap, provisioning queues and review queues of every tenant
(vendor staff with oversight; an explicit, read-only crossing)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.licenses import selectors


@require_GET
@login_required
def overview(request: HttpRequest) -> HttpResponse:
    if not getattr(request.user, "has_oversight", False):
        raise PermissionDenied
    return render(request, "licenses/staff_overview.html", selectors.staff_overview())
