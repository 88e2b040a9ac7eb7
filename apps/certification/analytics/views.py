"""Portal pages of access analytics, mounted at /t/<tenant>/analytics/: the dashboard (open
alerts polled live, findings counters, recent access), alert triage, findings, role mining
and the tenant's thresholds. Admins and reviewers read; admins act. Every write is a service
call (audited there)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.certification.analytics import selectors, services
from apps.certification.analytics.forms import (
    AcceptForm,
    DismissForm,
    SettingsForm,
    TriageForm,
)
from apps.certification.analytics.models import FindingKind
from apps.core.exceptions import DomainError
from apps.tenants.permissions import (
    is_tenant_admin,
    tenant_admin_or_reviewer_required,
    tenant_admin_required,
)


def _render(
    request: HttpRequest, template: str, partial: str | None, context: dict[str, Any]
) -> HttpResponse:
    htmx = getattr(request, "htmx", None)
    is_partial = bool(partial and htmx and not htmx.boosted)
    name = f"{template}#{partial}" if is_partial else template
    context = {
        "tenant": request.tenant,  # type: ignore[attr-defined]
        "can_act": is_tenant_admin(request),
        "partial": is_partial,
        **context,
    }
    return render(request, name, context)


@require_GET
@vary_on_headers("HX-Request")
@tenant_admin_or_reviewer_required
def dashboard(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    status = request.GET.get("status", "open")
    return _render(
        request,
        "analytics/analytics_dashboard.html",
        "analytics-live",
        {
            "status": status,
            "alerts": selectors.alert_list(tenant=tenant, status=status),
            "alert_counts": selectors.alert_counts(tenant=tenant),
            "finding_counts": selectors.finding_counts(tenant=tenant),
            "finding_kinds": FindingKind.choices,
        },
    )


def _alert_or_404(request: HttpRequest, alert_id: int) -> Any:
    alert = selectors.alert_get(tenant=request.tenant, alert_id=alert_id)  # type: ignore[attr-defined]
    if alert is None:
        raise Http404
    return alert


@require_GET
@tenant_admin_or_reviewer_required
def alert_detail(request: HttpRequest, tenant_slug: str, alert_id: int) -> HttpResponse:
    alert = _alert_or_404(request, alert_id)
    return _render(
        request, "analytics/alert_detail.html", None, {"alert": alert, "form": TriageForm()}
    )


@require_POST
@tenant_admin_required
def alert_triage(request: HttpRequest, tenant_slug: str, alert_id: int) -> HttpResponse:
    alert = _alert_or_404(request, alert_id)
    form = TriageForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a triage action."))
        return redirect("analytics:alert_detail", tenant_slug=tenant_slug, alert_id=alert.pk)
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
    return redirect("analytics:alert_detail", tenant_slug=tenant_slug, alert_id=alert.pk)


@require_GET
@tenant_admin_or_reviewer_required
def findings(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    kind = request.GET.get("kind", "")
    return _render(
        request,
        "analytics/finding_list.html",
        None,
        {
            "kind": kind,
            "kinds": FindingKind.choices,
            "findings": selectors.finding_list(tenant=tenant, kind=kind),
            "finding_counts": selectors.finding_counts(tenant=tenant),
        },
    )


@require_POST
@tenant_admin_required
def findings_refresh(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    result = services.findings_refresh(tenant=request.tenant, actor=request.user)  # type: ignore[attr-defined]
    messages.success(
        request,
        _("Findings refreshed: %(open)d open, %(new)d new, %(resolved)d resolved.")
        % {"open": result.open, "new": result.new, "resolved": result.resolved},
    )
    return redirect("analytics:findings", tenant_slug=tenant_slug)


@require_GET
@tenant_admin_or_reviewer_required
def mining(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    run, candidates = selectors.mining_latest(tenant=request.tenant)  # type: ignore[attr-defined]
    return _render(request, "analytics/mining.html", None, {"run": run, "candidates": candidates})


@require_POST
@tenant_admin_required
def mining_run(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    try:
        run = services.role_mining_run(tenant=request.tenant, actor=request.user)  # type: ignore[attr-defined]
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Role mining looked at %(people)d people and %(grants)d grants.")
            % {"people": run.users, "grants": run.grants},
        )
    return redirect("analytics:mining", tenant_slug=tenant_slug)


def _candidate_or_404(request: HttpRequest, candidate_id: int) -> Any:
    candidate = selectors.candidate_get(tenant=request.tenant, candidate_id=candidate_id)  # type: ignore[attr-defined]
    if candidate is None:
        raise Http404
    return candidate


def _candidate_page(
    request: HttpRequest, candidate: Any, form: AcceptForm | None = None
) -> HttpResponse:
    initial = {"key": f"mined-{candidate.pk}", "name": _("Mined role %(n)d") % {"n": candidate.pk}}
    return _render(
        request,
        "analytics/candidate_detail.html",
        None,
        {
            "candidate": candidate,
            "entitlements": selectors.candidate_entitlements(candidate=candidate),
            "is_open": selectors.candidate_is_open(candidate),
            "form": form or AcceptForm(initial=initial),
            "dismiss_form": DismissForm(),
        },
    )


@require_GET
@tenant_admin_or_reviewer_required
def candidate_detail(request: HttpRequest, tenant_slug: str, candidate_id: int) -> HttpResponse:
    return _candidate_page(request, _candidate_or_404(request, candidate_id))


@require_POST
@tenant_admin_required
def candidate_accept(request: HttpRequest, tenant_slug: str, candidate_id: int) -> HttpResponse:
    candidate = _candidate_or_404(request, candidate_id)
    form = AcceptForm(request.POST)
    if not form.is_valid():
        return _candidate_page(request, candidate, form)
    try:
        result = services.role_candidate_accept(
            actor=request.user,
            candidate=candidate,
            key=form.cleaned_data["key"],
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
        )
    except DomainError as exc:
        form.add_error(None, exc.message)
        response = _candidate_page(request, candidate, form)
        response.status_code = exc.status_code
        return response
    messages.success(
        request,
        _(
            "Role %(role)s: %(people)d people now hold it; %(revoked)d direct grants were "
            "revoked; %(refused)d refused."
        )
        % {
            "role": result.role.name,
            "people": result.people,
            "revoked": result.grants_revoked,
            "refused": len(result.refused),
        },
    )
    return redirect(
        "analytics:candidate_detail", tenant_slug=tenant_slug, candidate_id=candidate.pk
    )


@require_POST
@tenant_admin_required
def candidate_dismiss(request: HttpRequest, tenant_slug: str, candidate_id: int) -> HttpResponse:
    candidate = _candidate_or_404(request, candidate_id)
    form = DismissForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.role_candidate_dismiss(actor=request.user, candidate=candidate, reason=reason)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The candidate was dismissed."))
    return redirect("analytics:mining", tenant_slug=tenant_slug)


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def analytics_settings(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    current = services.settings_for(tenant)
    form = SettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        try:
            services.analytics_settings_save(
                actor=request.user, tenant=tenant, values=form.cleaned_data
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The analytics settings were saved."))
            return redirect("analytics:settings", tenant_slug=tenant_slug)
    status = 400 if request.method == "POST" else 200
    response = _render(request, "analytics/settings.html", None, {"form": form})
    response.status_code = status
    return response


@require_GET
@tenant_admin_or_reviewer_required
def events(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return _render(
        request,
        "analytics/event_list.html",
        None,
        {"events": selectors.event_list(tenant=request.tenant, limit=100)},  # type: ignore[attr-defined]
    )
