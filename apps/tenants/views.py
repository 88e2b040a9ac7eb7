"""Customer portal pages of a tenant (tenant context is set by TenantMiddleware)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from apps.tenants import selectors
from apps.tenants.permissions import tenant_admin_required, tenant_member_required


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each persona to its start page."""
    user = request.user
    if user.is_vendor_staff:  # type: ignore[union-attr]
        return redirect("staff:home")
    memberships = selectors.membership_list_for_user(user=user)
    if len(memberships) == 1:
        return redirect("tenants:dashboard", tenant_slug=memberships[0].tenant.slug)
    return render(request, "tenants/tenant_choose.html", {"memberships": memberships})


@require_GET
@tenant_member_required
def dashboard(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    context = {
        "tenant": tenant,
        "counts": selectors.tenant_dashboard_counts(tenant=tenant),
        "recent_events": selectors.tenant_recent_audit_events(tenant=tenant, limit=8)
        if request.membership.is_admin  # type: ignore[attr-defined]
        else [],
    }
    return render(request, "tenants/tenant_dashboard.html", context)


@require_GET
@tenant_member_required
def environment_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    return render(
        request,
        "tenants/environment_list.html",
        {"tenant": tenant, "environments": selectors.environment_list(tenant=tenant)},
    )


@require_GET
@tenant_admin_required
def membership_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    return render(
        request,
        "tenants/membership_list.html",
        {"tenant": tenant, "memberships": selectors.membership_list(tenant=tenant)},
    )
