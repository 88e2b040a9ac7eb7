"""Writes about tenants, environments and memberships. Each one is audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context
from apps.tenants.models import (
    Contract,
    Environment,
    Membership,
    Tenant,
    TenantRole,
    TenantStatus,
)


@transaction.atomic
def tenant_create(*, actor: Any, slug: str, name: str, **fields: Any) -> Tenant:
    if Tenant.objects.filter(slug=slug).exists():
        raise DomainError(_("A tenant with the slug %(slug)s exists already.") % {"slug": slug})
    tenant = Tenant.objects.create(slug=slug, name=name, **fields)
    with tenant_context(tenant):
        audit_event_record(
            action="tenant.created",
            actor=actor,
            target=tenant,
            after={"slug": slug, "name": name, **{k: str(v) for k, v in fields.items()}},
        )
    return tenant


@transaction.atomic
def tenant_set_status(*, actor: Any, tenant: Tenant, status: str, reason: str) -> Tenant:
    if status not in TenantStatus.values:
        raise DomainError(_("Unknown tenant status."))
    before = tenant.status
    if before == status:
        return tenant
    Tenant.objects.filter(pk=tenant.pk).update(status=status, status_changed_at=timezone.now())
    tenant.refresh_from_db()
    with tenant_context(tenant):
        audit_event_record(
            action="tenant.status_changed",
            actor=actor,
            target=tenant,
            before={"status": before},
            after={"status": status},
            details={"reason": reason},
        )
    return tenant


@transaction.atomic
def contract_create(
    *,
    actor: Any,
    tenant: Tenant,
    reference: str,
    starts_on: Any,
    ends_on: Any = None,
    sla_hours: int = 24,
) -> Contract:
    with tenant_context(tenant):
        contract = Contract.objects.create(
            tenant=tenant,
            reference=reference,
            starts_on=starts_on,
            ends_on=ends_on,
            sla_hours=sla_hours,
        )
        audit_event_record(
            action="contract.created",
            actor=actor,
            target=contract,
            after={"starts_on": starts_on, "ends_on": ends_on, "sla_hours": sla_hours},
        )
    return contract


@transaction.atomic
def environment_create(
    *, actor: Any, tenant: Tenant, slug: str, name: str, **fields: Any
) -> Environment:
    with tenant_context(tenant):
        if Environment.objects.filter(slug=slug).exists():
            raise DomainError(_("An environment with this slug exists already."))
        environment = Environment.objects.create(tenant=tenant, slug=slug, name=name, **fields)
        audit_event_record(
            action="environment.created",
            actor=actor,
            target=environment,
            after={"slug": slug, "name": name, **{k: str(v) for k, v in fields.items()}},
        )
    return environment


@transaction.atomic
def membership_add(
    *, actor: Any, tenant: Tenant, user: Any, role: str = TenantRole.MEMBER, **fields: Any
) -> Membership:
    if role not in TenantRole.values:
        raise DomainError(_("Unknown tenant role."))
    with tenant_context(tenant):
        membership, created = Membership.objects.get_or_create(
            tenant=tenant, user=user, defaults={"role": role, **fields}
        )
        if not created:
            raise DomainError(_("%(user)s is a member already.") % {"user": user})
        audit_event_record(
            action="membership.added",
            actor=actor,
            target=membership,
            after={"user": user.email, "role": role},
        )
    return membership


@transaction.atomic
def membership_change_role(*, actor: Any, membership: Membership, role: str) -> Membership:
    if role not in TenantRole.values:
        raise DomainError(_("Unknown tenant role."))
    before = membership.role
    with tenant_context(membership.tenant):
        if before != TenantRole.CUSTOMER_ADMIN or role == TenantRole.CUSTOMER_ADMIN:
            pass
        elif (
            not Membership.objects.filter(role=TenantRole.CUSTOMER_ADMIN, is_active=True)
            .exclude(pk=membership.pk)
            .exists()
        ):
            raise DomainError(_("A tenant must keep at least one customer admin."))
        Membership.objects.filter(pk=membership.pk).update(role=role)
        membership.role = role
        audit_event_record(
            action="membership.role_changed",
            actor=actor,
            target=membership,
            before={"role": before},
            after={"role": role},
        )
    return membership


@transaction.atomic
def membership_remove(*, actor: Any, membership: Membership) -> None:
    with tenant_context(membership.tenant):
        if (
            membership.role == TenantRole.CUSTOMER_ADMIN
            and not Membership.objects.filter(role=TenantRole.CUSTOMER_ADMIN, is_active=True)
            .exclude(pk=membership.pk)
            .exists()
        ):
            raise DomainError(_("A tenant must keep at least one customer admin."))
        Membership.objects.filter(pk=membership.pk).update(is_active=False)
        audit_event_record(
            action="membership.removed",
            actor=actor,
            target=membership,
            before={"role": membership.role, "active": True},
            after={"active": False},
        )


# --- access teams of strategic customers (issue 6) --------------------------------------------


def _require_team_manager(actor: Any) -> None:
    from apps.core.exceptions import PermissionDenied

    if not (getattr(actor, "has_oversight", False) or getattr(actor, "is_superuser", False)):
        raise PermissionDenied(_("Only security and compliance staff assign access teams."))


@transaction.atomic
def access_team_member_add(*, actor: Any, tenant: Tenant, user: Any, role: str) -> Any:
    """Add a vendor employee to the tenant's access team (the team is created on first use)."""
    from apps.tenants.models import AccessTeam, AccessTeamMember, AccessTeamRole
    from apps.tenants.selectors import tenant_is_strategic

    _require_team_manager(actor)
    if role not in AccessTeamRole.values:
        raise DomainError(_("Unknown team role."))
    if not tenant_is_strategic(tenant):
        raise DomainError(_("Access teams are for strategic customers."))
    if getattr(user, "kind", "") != "staff" or not user.is_active:
        raise DomainError(_("Only active vendor staff can be on an access team."))
    with tenant_context(tenant):
        team, _created = AccessTeam.objects.get_or_create(
            tenant=tenant, defaults={"name": _("Access team of %(name)s") % {"name": tenant.name}}
        )
        member, created = AccessTeamMember.objects.get_or_create(
            tenant=tenant, team=team, user=user, role=role
        )
        if created:
            audit_event_record(
                action="access_team.member_added",
                actor=actor,
                target=member,
                after={"user": user.email, "role": role},
            )
    return member


@transaction.atomic
def access_team_member_remove(*, actor: Any, tenant: Tenant, member_id: int) -> None:
    from apps.tenants.models import AccessTeamMember

    _require_team_manager(actor)
    with tenant_context(tenant):
        member = AccessTeamMember.objects.select_related("user").filter(pk=member_id).first()
        if member is None:
            raise DomainError(_("No such team member."))
        audit_event_record(
            action="access_team.member_removed",
            actor=actor,
            target=member,
            before={"user": member.user.email, "role": member.role},
        )
        member.delete()
