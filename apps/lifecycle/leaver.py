"""The leaver: take every kind of access away from a person, in one transaction, audited, and
leave a confirmation record an auditor can read ("access revocation confirmed at …").

Called by SCIM (deactivate, delete), the contract-end / tenant-termination sweeper, IdP group
removal and incidents. Order inside the transaction: grants, licence seats, API keys the person
owns, membership, sessions (and the account, when no other tenant membership keeps it). A
failure anywhere rolls everything back: the person is either fully deprovisioned or untouched.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.audit.services import audit_event_record
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import User, UserKind
from apps.lifecycle.models import DeprovisionTrigger, RevocationConfirmation
from apps.tenants.models import Contract, Membership, Tenant, TenantStatus

logger = logging.getLogger("custos.lifecycle")


def _hook(module_names: tuple[str, ...], name: str) -> Callable[..., Any] | None:
    """A service another app may or may not offer yet (imported lazily, never required)."""
    for module_name in module_names:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        func = getattr(module, name, None)
        if callable(func):
            return func
    return None


@functools.lru_cache(maxsize=64)
def _parameters(func: Callable[..., Any]) -> frozenset[str]:
    return frozenset(inspect.signature(func).parameters)


def _call(func: Callable[..., Any], **kwargs: Any) -> Any:
    """Call another app's hook with the keyword arguments it accepts."""
    accepted = _parameters(func)
    return func(**{k: v for k, v in kwargs.items() if k in accepted})


def _grants_revoke(*, actor: Any, user: User, tenant: Tenant, reason: str) -> int | None:
    func = _hook(("apps.access.services",), "grants_revoke_for_user")
    if func is None:
        return None
    return int(_call(func, actor=actor, user=user, tenant=tenant, reason=reason) or 0)


def _seats_reclaim(*, actor: Any, user: User, tenant: Tenant, reason: str) -> int | None:
    func = _hook(
        ("apps.licenses.services", "apps.licenses.services.seats"), "seats_reclaim_for_user"
    )
    if func is None:
        return None
    return int(_call(func, actor=actor, user=user, tenant=tenant, reason=reason) or 0)


def _api_keys_revoke(*, user: User, tenant: Tenant, reason: str) -> int:
    from apps.integrations.models import ApiKey, CredentialState
    from apps.integrations.services.api_keys import api_key_revoke

    keys = list(
        ApiKey.objects.for_tenant(tenant)
        .filter(owner=user, state=CredentialState.ACTIVE)
        .select_related("tenant")
    )
    return sum(1 for key in keys if api_key_revoke(actor=None, key=key, reason=reason))


def _membership_end(*, user: User, tenant: Tenant, trigger: str, reason: str) -> bool:
    """The leaver ends the membership whatever role it had (the last customer admin too: the
    directory or the contract is the authority here, not the portal's safety rule)."""
    membership = Membership.objects.filter(user=user, is_active=True).first()
    if membership is None:
        return False
    done = Membership.objects.filter(pk=membership.pk, is_active=True).update(is_active=False)
    if done:
        audit_event_record(
            action="membership.removed",
            target=membership,
            before={"role": membership.role, "active": True},
            after={"active": False},
            details={"trigger": trigger, "reason": reason, "by": "lifecycle.leaver"},
        )
    return bool(done)


def _other_memberships(user: User, tenant: Tenant) -> bool:
    with unscoped(reason="leaver: does another tenant still count the person as a member"):
        return Membership.objects.filter(user=user, is_active=True).exclude(tenant=tenant).exists()


def _actor_label(actor: Any, actor_label: str) -> str:
    if actor_label:
        return actor_label[:200]
    return str(actor)[:200] if actor is not None else "system"


def _deprovision_in_tenant(
    *,
    actor: Any,
    actor_label: str,
    user: User,
    tenant: Tenant,
    reason: str,
    trigger: str,
    disable_account: bool | None,
) -> RevocationConfirmation:
    from apps.identity.services import user_access_end_for_leaver

    started = timezone.now()
    clock = time.perf_counter()
    details: dict[str, Any] = {}
    with tenant_context(tenant):
        grants = _grants_revoke(actor=actor, user=user, tenant=tenant, reason=reason)
        if grants is None:
            details["grants"] = "access app offers no grants_revoke_for_user"
        seats = _seats_reclaim(actor=actor, user=user, tenant=tenant, reason=reason)
        if seats is None:
            details["licences"] = "licences app offers no seats_reclaim_for_user"
        keys = _api_keys_revoke(user=user, tenant=tenant, reason=reason)
        membership_ended = _membership_end(user=user, tenant=tenant, trigger=trigger, reason=reason)
        if disable_account is None:
            disable_account = user.kind == UserKind.CUSTOMER and not _other_memberships(
                user, tenant
            )
        disabled = user_access_end_for_leaver(
            user=user, reason=f"{trigger}: {reason}"[:300], disable=disable_account
        )
        confirmed_at = timezone.now()
        counts = {
            "grants_revoked": grants or 0,
            "api_keys_revoked": keys,
            "seats_reclaimed": seats,
            "sessions_ended": True,
            "membership_ended": membership_ended,
            "account_disabled": disabled,
        }
        event = audit_event_record(
            action="lifecycle.access_revoked",
            actor=actor,
            tenant=tenant,
            target=user,
            after=counts,
            details={
                "trigger": trigger,
                "reason": reason,
                "acting": _actor_label(actor, actor_label),
                **details,
            },
        )
        confirmation = RevocationConfirmation.objects.create(
            tenant=tenant,
            user=user,
            subject_label=user.email,
            trigger=trigger,
            reason=reason[:500],
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=_actor_label(actor, actor_label),
            grants_revoked=grants or 0,
            api_keys_revoked=keys,
            seats_reclaimed=seats,
            sessions_ended=True,
            membership_ended=membership_ended,
            account_disabled=disabled,
            started_at=started,
            confirmed_at=confirmed_at,
            duration_ms=round((time.perf_counter() - clock) * 1000.0, 3),
            audit_seq=event.seq,
            audit_hash=event.hash,
            details=details,
        )
    return confirmation


