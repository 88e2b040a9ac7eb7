"""Audit log pages: a customer admin sees (and downloads, verifiably) their tenant's chain;
security and compliance staff search every chain (an explicit, audited crossing of tenants)."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.core.audit.export import audit_export_lines
from apps.core.audit.selectors import AuditFilter, audit_event_page
from apps.core.audit.services import audit_event_record
from apps.core.tenancy import unscoped
from apps.tenants.permissions import tenant_admin_required

TEMPLATE = "core/audit_log.html"


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _parse_filter(request: HttpRequest, *, allow_tenant: bool) -> AuditFilter:
    get = request.GET
    return AuditFilter(
        q=get.get("q", "").strip()[:200],
        action=get.get("action", "").strip()[:80],
        outcome=get.get("outcome", "") if get.get("outcome") in {"success", "failure"} else "",
        tenant_slug=get.get("tenant", "").strip()[:50] if allow_tenant else "",
        since=_parse_date(get.get("since")),
        until=_parse_date(get.get("until")),
    )


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("page", "1")), 10_000))
    except ValueError:
        return 1


def _cursor(request: HttpRequest) -> str:
    return request.GET.get("after", "")[:40]


def _wants_results_only(request: HttpRequest) -> bool:
    """HTMX filtering and paging swap the results region; a boosted navigation or a history
    restore (back button after the cache expired) needs the whole page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request  # type: ignore[union-attr]


def _render(request: HttpRequest, context: dict[str, object]) -> HttpResponse:
    template = TEMPLATE + "#audit-results" if _wants_results_only(request) else TEMPLATE
    return render(request, template, context)


@require_GET
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
@tenant_admin_required
def audit_log_tenant(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    filters = _parse_filter(request, allow_tenant=False)
    page = audit_event_page(filters=filters, page=_page_number(request), after=_cursor(request))
    return _render(
        request,
        {"page": page, "filters": filters, "tenant": request.tenant, "cross_tenant": False},  # type: ignore[attr-defined]
    )


@require_GET
@tenant_admin_required  # type: ignore[arg-type]  # a streaming response
def audit_export_tenant(request: HttpRequest, tenant_slug: str) -> HttpResponseBase:
    """The tenant's own chain, with the latest signed checkpoint and its inclusion proof, as
    JSON lines for docs/verify_tenant_audit.py."""
    tenant = request.tenant  # type: ignore[attr-defined]
    audit_event_record(
        action="audit.exported",
        actor=request.user,
        target=tenant,
        details={"format": "jsonl"},
    )
    response = StreamingHttpResponse(
        audit_export_lines(tenant=tenant), content_type="application/x-ndjson; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = (
        f'attachment; filename="custos-audit-{tenant.slug}-{stamp}.jsonl"'
    )
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
@login_required
def audit_log_staff(request: HttpRequest) -> HttpResponse:
    if not request.user.has_oversight:  # type: ignore[union-attr]
        raise PermissionDenied
    filters = _parse_filter(request, allow_tenant=True)
    page_number = _page_number(request)
    with unscoped(reason="compliance audit search across tenants"):
        page = audit_event_page(filters=filters, page=page_number, after=_cursor(request))
    # Every cross-tenant read is itself on the record (also each HTMX filter and page turn).
    audit_event_record(
        action="audit.searched",
        actor=request.user,
        use_current_tenant=False,
        details={
            "filters": {k: str(v) for k, v in filters.__dict__.items() if v},
            "page": page_number,
            "results": len(page.events),
        },
    )
    return _render(request, {"page": page, "filters": filters, "cross_tenant": True})
