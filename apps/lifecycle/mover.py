"""The mover.

* Driven by the tenant's directory (SCIM): group membership changed, so the grants mapped from
  groups are reconciled — missing ones created, ones no longer backed by a group revoked;
  grants that came from requests are never touched (apps.access reconcile).
* A member's tenant role changes (`member_role_change`): the role, then the licence seats the
  new role is not eligible for go back to their pools (whose waiting lists are served), in one
  transaction, with a revocation confirmation when anything was taken away."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from apps.core.tenancy import tenant_context
from apps.lifecycle.leaver import _call, _hook, access_reduction_record
from apps.lifecycle.models import DeprovisionTrigger, RevocationConfirmation

logger = logging.getLogger("custos.lifecycle")

MAPPING_PREFIX = "scim:"


def _count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    try:
        return len(value)
    except TypeError:
        return 0


def scim_mapped_access_reconcile(
    *,
    tenant: Any,
    scim_users: Iterable[Any],
    trigger: str = DeprovisionTrigger.ROLE_CHANGE,
    actor_label: str = "",
) -> dict[str, int]:
    """Reconcile the mapped grants of each user (call inside the tenant scope and the
    request's transaction). Returns totals {"created": n, "revoked": m}."""
    from apps.identity.scim.selectors import mapped_role_keys_for

    func = _hook(("apps.access.services",), "grants_reconcile_mapped")
    totals = {"created": 0, "revoked": 0}
    if func is None:
        return totals
    for scim_user in scim_users:
        keys = mapped_role_keys_for(scim_user)
        result = _call(
            func,
            actor=None,
            tenant=tenant,
            user=scim_user.user,
            source="scim",
            desired={(key,) for key in keys},
            mapping_prefix=MAPPING_PREFIX,
        )
        created = _count(getattr(result, "created", None))
        revoked = _count(getattr(result, "revoked", None))
        totals["created"] += created
        totals["revoked"] += revoked
        if revoked:
            access_reduction_record(
                tenant=tenant,
                user=scim_user.user,
                trigger=trigger,
                reason="directory group membership changed",
                grants_revoked=revoked,
                actor_label=actor_label,
            )
    return totals


def scim_joiner_templates(*, tenant: Any, scim_user: Any) -> int:
    """A person the directory just created gets the roles of the tenant's provisioning
    templates that match their attributes (apps.access `templates_apply`; roles the standing
    policy refuses are left to access requests). Returns the number of grants."""
    if not scim_user.active:
        return 0
    func = _hook(("apps.access.services",), "templates_apply")
    if func is None:
        return 0
    enterprise = scim_user.attributes.get(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", {}
    )
    attributes = {
        "department": enterprise.get("department", ""),
        "title": scim_user.attributes.get("title", ""),
        "cost_center": enterprise.get("costCenter", ""),
        "division": enterprise.get("division", ""),
        "source": "scim",
    }
    return _count(
        _call(func, actor=None, tenant=tenant, user=scim_user.user, attributes=attributes)
    )


@dataclass
class RoleChange:
    membership: Any
    before: str
    seats_reclaimed: int
    confirmation: RevocationConfirmation | None


def member_role_change(
    *, actor: Any, membership: Any, role: str, actor_label: str = ""
) -> RoleChange:
    """Change a member's tenant role and reclaim the licence seats the new role may not hold
    (apps.licenses `seats_reclaim_on_role_change`; freed seats serve the pools' waiting lists).
    All or nothing; only the tenant's admins (or the system, actor None) may do it. When seats
    were reclaimed, a revocation confirmation records it like a leaver's."""
    from apps.licenses.services.seats import require_manager
    from apps.tenants.services import membership_change_role

    tenant = membership.tenant
    require_manager(actor=actor, tenant=tenant)
    before = membership.role
    with tenant_context(tenant), transaction.atomic():
        membership = membership_change_role(actor=actor, membership=membership, role=role)
        if before == role:
            return RoleChange(membership, before, 0, None)
        reclaim = _hook(
            ("apps.licenses.services", "apps.licenses.services.seats"),
            "seats_reclaim_on_role_change",
        )
        seats = (
            int(_call(reclaim, actor=actor, tenant=tenant, user=membership.user, role=role) or 0)
            if reclaim is not None
            else 0
        )
        confirmation = None
        if seats:
            label = actor_label or getattr(actor, "email", "") or "system"
            confirmation = access_reduction_record(
                tenant=tenant,
                user=membership.user,
                trigger=DeprovisionTrigger.ROLE_CHANGE,
                reason=f"role changed from {before} to {role}",
                grants_revoked=0,
                actor_label=label,
            )
            RevocationConfirmation.objects.filter(pk=confirmation.pk).update(
                seats_reclaimed=seats, details={"seats_reclaimed": seats, "role": role}
            )
            confirmation.seats_reclaimed = seats
        logger.info(
            "role of %s changed %s -> %s, %d seat(s) reclaimed", membership.pk, before, role, seats
        )
    return RoleChange(membership, before, seats, confirmation)