def _tenants_of(user: User) -> list[Tenant]:
    """Every tenant where the person has a membership, a grant or an API key."""
    ids: set[int] = set()
    with unscoped(reason="leaver (all tenants): where does the person have access"):
        ids |= set(
            Membership.objects.filter(user=user, is_active=True).values_list("tenant_id", flat=True)
        )
        try:
            from apps.access.models import Grant

            ids |= set(
                Grant.objects.filter(user=user, revoked_at__isnull=True).values_list(
                    "tenant_id", flat=True
                )
            )
        except (ImportError, LookupError, AttributeError):
            pass
        from apps.integrations.models import ApiKey, CredentialState

        ids |= set(
            ApiKey.objects.filter(owner=user, state=CredentialState.ACTIVE).values_list(
                "tenant_id", flat=True
            )
        )
    return list(Tenant.objects.filter(pk__in=ids).order_by("pk"))


@transaction.atomic
def user_deprovision(
    *,
    actor: Any,
    user: User,
    tenant: Tenant | None = None,
    reason: str,
    trigger: str,
    actor_label: str = "",
) -> list[RevocationConfirmation]:
    """Take away the person's access in `tenant` (or in every tenant when None) and record a
    confirmation per tenant. The account is disabled when no other tenant keeps the person
    (always, for tenant=None). Idempotent: a second run revokes nothing new but still records
    that the person was checked and holds nothing."""
    if trigger not in DeprovisionTrigger.values:
        raise ValueError(f"unknown deprovisioning trigger {trigger!r}")
    if tenant is not None:
        return [
            _deprovision_in_tenant(
                actor=actor,
                actor_label=actor_label,
                user=user,
                tenant=tenant,
                reason=reason,
                trigger=trigger,
                disable_account=None,
            )
        ]
    tenants = _tenants_of(user)
    confirmations = [
        _deprovision_in_tenant(
            actor=actor,
            actor_label=actor_label,
            user=user,
            tenant=t,
            reason=reason,
            trigger=trigger,
            disable_account=user.kind == UserKind.CUSTOMER,
        )
        for t in tenants
    ]
    if not tenants:
        from apps.identity.services import user_access_end_for_leaver

        user_access_end_for_leaver(
            user=user, reason=f"{trigger}: {reason}"[:300], disable=user.kind == UserKind.CUSTOMER
        )
    return confirmations


def access_reduction_record(
    *,
    tenant: Tenant,
    user: User,
    trigger: str,
    reason: str,
    grants_revoked: int,
    actor_label: str = "",
) -> RevocationConfirmation:
    """A mover's partial revocation (IdP group removed, role changed): the grants that went,
    confirmed like a leaver's, with the membership left in place."""
    started = timezone.now()
    with tenant_context(tenant):
        event = audit_event_record(
            action="lifecycle.access_reduced",
            tenant=tenant,
            target=user,
            after={"grants_revoked": grants_revoked},
            details={"trigger": trigger, "reason": reason, "acting": actor_label or "system"},
        )
        return RevocationConfirmation.objects.create(
            tenant=tenant,
            user=user,
            subject_label=user.email,
            trigger=trigger,
            reason=reason[:500],
            actor_label=actor_label[:200] or "system",
            grants_revoked=grants_revoked,
            started_at=started,
            confirmed_at=timezone.now(),
            audit_seq=event.seq,
            audit_hash=event.hash,
        )


# --- Contract end and tenant termination ------------------------------------------------------
def _contract_ended(tenant: Tenant, today: date) -> bool:
    """Every contract of the tenant has an end date in the past (a tenant without any contract
    is left alone: that is a set-up gap, not an ended relationship)."""
    contracts = list(Contract.objects.for_tenant(tenant).values_list("ends_on", flat=True))
    return bool(contracts) and all(end is not None and end < today for end in contracts)


