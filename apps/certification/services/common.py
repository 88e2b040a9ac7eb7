"""Shared by the certification services: who may run campaigns, who may review, the last-admin
rule, and the access-service calls that differ while the bulk interface lands."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.access.models import Entitlement, Grant, PermissionLevel, RoleEntitlement
from apps.access.services.common import scope_for
from apps.certification.exceptions import NotAllowed
from apps.identity.models import StaffRole
from apps.tenants.models import ADMIN_ROLES, Membership, TenantRole

# Vendor staff who may create, close and sign off campaigns in any tenant.
MANAGING_STAFF_ROLES = frozenset(
    {StaffRole.INTERNAL_REVIEWER, StaffRole.COMPLIANCE, StaffRole.SECURITY}
)

__all__ = ["scope_for"]


def is_managing_staff(actor: Any) -> bool:
    return bool(
        getattr(actor, "is_vendor_staff", False)
        and getattr(actor, "staff_role", "") in MANAGING_STAFF_ROLES
    )


def can_manage(*, actor: Any, tenant: Any) -> bool:
    """Customer admins of the tenant and the vendor's reviewers/compliance/security staff."""
    if actor is None:  # the sweeper
        return True
    if not getattr(actor, "is_active", False):
        return False
    if is_managing_staff(actor):
        return True
    with scope_for(tenant):
        return (
            Membership.objects.for_tenant(tenant)
            .filter(user=actor, is_active=True, role__in=ADMIN_ROLES)
            .exists()
        )


def require_manage(*, actor: Any, tenant: Any) -> None:
    if not can_manage(actor=actor, tenant=tenant):
        raise NotAllowed(_("Only the tenant's admins and the vendor's reviewers can do this."))


def eligible_reviewer(*, user: Any, tenant: Any) -> bool:
    """A reviewer is an active member of the tenant or active vendor staff."""
    if user is None or not getattr(user, "is_active", False):
        return False
    if getattr(user, "is_vendor_staff", False):
        return True
    with scope_for(tenant):
        return Membership.objects.for_tenant(tenant).filter(user=user, is_active=True).exists()


def _active_q(now: Any) -> Q:
    return Q(revoked_at__isnull=True, suspended_at__isnull=True, starts_at__lte=now) & (
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def admin_grants(*, tenant: Any) -> list[tuple[int, int]]:
    """(grant id, user id) of the admin-level access held by the tenant's customer admins.

    The tenant's admins are its active `customer_admin` members (apps.tenants: a tenant must
    keep one); they administer it through grants of admin-level entitlements (directly or in
    a role). Revoking the last of these would leave the tenant without a working admin."""
    now = timezone.now()
    with scope_for(tenant):
        admins = Membership.objects.for_tenant(tenant).filter(
            role=TenantRole.CUSTOMER_ADMIN, is_active=True, user__is_active=True
        )
        admin_ents = Entitlement.objects.for_tenant(tenant).filter(level=PermissionLevel.ADMIN)
        admin_roles = RoleEntitlement.objects.for_tenant(tenant).filter(
            entitlement__level=PermissionLevel.ADMIN
        )
        rows = (
            Grant.objects.for_tenant(tenant)
            .filter(_active_q(now), user_id__in=admins.values("user_id"))
            .filter(
                Q(entitlement_id__in=admin_ents.values("pk"))
                | Q(role_id__in=admin_roles.values("role_id"))
            )
            .values_list("pk", "user_id")
        )
        return [(int(g), int(u)) for g, u in rows]


def last_admin_conflicts(*, tenant: Any, grant_ids: Iterable[int]) -> set[int]:
    """The grants among `grant_ids` that must stay so the tenant keeps an admin (empty when
    removing them all leaves at least one customer admin with admin-level access)."""
    removing = set(grant_ids)
    if not removing:
        return set()
    rows = admin_grants(tenant=tenant)
    if not rows:
        return set()
    remaining = {user for grant, user in rows if grant not in removing}
    if remaining:
        return set()
    return {grant for grant, _user in rows if grant in removing}


def grants_revoke(*, actor: Any, tenant: Any, grant_ids: list[int], reason: str) -> list[int]:
    """Revoke in one set-based call when apps.access has it (grants_revoke_bulk), one by one
    through grant_revoke otherwise. Returns the ids actually revoked."""
    if not grant_ids:
        return []
    from apps.access import services as access_services

    bulk = getattr(access_services, "grants_revoke_bulk", None)
    if bulk is not None:
        return list(bulk(actor=actor, tenant=tenant, grant_ids=grant_ids, reason=reason))
    revoked = []
    with scope_for(tenant):
        for grant in Grant.objects.for_tenant(tenant).filter(
            pk__in=grant_ids, revoked_at__isnull=True
        ):
            access_services.grant_revoke(actor=actor, grant=grant, reason=reason)
            revoked.append(grant.pk)
    return revoked


def audit_bulk(*, tenant: Any, events: list[dict[str, Any]]) -> None:
    """Many events in one append when apps.core has it, else one by one."""
    if not events:
        return
    from apps.core.audit import services as audit_services

    bulk = getattr(audit_services, "audit_events_record_bulk", None)
    if bulk is not None:
        bulk(tenant=tenant, events=events)
        return
    for event in events:
        audit_services.audit_event_record(tenant=tenant, **event)
