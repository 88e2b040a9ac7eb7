"""Reads of the access model with business meaning (the agreed interface). Querysets come with
their relations loaded, so pages built on them have a constant number of queries. The explain
pages (apps/access/selectors_explain.py) build on the same rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.access.models import Grant
from apps.core.tenancy import unscoped

_RELATED = ("tenant", "user", "service_account", "api_key", "entitlement__environment", "role")


def _active(qs: QuerySet[Grant], at: datetime) -> QuerySet[Grant]:
    return qs.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=at),
        revoked_at__isnull=True,
        suspended_at__isnull=True,
        starts_at__lte=at,
    )


def active_grants_for_user(
    user: Any, *, tenant: Any = None, at: datetime | None = None
) -> QuerySet[Grant]:
    """The user's active grants: in `tenant`, or (tenant None) in the current tenant scope."""
    at = at or timezone.now()
    qs = Grant.objects.for_tenant(tenant) if tenant is not None else Grant.objects.all()
    return _active(qs.filter(user=user), at).select_related(*_RELATED).order_by("-starts_at")


def who_can_access(environment: Any, *, at: datetime | None = None) -> QuerySet[Grant]:
    """Active grants that reach `environment`, directly or through a role."""
    at = at or timezone.now()
    qs = Grant.objects.for_tenant(environment.tenant_id).filter(
        Q(entitlement__environment=environment) | Q(role__entitlements__environment=environment)
    )
    return _active(qs, at).select_related(*_RELATED).distinct().order_by("-starts_at")


def what_can_user_access(user: Any, *, at: datetime | None = None) -> list[Grant]:
    """Every active grant of `user` in every tenant (vendor staff: the context-switching view).
    Crosses tenants on purpose; callers that show it to a person audit the view."""
    at = at or timezone.now()
    # cross-tenant: one person's access across all customer tenants, for oversight pages
    with unscoped(reason="what can this user access, across tenants"):
        return list(
            _active(Grant.objects.filter(user=user), at)
            .select_related(*_RELATED)
            .order_by("tenant__name", "-starts_at")
        )


def vendor_grants_in_tenant(tenant: Any, *, at: datetime | None = None) -> QuerySet[Grant]:
    """Vendor-staff grants into `tenant` that are active or scheduled (who, why, until when) —
    the customer admin's view; nothing about the vendor's internal organisation."""
    at = at or timezone.now()
    return (
        Grant.objects.for_tenant(tenant)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at), user__kind="staff")
        .filter(revoked_at__isnull=True)
        .select_related(*_RELATED)
        .order_by("expires_at")
    )
