"""Portal pages of reports, mounted at /t/<tenant>/reports/: the list (with schedules), a new
report, its progress (HTMX polling until done), the download (audited), and the portfolio
pages of a parent tenant (its subsidiaries consolidated; a subsidiary sees only itself).

Everything runs in the tenant scope set by TenantMiddleware; a job, schedule or subsidiary
outside it is not found (404)."""

from __future__ import annotations

from itertools import islice
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import DomainError
from apps.core.tenancy import unscoped
from apps.reports import selectors, services
from apps.reports.forms import ReportRequestForm, ReportScheduleForm
from apps.reports.kinds import BuildContext
from apps.reports.kinds.lazy import campaign_choices
from apps.reports.models import ReportScope
from apps.tenants.permissions import tenant_role_required

report_role_required = tenant_role_required(*services.REPORT_ROLES)
PORTFOLIO_PREVIEW_ROWS = 200


def _scope_choices(tenant: Any) -> list[tuple[str, Any]]:
    choices: list[tuple[str, Any]] = [(ReportScope.TENANT, ReportScope.TENANT.label)]
    if selectors.has_portfolio(tenant):
        choices.append((ReportScope.PORTFOLIO, ReportScope.PORTFOLIO.label))
    return choices


def _reader(request: HttpRequest, tenant: Any) -> tuple[str, str]:
    user: Any = request.user
    language = getattr(request, "LANGUAGE_CODE", "") or getattr(user, "language", "") or "en"
    time_zone = getattr(user, "time_zone", "") or tenant.time_zone or "UTC"
    return language, time_zone


def _job_or_404(request: HttpRequest, job_id: int) -> Any:
    job = selectors.report_job_get(tenant=request.tenant, job_id=job_id)  # type: ignore[attr-defined]
    if job is None:
        raise Http404(_("No such report."))
    return job


@require_GET
@vary_on_headers("HX-Request")
@report_role_required
def report_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    jobs = selectors.report_job_list(tenant=tenant)
    polling = any(j.is_open for j in jobs)
    context = {
        "tenant": tenant,
        "jobs": jobs,
        "polling": polling,
        "schedules": list(selectors.report_schedule_list(tenant=tenant)),
        "schedule_form": ReportScheduleForm(scope_choices=_scope_choices(tenant)),
        "has_portfolio": selectors.has_portfolio(tenant),
    }
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted:
        response = render(request, "reports/report_list.html#report-rows", context)
        if not polling:
            response.status_code = 286  # HTMX: stop polling, nothing is running
        return response
    return render(request, "reports/report_list.html", context)


