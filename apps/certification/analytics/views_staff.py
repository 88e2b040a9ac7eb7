"""Staff compliance dashboard across tenants (vendor staff with oversight: security and
compliance): open alerts of every tenant polled live, counters per tenant, triage."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.certification.analytics import selectors, services
from apps.certification.analytics.forms import TriageForm
from apps.core.exceptions import DomainError


def _require_oversight(request: HttpRequest) -> None:
    if not getattr(request.user, "has_oversight", False):
        raise PermissionDenied


@require_GET
@vary_on_headers("HX-Request")
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    _require_oversight(request)
    status = request.GET.get("status", "open")
    htmx = getattr(request, "htmx", None)
    template = "analytics/staff_dashboard.html"
    if htmx and not htmx.boosted:
        template += "#staff-analytics-live"
    context: dict[str, Any] = {
        "status": status,
        "alerts": selectors.staff_alerts(status=status),
        "tenants": selectors.staff_tenant_rows(),
    }
    return render(request, template, context)


def _alert_or_404(alert_id: int) -> Any:
    alert = selectors.staff_alert_get(alert_id=alert_id)
    if alert is None:
        raise Http404
    return alert


@require_GET
@login_required
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    _require_oversight(request)
    alert = _alert_or_404(alert_id)
    return render(
        request,
        "analytics/staff_alert_detail.html",
        {"alert": alert, "form": TriageForm()},
    )


@require_POST
@login_required
def alert_triage(request: HttpRequest, alert_id: int) -> HttpResponse:
    _require_oversight(request)
    alert = _alert_or_404(alert_id)
    form = TriageForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a triage action."))
        return redirect("staff_analytics:alert_detail", alert_id=alert.pk)
    try:
        services.alert_triage(
            actor=request.user,
            alert=alert,
            action=form.cleaned_data["action"],
            note=form.cleaned_data["note"],
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The alert is now: %(s)s.") % {"s": alert.get_status_display()})
    return redirect("staff_analytics:alert_detail", alert_id=alert.pk)