def tenants_deprovision_ended(*, today: date | None = None, limit: int = 500) -> int:
    """Sweeper (beat task `lifecycle.tenants_deprovision_ended`): tenants whose contracts all
    ended are terminated, and every active member of a terminated tenant is deprovisioned.
    Idempotent: a deprovisioned member has no active membership, so the next sweep skips it;
    each member runs in its own transaction, so a failure affects that member only."""
    from apps.tenants.services import tenant_set_status

    today = today or timezone.localdate()
    count = 0
    candidates = list(Tenant.objects.exclude(status=TenantStatus.TERMINATED).order_by("pk"))
    with unscoped(reason="lifecycle sweeper: contract ends of every tenant"):
        for tenant in candidates:
            if _contract_ended(tenant, today):
                tenant_set_status(
                    actor=None,
                    tenant=tenant,
                    status=TenantStatus.TERMINATED,
                    reason="every contract has ended",
                )
    for tenant in Tenant.objects.filter(status=TenantStatus.TERMINATED).order_by("pk"):
        trigger = (
            DeprovisionTrigger.CONTRACT_END
            if _contract_ended_quiet(tenant, today)
            else DeprovisionTrigger.TENANT_TERMINATED
        )
        with tenant_context(tenant):
            members = list(
                Membership.objects.filter(is_active=True).select_related("user")[: limit - count]
            )
        for membership in members:
            try:
                user_deprovision(
                    actor=None,
                    user=membership.user,
                    tenant=tenant,
                    reason=f"tenant {tenant.slug} is terminated",
                    trigger=trigger,
                    actor_label="lifecycle sweeper",
                )
                count += 1
            except Exception:  # one member's failure must not stop the others
                logger.exception("deprovisioning %s in %s failed", membership.user_id, tenant.slug)
        if count >= limit:
            break
    return count


def _contract_ended_quiet(tenant: Tenant, today: date) -> bool:
    with unscoped(reason="lifecycle sweeper: why is the tenant terminated"):
        return _contract_ended(tenant, today)


# --- Vendor staff offboarding -----------------------------------------------------------------
@dataclass(frozen=True)
class StaffOffboarding:
    confirmations: list[RevocationConfirmation]
    account_disabled: bool
    oauth_clients_revoked: int
    credentials_to_rotate: int


def _require_offboarding_officer(actor: Any, user: User) -> None:
    from apps.core.exceptions import PermissionDenied
    from apps.identity.models import StaffRole

    allowed = getattr(actor, "is_active", False) and (
        actor.is_superuser
        or actor.has_perm("identity.change_user")
        or getattr(actor, "staff_role", "") == StaffRole.SECURITY
    )
    if not allowed:
        raise PermissionDenied(_("Only operators and security staff may offboard staff."))
    if actor.pk == user.pk:
        raise PermissionDenied(_("You cannot offboard yourself."))


@transaction.atomic
def staff_offboard(*, actor: Any, user: User, reason: str) -> StaffOffboarding:
    """A vendor staff member leaves (their account is disabled): in one transaction, end
    everything they hold — grants in every tenant, API keys and OAuth clients they own (with
    their live tokens), sessions, the account — and mark every credential shared with a tenant
    they administered for rotation, telling that tenant's admins. Called by the staff console
    and by disabling the account in Django admin. Idempotent."""
    from apps.identity.services import user_access_end_for_leaver
    from apps.integrations.services.offboarding import (
        oauth_clients_revoke_owned_by,
        shared_credentials_mark_for_rotation,
        tenants_administered_by,
    )

    _require_offboarding_officer(actor, user)
    reason = reason.strip()[:300] or "staff offboarding"
    administered = tenants_administered_by(user=user)  # before memberships end
    confirmations = user_deprovision(
        actor=actor,
        user=user,
        reason=reason,
        trigger=DeprovisionTrigger.MANUAL,
        actor_label=f"staff offboarding by {actor}",
    )
    disabled = user_access_end_for_leaver(
        user=user, reason=f"staff offboarding: {reason}"[:300], disable=True
    )
    clients = oauth_clients_revoke_owned_by(actor=None, user=user, reason=reason)
    marked = shared_credentials_mark_for_rotation(
        actor=actor, leaver=user, tenants=administered, reason=f"{user} left: {reason}"
    )
    audit_event_record(
        action="lifecycle.staff_offboarded",
        actor=actor,
        tenant=None,
        use_current_tenant=False,
        target=user,
        after={
            "tenants": [c.tenant_id for c in confirmations],
            "grants_revoked": sum(c.grants_revoked for c in confirmations),
            "api_keys_revoked": sum(c.api_keys_revoked for c in confirmations),
            "oauth_clients_revoked": clients,
            "credentials_to_rotate": marked,
            "account_disabled": disabled or not user.is_active,
        },
        details={"reason": reason},
    )
    return StaffOffboarding(
        confirmations=confirmations,
        account_disabled=not user.is_active,
        oauth_clients_revoked=clients,
        credentials_to_rotate=marked,
    )