@require_http_methods(["GET", "POST"])
@report_role_required
def report_new(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    ctx = BuildContext(
        tenant=tenant, tenants=[tenant], scope="tenant", parameters={}, time_zone="UTC"
    )
    form_kwargs: dict[str, Any] = {
        "scope_choices": _scope_choices(tenant),
        "campaigns": campaign_choices(ctx),
    }
    form = ReportRequestForm(request.POST or None, **form_kwargs)
    if request.method == "POST" and form.is_valid():
        language, time_zone = _reader(request, tenant)
        try:
            job = services.report_job_request(
                actor=request.user,
                tenant=tenant,
                kind=form.cleaned_data["kind"],
                file_format=form.cleaned_data["file_format"],
                scope=form.cleaned_data["scope"],
                parameters=form.parameters(),
                language=language,
                time_zone=time_zone,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The report is being generated."))
            return redirect("reports:report_detail", tenant_slug=tenant.slug, report_job_id=job.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "reports/report_new.html", {"tenant": tenant, "form": form}, status=status
    )


@require_GET
@vary_on_headers("HX-Request")
@report_role_required
def report_detail(request: HttpRequest, tenant_slug: str, report_job_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    job = _job_or_404(request, report_job_id)
    context = {"tenant": tenant, "job": job}
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted:
        response = render(request, "reports/report_detail.html#report-progress", context)
        if not job.is_open:
            response.status_code = 286  # HTMX: stop polling, the report is ready (or failed)
        return response
    return render(request, "reports/report_detail.html", context)


@require_GET
@report_role_required
def report_download(request: HttpRequest, tenant_slug: str, report_job_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    job = selectors.report_job_content(tenant=tenant, job_id=report_job_id)
    if job is not None and job.purged_at is not None:
        return _gone(request, {"tenant": tenant, "job": job})
    if job is None or job.content is None:
        raise Http404(_("No such report."))
    services.report_download_record(actor=request.user, job=job)
    return _file_response(job)


def _gone(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    """410: the report exists but its file was deleted under the retention policy (the page
    says so and how to get a current one)."""
    return render(request, "reports/report_detail.html", context, status=410)


def _file_response(job: Any) -> HttpResponse:
    content_type = "application/pdf" if job.file_format == "pdf" else "text/csv; charset=utf-8"
    response = HttpResponse(bytes(job.content), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{job.filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
@report_role_required
def report_schedule_create(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    form = ReportScheduleForm(request.POST, scope_choices=_scope_choices(tenant))
    if form.is_valid():
        language, _tz = _reader(request, tenant)
        try:
            services.report_schedule_create(
                actor=request.user,
                tenant=tenant,
                kind=form.cleaned_data["kind"],
                frequency=form.cleaned_data["frequency"],
                file_format=form.cleaned_data["file_format"],
                scope=form.cleaned_data["scope"],
                language=language,
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The report is scheduled."))
    else:
        messages.error(request, _("Check the schedule's fields."))
    return redirect("reports:report_list", tenant_slug=tenant.slug)


@require_POST
@report_role_required
def report_schedule_cancel(
    request: HttpRequest, tenant_slug: str, report_schedule_id: int
) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    if selectors.report_schedule_get(tenant=tenant, schedule_id=report_schedule_id) is None:
        raise Http404(_("No such schedule."))
    try:
        services.report_schedule_cancel(
            actor=request.user, tenant=tenant, schedule_id=report_schedule_id
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The schedule is cancelled."))
    return redirect("reports:report_list", tenant_slug=tenant.slug)


# --- portfolio (a parent tenant and its subsidiaries) -----------------------------------------


@require_GET
@report_role_required
def portfolio_overview(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    if not selectors.has_portfolio(tenant):
        raise Http404(_("This tenant has no subsidiaries."))
    lines = selectors.portfolio_overview(tenant=tenant)
    audit_event_record(
        action="report.portfolio_viewed",
        actor=request.user,
        target=tenant,
        details={"tenants": [line.tenant.slug for line in lines]},
    )
    return render(
        request,
        "reports/portfolio_overview.html",
        {"tenant": tenant, "lines": lines, "totals": _totals(lines)},
    )


def _totals(lines: list[selectors.PortfolioLine]) -> dict[str, int]:
    return {
        "members": sum(line.members for line in lines),
        "current_grants": sum(line.current_grants for line in lines),
        "vendor_grants": sum(line.vendor_grants for line in lines),
        "high_risk_grants": sum(line.high_risk_grants for line in lines),
    }


@require_GET
@report_role_required
def portfolio_subsidiary(
    request: HttpRequest, tenant_slug: str, subsidiary_id: int
) -> HttpResponse:
    """A subsidiary's current access, seen from its parent. Only descendants of the tenant in
    the URL are found: a subsidiary asking for its sibling (or its parent) gets 404."""
    from apps.access import selectors_explain as sel

    tenant = request.tenant  # type: ignore[attr-defined]
    subsidiary = selectors.subsidiary_get(tenant=tenant, subsidiary_id=subsidiary_id)
    if subsidiary is None:
        raise Http404(_("No such subsidiary."))
    with unscoped(reason=f"portfolio: {tenant.slug} reads its subsidiary {subsidiary.slug}"):
        rows = list(
            islice(
                sel.inventory_rows(tenant=subsidiary, state="current"), PORTFOLIO_PREVIEW_ROWS + 1
            )
        )
    audit_event_record(
        action="report.portfolio_viewed",
        actor=request.user,
        target=subsidiary,
        details={"subsidiary": subsidiary.slug},
    )
    return render(
        request,
        "reports/portfolio_subsidiary.html",
        {
            "tenant": tenant,
            "subsidiary": subsidiary,
            "rows": rows[:PORTFOLIO_PREVIEW_ROWS],
            "truncated": len(rows) > PORTFOLIO_PREVIEW_ROWS,
        },
    )
