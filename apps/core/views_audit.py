"""Audit log pages: a customer admin sees their tenant's chain; security and compliance staff
search every chain (an explicit, audited crossing of tenants)."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.core.audit.selectors import AuditFilter, audit_event_page
from apps.core.audit.services import audit_event_record
from apps.core.tenancy import unscoped
from apps.tenants.permissions import tenant_admin_required


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _parse_filter(request: HttpRequest, *, allow_tenant: bool) -> AuditFilter:
    get = request.GET
    return AuditFilter(
        q=get.get("q", "")[:200],
        action=get.get("action", "")[:80],
        outcome=get.get("outcome", "") if get.get("outcome") in {"success", "failure"} else "",
        tenant_slug=get.get("tenant", "")[:50] if allow_tenant else "",
        since=_parse_date(get.get("since")),
        until=_parse_date(get.get("until")),
    )


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("page", "1")), 10_000))
    except ValueError:
        return 1


def _render(request: HttpRequest, context: dict[str, object]) -> HttpResponse:
    template = "core/audit_log.html"
    if getattr(request, "htmx", False) and not request.htmx.boosted:  # type: ignore[attr-defined]
        template += "#audit-results"
    return render(request, template, context)


@require_GET
@vary_on_headers("HX-Request")
@tenant_admin_required
def audit_log_tenant(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    filters = _parse_filter(request, allow_tenant=False)
    page = audit_event_page(filters=filters, page=_page_number(request))
    return _render(
        request,
        {"page": page, "filters": filters, "tenant": request.tenant, "cross_tenant": False},  # type: ignore[attr-defined]
    )


@require_GET
@vary_on_headers("HX-Request")
@login_required
def audit_log_staff(request: HttpRequest) -> HttpResponse:
    if not request.user.has_oversight:  # type: ignore[union-attr]
        raise PermissionDenied
    filters = _parse_filter(request, allow_tenant=True)
    with unscoped(reason="compliance audit search across tenants"):
        page = audit_event_page(filters=filters, page=_page_number(request))
    if not getattr(request, "htmx", False):
        audit_event_record(
            action="audit.searched",
            actor=request.user,
            use_current_tenant=False,
            details={"filters": {k: str(v) for k, v in filters.__dict__.items() if v}},
        )
    return _render(request, {"page": page, "filters": filters, "cross_tenant": True})
