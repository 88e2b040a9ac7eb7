"""Staff console (vendor staff): the tenants they serve, at a glance."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

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


# --- access teams of strategic customers (issue 6) --------------------------------------------


def _oversight(request: HttpRequest) -> None:
    user = request.user
    if not (getattr(user, "has_oversight", False) or getattr(user, "is_superuser", False)):
        raise PermissionDenied


@require_GET
@login_required
def access_team_list(request: HttpRequest) -> HttpResponse:
    """Strategic customers and the size of their access teams."""
    from apps.tenants.models import Tenant, Tier

    _oversight(request)
    tenants = [
        t
        for t in Tenant.objects.filter(tier__in=(Tier.STRATEGIC, Tier.ENTERPRISE)).order_by("name")[
            :500
        ]
        if selectors.tenant_is_strategic(t)
    ]
    teams = [(t, selectors.access_team_for(t)) for t in tenants]
    return render(request, "tenants/access_team_list.html", {"teams": teams})


@require_http_methods(["GET", "POST"])
@login_required
def access_team(request: HttpRequest, tenant_id: int) -> HttpResponse:
    from django.contrib import messages
    from django.http import Http404
    from django.shortcuts import redirect

    from apps.core.exceptions import DomainError
    from apps.identity.models import User, UserKind
    from apps.tenants import services
    from apps.tenants.models import AccessTeamRole, Tenant

    _oversight(request)
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        raise Http404
    if request.method == "POST":
        try:
            if request.POST.get("remove"):
                services.access_team_member_remove(
                    actor=request.user, tenant=tenant, member_id=int(request.POST["remove"])
                )
            else:
                user = User.objects.filter(
                    kind=UserKind.STAFF, email__iexact=request.POST.get("email", "").strip()
                ).first()
                if user is None:
                    raise DomainError(_("No vendor employee with this email address."))
                services.access_team_member_add(
                    actor=request.user, tenant=tenant, user=user, role=request.POST.get("role", "")
                )
        except (DomainError, ValueError) as exc:
            messages.error(request, getattr(exc, "message", str(exc)))
        else:
            messages.success(request, _("The access team is updated."))
        return redirect("staff:access_team", tenant_id=tenant.pk)
    return render(
        request,
        "tenants/access_team.html",
        {
            "tenant": tenant,
            "team": selectors.access_team_for(tenant),
            "members": selectors.access_team_members(tenant=tenant),
            "roles": AccessTeamRole.choices,
            "strategic": selectors.tenant_is_strategic(tenant),
        },
    )
