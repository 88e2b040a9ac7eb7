"""Grants: create (every path — portal, admin, API, requests, IdP mapping, SCIM, templates),
revoke, suspend/restore, revoke everything of a leaver.

`grant_create` is the one place the standing-access policy, SoD deny rules, the tenant's status
and the same-tenant rule are enforced. Every write bumps the tenant's policy version and writes
an audit event in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.access.exceptions import AccessValidationError, PolicyViolation, SodViolation
from apps.access.models import Entitlement, Grant, GrantSource, Role
from apps.access.policy import StandingRule, max_risk, standing_rule_for, vendor_max_duration
from apps.access.services.common import grant_snapshot, policy_version_bump, scope_for
from apps.access.sod import holdings, sod_evaluate, sod_rules_load, subject_filter
from apps.core.audit.services import audit_event_record
from apps.tenants.models import Membership, Tenant, TenantStatus


def _fmt_duration(value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    if hours < 48:
        return _("%(n)s hours") % {"n": f"{hours:g}"}
    return _("%(n)s days") % {"n": f"{hours / 24:g}"}


def _check_tenant_status(tenant: Tenant, source: str) -> None:
    status = tenant.status
    if status == TenantStatus.ACTIVE:
        return
    if status in (TenantStatus.ISOLATED, TenantStatus.SUSPENDED) and (
        source == GrantSource.INCIDENT_RESTORE
    ):
        return
    raise PolicyViolation(
        _("Tenant status rule: %(tenant)s is %(status)s, so no access can be granted.")
        % {"tenant": tenant.name, "status": tenant.get_status_display()},
        code=f"tenant_{status}",
    )


def _target_entitlement_ids(*, entitlement: Entitlement | None, role: Role | None) -> list[int]:
    if entitlement is not None:
        return [entitlement.pk]
    assert role is not None
    return list(role.role_entitlements.values_list("entitlement_id", flat=True))


def _target_risk(*, entitlement: Entitlement | None, role: Role | None) -> str:
    if entitlement is not None:
        return str(entitlement.risk)
    assert role is not None
    return max_risk(list(role.entitlements.values_list("risk", flat=True)))


def _check_subject(
    *, tenant: Tenant, user: Any, service_account: Any, api_key: Any, role: Role | None
) -> None:
    subjects = [s for s in (user, service_account, api_key) if s is not None]
    if len(subjects) != 1:
        raise AccessValidationError(
            _("A grant needs exactly one subject: a user, a service account or an API key."),
            code="grant_subject",
        )
    for other in (service_account, api_key):
        if other is not None and other.tenant_id != tenant.pk:
            raise PolicyViolation(
                _("Same-tenant rule: %(subject)s belongs to another tenant.") % {"subject": other},
                code="cross_tenant",
            )
    if service_account is not None and not service_account.active:
        raise PolicyViolation(
            _("The service account %(name)s is inactive.") % {"name": service_account},
            code="subject_inactive",
        )
    if user is not None:
        if not user.is_active:
            raise PolicyViolation(
                _("%(user)s is disabled and cannot receive access.") % {"user": user},
                code="subject_inactive",
            )
        if not user.is_vendor_staff:
            member = (
                Membership.objects.for_tenant(tenant).filter(user=user, is_active=True).exists()
            )
            if not member:
                raise PolicyViolation(
                    _("Same-tenant rule: %(user)s is not a member of %(tenant)s.")
                    % {"user": user, "tenant": tenant.name},
                    code="cross_tenant",
                )
    _check_role_for_subject(user=user, role=role)


def _check_role_for_subject(*, user: Any, role: Role | None) -> None:
    vendor = user is None or user.is_vendor_staff
    if not vendor and role is not None and role.is_vendor_internal:
        raise PolicyViolation(
            _("The role %(role)s is for vendor staff only.") % {"role": role},
            code="vendor_internal_role",
        )


def _check_target(*, tenant: Tenant, entitlement: Entitlement | None, role: Role | None) -> None:
    if (entitlement is None) == (role is None):
        raise AccessValidationError(
            _("A grant needs exactly one target: an entitlement or a role."),
            code="grant_target",
        )
    target = entitlement if entitlement is not None else role
    assert target is not None
    if target.tenant_id != tenant.pk:
        raise PolicyViolation(
            _("Same-tenant rule: %(target)s belongs to another tenant's catalog.")
            % {"target": target},
            code="cross_tenant",
        )


def _resolve_times(
    *,
    starts_at: datetime | None,
    expires_at: datetime | None,
    duration: timedelta | None,
    now: datetime,
) -> tuple[datetime, datetime | None]:
    starts = starts_at or now
    if duration is not None:
        if expires_at is not None:
            raise AccessValidationError(
                _("Give either a duration or an expiry time, not both."), code="grant_times"
            )
        if duration <= timedelta(0):
            raise AccessValidationError(_("The duration must be positive."), code="grant_times")
        expires_at = starts + duration
    if expires_at is not None:
        if expires_at <= starts:
            raise AccessValidationError(
                _("The grant would end before it starts."), code="grant_times"
            )
        if expires_at <= now:
            raise AccessValidationError(_("The expiry time is in the past."), code="grant_times")
    return starts, expires_at


def _check_standing_policy(
    *,
    tenant: Tenant,
    risk: str,
    vendor: bool,
    starts: datetime,
    expires: datetime | None,
    rule: StandingRule | None = None,
) -> None:
    length = (expires - starts) if expires is not None else None
    if vendor:
        vendor_max = vendor_max_duration(str(tenant.tier))
        if length is None:
            raise PolicyViolation(
                _(
                    "Standing-access policy: vendor-staff access must be time-bound "
                    "(at most %(max)s for tier %(tier)s)."
                )
                % {"max": _fmt_duration(vendor_max), "tier": tenant.get_tier_display()},
                code="standing_not_allowed",
            )
        if length > vendor_max:
            raise PolicyViolation(
                _(
                    "Standing-access policy: vendor-staff access may last at most %(max)s "
                    "in a %(tier)s tenant; %(asked)s was asked."
                )
                % {
                    "max": _fmt_duration(vendor_max),
                    "tier": tenant.get_tier_display(),
                    "asked": _fmt_duration(length),
                },
                code="duration_exceeds_max",
            )
    rule = rule or standing_rule_for(tenant=tenant, risk=risk)
    if length is None and rule.time_bound_required:
        raise PolicyViolation(
            _(
                "Standing-access policy (%(source)s): %(risk)s-risk access must be time-bound; "
                "give an expiry."
            )
            % {"source": rule.source, "risk": risk},
            code="standing_not_allowed",
        )
    if length is not None and rule.max_duration is not None and length > rule.max_duration:
        raise PolicyViolation(
            _(
                "Standing-access policy (%(source)s): %(risk)s-risk access may last at most "
                "%(max)s; %(asked)s was asked."
            )
            % {
                "source": rule.source,
                "risk": risk,
                "max": _fmt_duration(rule.max_duration),
                "asked": _fmt_duration(length),
            },
            code="duration_exceeds_max",
        )


def _existing_identical(
    *,
    tenant: Tenant,
    subject_q: Q,
    entitlement: Entitlement | None,
    role: Role | None,
    source: str,
    mapping_key: str,
    approval_ref: str,
    now: datetime,
) -> Grant | None:
    return (
        Grant.objects.for_tenant(tenant)
        .filter(
            subject_q,
            entitlement=entitlement,
            role=role,
            source=source,
            mapping_key=mapping_key,
            approval_ref=approval_ref,
            revoked_at__isnull=True,
            suspended_at__isnull=True,
            starts_at__lte=now,
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("pk")
        .first()
    )


def grant_create(
    *,
    actor: Any,
    tenant: Tenant,
    user: Any = None,
    service_account: Any = None,
    api_key: Any = None,
    entitlement: Entitlement | None = None,
    role: Role | None = None,
    source: str,
    starts_at: datetime | None = None,
    expires_at: datetime | None = None,
    duration: timedelta | None = None,
    justification: str = "",
    ticket_ref: str = "",
    approval_ref: str = "",
    mapping_key: str = "",
) -> Grant:
    """Give a subject an entitlement or a role, or refuse with the rule that forbids it."""
    if source not in GrantSource.values:
        raise AccessValidationError(
            _("Unknown grant source %(source)s.") % {"source": source}, code="grant_source"
        )
    with scope_for(tenant), transaction.atomic():
        # Lock the tenant row: a concurrent status change (isolation) or SoD-relevant grant
        # for the same tenant waits, so the checks below hold at commit.
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        _check_tenant_status(locked, source)
        _check_target(tenant=locked, entitlement=entitlement, role=role)
        _check_subject(
            tenant=locked, user=user, service_account=service_account, api_key=api_key, role=role
        )
        now = timezone.now()
        starts, expires = _resolve_times(
            starts_at=starts_at, expires_at=expires_at, duration=duration, now=now
        )
        subject_q = subject_filter(user=user, service_account=service_account, api_key=api_key)
        existing = _existing_identical(
            tenant=locked,
            subject_q=subject_q,
            entitlement=entitlement,
            role=role,
            source=source,
            mapping_key=mapping_key[:200],
            approval_ref=approval_ref[:100],
            now=now,
        )
        if existing is not None:  # a retry, a double click, a re-asserted mapping
            return existing
        vendor = bool(user is not None and user.is_vendor_staff)
        risk = _target_risk(entitlement=entitlement, role=role)
        _check_standing_policy(
            tenant=locked, risk=risk, vendor=vendor, starts=starts, expires=expires
        )
        held_roles, held_ents = holdings(locked, subject_q, at=now)
        target_ents = _target_entitlement_ids(entitlement=entitlement, role=role)
        hits = sod_evaluate(
            sod_rules_load(locked),
            held_roles,
            held_ents,
            new_role_id=role.pk if role is not None else None,
            new_entitlement_ids=target_ents,
        )
        denied = [h for h in hits if h.mode == "deny"]
        if denied:
            raise SodViolation(denied[0].message, code="sod_violation")
        grant = Grant.objects.create(
            tenant=locked,
            user=user,
            service_account=service_account,
            api_key=api_key,
            entitlement=entitlement,
            role=role,
            source=source,
            starts_at=starts,
            expires_at=expires,
            ends_at_due=expires,
            justification=justification,
            ticket_ref=ticket_ref[:100],
            approval_ref=approval_ref[:100],
            mapping_key=mapping_key[:200],
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        policy_version_bump(tenant=locked)
        audit_event_record(
            action="access.grant.created",
            actor=actor,
            tenant=locked,
            target=grant,
            after=grant_snapshot(grant),
            details={"risk": risk, "vendor_staff": vendor},
        )
        for hit in hits:  # flag-mode rules: recorded as findings, the grant stands
            audit_event_record(
                action="access.sod.flagged",
                actor=actor,
                tenant=locked,
                target=grant,
                outcome="flagged",
                details={"rule": hit.rule_key, "held": hit.held, "threshold": hit.threshold},
            )
    return grant


def _end_fields_guard(grant: Grant) -> Q:
    return Q(pk=grant.pk, revoked_at__isnull=True)


def grant_revoke(*, actor: Any, grant: Grant, reason: str) -> Grant:
    """End a grant now (idempotent: revoking a revoked grant changes nothing)."""
    with scope_for(grant.tenant_id), transaction.atomic():
        now = timezone.now()
        updated = (
            Grant.objects.for_tenant(grant.tenant_id)
            .filter(_end_fields_guard(grant))
            .update(
                revoked_at=now,
                revoked_by=actor if getattr(actor, "pk", None) else None,
                revoke_reason=reason or "",
                ends_at_due=None,
            )
        )
        grant.refresh_from_db()
        if updated:
            policy_version_bump(tenant=grant.tenant_id)
            audit_event_record(
                action="access.grant.revoked",
                actor=actor,
                tenant=grant.tenant_id,
                target=grant,
                before=grant_snapshot(grant),
                details={"reason": reason},
            )
    return grant


def grants_revoke_for_user(
    *, actor: Any, user: Any, reason: str, tenant: Tenant | None = None
) -> int:
    """Revoke every unended grant of `user` in `tenant`, or in every tenant (a leaver).
    Set-based: see apps.access.services.bulk."""
    from apps.access.services.bulk import grants_revoke_for_user as revoke_set

    return revoke_set(actor=actor, user=user, reason=reason, tenant=tenant)


def grant_suspend(*, actor: Any, grant: Grant, reason: str) -> Grant:
    """Pause a grant (incident response): inactive at once, restorable, not revoked."""
    with scope_for(grant.tenant_id), transaction.atomic():
        updated = (
            Grant.objects.for_tenant(grant.tenant_id)
            .filter(pk=grant.pk, revoked_at__isnull=True, suspended_at__isnull=True)
            .update(
                suspended_at=timezone.now(),
                suspended_by=actor if getattr(actor, "pk", None) else None,
                suspend_reason=reason or "",
            )
        )
        grant.refresh_from_db()
        if updated:
            policy_version_bump(tenant=grant.tenant_id)
            audit_event_record(
                action="access.grant.suspended",
                actor=actor,
                tenant=grant.tenant_id,
                target=grant,
                details={"reason": reason},
            )
    return grant


def grant_restore(
    *, actor: Any, grant: Grant, reason: str, expires_at: datetime | None = None
) -> Grant:
    """Lift a suspension. `expires_at` may shorten the grant, never lengthen it (widening is a
    new grant)."""
    with scope_for(grant.tenant_id), transaction.atomic():
        current = Grant.objects.for_tenant(grant.tenant_id).select_for_update().get(pk=grant.pk)
        if current.revoked_at is not None:
            raise PolicyViolation(
                _("A revoked grant cannot be restored; create a new one."), code="grant_revoked"
            )
        if current.suspended_at is None:
            return current
        new_expiry = current.expires_at
        if expires_at is not None:
            if current.expires_at is not None and expires_at > current.expires_at:
                raise PolicyViolation(
                    _(
                        "Restoring cannot extend a grant beyond its original expiry; "
                        "widening is a new grant."
                    ),
                    code="grant_widening",
                )
            new_expiry = expires_at
        before = {
            "suspended_at": current.suspended_at.isoformat(),
            "expires_at": str(current.expires_at),
        }
        Grant.objects.for_tenant(grant.tenant_id).filter(pk=grant.pk).update(
            suspended_at=None,
            suspended_by=None,
            suspend_reason="",
            expires_at=new_expiry,
            ends_at_due=new_expiry if current.expired_at is None else None,
        )
        current.refresh_from_db()
        policy_version_bump(tenant=grant.tenant_id)
        audit_event_record(
            action="access.grant.restored",
            actor=actor,
            tenant=grant.tenant_id,
            target=current,
            before=before,
            after={"expires_at": str(new_expiry)},
            details={"reason": reason},
        )
        grant.refresh_from_db()
    return current


def grant_touch(*, grant: Grant, at: datetime | None = None) -> None:
    """Record use (for 'last used'): a plain column update, not an audited change."""
    with scope_for(grant.tenant_id):
        Grant.objects.for_tenant(grant.tenant_id).filter(pk=grant.pk).update(
            last_used_at=at or timezone.now()
        )
