"""Staff console pages of reports (vendor staff with oversight: security, compliance): request
a report for one tenant or for all tenants, follow its progress, download it (audited)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from apps.core.exceptions import DomainError
from apps.reports import selectors, services
from apps.reports.forms import StaffReportRequestForm
from apps.reports.models import ReportScope
from apps.reports.views import _file_response, _gone
from apps.tenants.models import Tenant

ViewFunc = Any


def oversight_required(view: ViewFunc) -> ViewFunc:
    from functools import wraps

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(request.user, "has_oversight", False):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _tenants() -> list[tuple[str, str]]:
    return [(str(t.pk), f"{t.name} ({t.slug})") for t in Tenant.objects.order_by("name")[:1000]]


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@oversight_required
def staff_report_list(request: HttpRequest) -> HttpResponse:
    form = StaffReportRequestForm(request.POST or None, tenants=_tenants())
    if request.method == "POST" and form.is_valid():
        tenant_id = form.cleaned_data.get("tenant")
        tenant = Tenant.objects.filter(pk=int(tenant_id)).first() if tenant_id else None
        user: Any = request.user
        try:
            job = services.report_job_request(
                actor=user,
                tenant=tenant,
                kind=form.cleaned_data["kind"],
                file_format=form.cleaned_data["file_format"],
                scope=ReportScope.TENANT if tenant else ReportScope.PLATFORM,
                parameters=form.parameters(),
                language=getattr(request, "LANGUAGE_CODE", "") or user.language or "en",
                time_zone=user.time_zone or "UTC",
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The report is being generated."))
            return redirect("staff_reports:report_detail", report_job_id=job.pk)
    jobs = selectors.platform_job_list()
    context = {"form": form, "jobs": jobs, "polling": any(j.is_open for j in jobs)}
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted and request.method == "GET":
        response = render(request, "reports/staff_report_list.html#report-rows", context)
        if not context["polling"]:
            response.status_code = 286
        return response
    status = 400 if request.method == "POST" else 200
    return render(request, "reports/staff_report_list.html", context, status=status)


@require_GET
@vary_on_headers("HX-Request")
@oversight_required
def staff_report_detail(request: HttpRequest, report_job_id: int) -> HttpResponse:
    job = selectors.platform_job_get(job_id=report_job_id)
    if job is None:
        raise Http404(_("No such report."))
    context = {"job": job, "staff": True}
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted:
        response = render(request, "reports/report_detail.html#report-progress", context)
        if not job.is_open:
            response.status_code = 286
        return response
    return render(request, "reports/report_detail.html", context)


@require_GET
@oversight_required
def staff_report_download(request: HttpRequest, report_job_id: int) -> HttpResponse:
    job = selectors.platform_job_get(job_id=report_job_id)
    if job is None:
        raise Http404(_("No such report."))
    full = selectors.report_job_content(tenant=job.tenant, job_id=job.pk)
    if full is not None and full.purged_at is not None:
        return _gone(request, {"job": job, "staff": True})
    if full is None or full.content is None:
        raise Http404(_("No such report."))
    services.report_download_record(actor=request.user, job=full)
    return _file_response(full)
