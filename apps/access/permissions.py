"""Who may manage compliance attestations in a tenant: its customer (and delegated) admins,
and vendor compliance officers who are members of the tenant. Views and the navigation use
the same predicate; the tenant middleware has already sent non-members a 404."""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from apps.identity.models import StaffRole
from apps.tenants.models import ADMIN_ROLES
from apps.tenants.permissions import ViewFunc, tenant_member_required


def can_manage_attestations(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    if membership is None:
        return False
    if membership.role in ADMIN_ROLES:
        return True
    user = request.user
    return bool(
        getattr(user, "is_vendor_staff", False)
        and getattr(user, "staff_role", "") == StaffRole.COMPLIANCE
    )


def attestation_manager_required(view: ViewFunc) -> ViewFunc:
    @tenant_member_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_manage_attestations(request):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
