"""Who may do what inside a tenant. Views use these decorators; services check again."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from apps.tenants.models import ADMIN_ROLES, TenantRole

ViewFunc = Callable[..., HttpResponse]


def tenant_member_required(view: ViewFunc) -> ViewFunc:
    """The tenant middleware already returned 404 to non-members; this makes the view refuse
    to run outside a tenant URL at all."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "membership", None) is None:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def tenant_role_required(*roles: str) -> Callable[[ViewFunc], ViewFunc]:
    allowed = frozenset(roles)

    def decorator(view: ViewFunc) -> ViewFunc:
        @tenant_member_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.membership.role not in allowed:  # type: ignore[attr-defined]
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


tenant_admin_required = tenant_role_required(*ADMIN_ROLES)
tenant_admin_or_reviewer_required = tenant_role_required(
    *ADMIN_ROLES, TenantRole.REVIEWER, TenantRole.APPROVER
)


def is_tenant_admin(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and membership.role in ADMIN_ROLES
