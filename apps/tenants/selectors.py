"""Reads about tenants and memberships."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from apps.core.tenancy import tenant_context, unscoped
from apps.tenants.models import ADMIN_ROLES, Environment, Membership, Tenant, TenantStatus


@dataclass(frozen=True)
class TenantAccess:
    tenant: Tenant
    membership: Membership | None


def tenant_get_by_slug(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Http404(_("No such tenant."))
    return tenant


def tenant_access_for_request(*, user: Any, slug: str) -> TenantAccess:
    """May `user` enter tenant `slug`? 404 for strangers (they learn nothing), 403 when the
    tenant exists for them but is closed (suspended or terminated)."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Http404(_("No such tenant."))
    membership = None
    if user.is_authenticated:
        with tenant_context(tenant):
            membership = Membership.objects.filter(user=user, is_active=True).first()
    if membership is None:
        raise Http404(_("No such tenant."))
    if tenant.status in (TenantStatus.SUSPENDED, TenantStatus.TERMINATED):
        raise PermissionDenied(
            _("This tenant is %(status)s; its portal is closed.")
            % {"status": tenant.get_status_display().lower()}
        )
    return TenantAccess(tenant=tenant, membership=membership)


def membership_list_for_user(*, user: Any) -> list[Membership]:
    """The tenants a person belongs to (for the tenant switcher)."""
    if not user.is_authenticated:
        return []
    with unscoped(reason="tenant switcher: a user's own memberships"):
        return list(
            Membership.objects.filter(user=user, is_active=True)
            .select_related("tenant")
            .order_by("tenant__name")
        )


def user_is_admin_anywhere(*, user: Any) -> bool:
    with unscoped(reason="MFA policy: is the user a customer admin in any tenant"):
        return Membership.objects.filter(user=user, is_active=True, role__in=ADMIN_ROLES).exists()


def environment_list(*, tenant: Tenant) -> QuerySet[Environment]:
    return Environment.objects.for_tenant(tenant).select_related("owner").order_by("name")


def membership_list(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.for_tenant(tenant).select_related("user").order_by("user__email")


def tenant_dashboard_counts(*, tenant: Tenant) -> dict[str, int]:
    return {
        "members": Membership.objects.for_tenant(tenant).filter(is_active=True).count(),
        "environments": Environment.objects.for_tenant(tenant).count(),
        "subsidiaries": Tenant.objects.filter(parent=tenant).count(),
    }


def tenant_recent_audit_events(*, tenant: Tenant, limit: int = 10) -> list[Any]:
    from apps.core.models import AuditEvent

    return list(AuditEvent.objects.filter(tenant=tenant).order_by("-occurred_at")[:limit])


def tenant_status_summary() -> dict[str, Any]:
    """Counts by status and tier, plus the tenants that are not active (one query each)."""
    from django.db.models import Count

    by_status = dict(Tenant.objects.values_list("status").annotate(n=Count("id")).order_by())
    by_tier = dict(Tenant.objects.values_list("tier").annotate(n=Count("id")).order_by())
    attention = list(Tenant.objects.exclude(status=TenantStatus.ACTIVE).order_by("name")[:20])
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_tier": by_tier,
        "attention": attention,
    }


# --- access teams of strategic customers (issue 6, "Portfolio oversight") ---------------------


@dataclass(frozen=True)
class AccessTeamView:
    """A customer's named internal access team, as routing needs it."""

    tenant_id: int
    name: str
    leads: tuple[Any, ...]
    reviewers: tuple[Any, ...]  # certification: internal reviewers of the customer's campaigns
    approvers: tuple[Any, ...]  # request escalation: approvers of last resort

    @property
    def members(self) -> tuple[Any, ...]:
        seen: dict[int, Any] = {}
        for user in (*self.leads, *self.reviewers, *self.approvers):
            seen.setdefault(user.pk, user)
        return tuple(seen.values())


def access_team_for(tenant: Tenant) -> AccessTeamView | None:
    """The access team assigned to `tenant` (active vendor-staff members only), or None when
    it has none. Used by certification (reviewers) and request escalation (approvers of last
    resort); reads the tenant's own rows inside its scope."""
    from apps.tenants.models import AccessTeam, AccessTeamMember, AccessTeamRole

    with tenant_context(tenant):
        team = AccessTeam.objects.filter(tenant=tenant).first()
        if team is None:
            return None
        members = list(
            AccessTeamMember.objects.filter(team=team, user__is_active=True, user__kind="staff")
            .select_related("user")
            .order_by("user__full_name", "user__email")
        )

    def of(role: str) -> tuple[Any, ...]:
        return tuple(m.user for m in members if m.role == role)

    return AccessTeamView(
        tenant_id=tenant.pk,
        name=team.name,
        leads=of(AccessTeamRole.LEAD),
        reviewers=of(AccessTeamRole.REVIEWER),
        approvers=of(AccessTeamRole.APPROVER),
    )


def tenant_is_strategic(tenant: Tenant) -> bool:
    """Strategic customers get an access team: the strategic tier, or an enterprise customer
    with complex contracts (two or more) or restricted environments (risk)."""
    from apps.tenants.models import Sensitivity, Tier

    if tenant.tier == Tier.STRATEGIC:
        return True
    if tenant.tier != Tier.ENTERPRISE:
        return False
    with tenant_context(tenant):
        from apps.tenants.models import Contract

        if Contract.objects.count() >= 2:
            return True
        return Environment.objects.filter(sensitivity=Sensitivity.RESTRICTED).exists()


def access_team_members(*, tenant: Tenant) -> list[Any]:
    from apps.tenants.models import AccessTeamMember

    with tenant_context(tenant):
        return list(
            AccessTeamMember.objects.select_related("user").order_by("role", "user__full_name")
        )
