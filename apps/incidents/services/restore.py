"""The way back, with the customer: their sign-off, then access restored selectively from the
snapshot (each grant re-approved or made time-bound), accounts re-enabled one by one, the
isolation lifted, and a certification campaign over the grants involved."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import DomainError, PermissionDenied
from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.incidents.models import (
    GrantSnapshot,
    Incident,
    IncidentStatus,
    IncidentTenant,
    Suspension,
    TimelineKind,
)
from apps.incidents.services.common import (
    IncidentConflict,
    IncidentError,
    audit_bulk,
    incident_tenant_get,
    require_open,
    require_oversight,
    timeline_add,
)
from apps.tenants.models import Membership, Tenant, TenantRole, TenantStatus


class RestoreMode:
    REAPPROVED = "reapproved"
    TIME_BOUND = "time_bound"
    ALL = (REAPPROVED, TIME_BOUND)


def _locked(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident.pk)


def _require_signoff(row: IncidentTenant, tenant: Tenant) -> None:
    if row.signed_off_at is None:
        raise IncidentError(
            _(
                "%(tenant)s has not signed off the root cause and remediation yet; access "
                "comes back only after the customer's sign-off."
            )
            % {"tenant": tenant.name},
            code="signoff_missing",
        )


@transaction.atomic
def incident_signoff_record(
    *, actor: Any, incident: Incident, tenant: Tenant, statement: str
) -> IncidentTenant:
    """A customer admin of `tenant` accepts the root cause and remediation (in the portal)."""
    with tenant_context(tenant):
        membership = Membership.objects.filter(user=actor, is_active=True).first()
        if membership is None or membership.role != TenantRole.CUSTOMER_ADMIN:
            raise PermissionDenied(
                _("Only a customer admin of %(tenant)s can sign off this incident.")
                % {"tenant": tenant.name}
            )
        incident = _locked(incident)
        row = incident_tenant_get(incident=incident, tenant=tenant)
        require_open(incident)
        if not incident.postmortem_done:
            raise IncidentError(
                _("The root cause and remediation are not documented yet; nothing to sign off."),
                code="postmortem_missing",
            )
        statement = statement.strip()
        if not statement:
            raise IncidentError(_("Write a short sign-off statement."), code="statement")
        now = timezone.now()
        done = IncidentTenant.objects.filter(pk=row.pk, signed_off_at__isnull=True).update(
            signed_off_at=now, signed_off_by=actor, signoff_statement=statement[:5000]
        )
        if not done:
            raise IncidentConflict(
                _("%(tenant)s has signed off this incident already.") % {"tenant": tenant.name},
                code="signed_off",
            )
        row.refresh_from_db()
        audit_event_record(
            action="incident.signed_off",
            actor=actor,
            tenant=tenant,
            target=incident,
            after={"statement": statement[:1000], "reference": incident.reference},
        )
    timeline_add(
        incident=incident,
        kind=TimelineKind.SIGNOFF,
        actor=actor,
        tenant=tenant,
        text=_("%(who)s signed off for %(tenant)s: %(statement)s")
        % {"who": actor.email, "tenant": tenant.name, "statement": statement[:1000]},
    )
    return row


@transaction.atomic
def grants_restore(
    *,
    actor: Any,
    incident: Incident,
    tenant: Tenant,
    snapshot_ids: Iterable[int],
    mode: str,
    reason: str,
    expires_at: datetime | None = None,
    approval_ref: str = "",
) -> int:
    """Lift the incident's suspension of the chosen snapshot rows, all or none. `time_bound`:
    each grant now ends at `expires_at` (never later than it would have); `reapproved`: the
    customer re-approved them (`approval_ref` names the approval)."""
    from apps.access.services import grant_restore

    require_oversight(actor)
    incident = _locked(incident)
    require_open(incident)
    ids = sorted({int(i) for i in snapshot_ids})
    if not ids:
        raise IncidentError(_("Choose the grants to restore."), code="nothing_chosen")
    if mode not in RestoreMode.ALL:
        raise IncidentError(_("Choose how each grant comes back."), code="mode")
    reason = reason.strip()
    if not reason:
        raise IncidentError(_("Say why (it is recorded with every change)."), code="reason")
    now = timezone.now()
    if mode == RestoreMode.TIME_BOUND:
        if expires_at is None or expires_at <= now:
            raise IncidentError(
                _("A time-bound restoration needs an end in the future."), code="expires_at"
            )
    else:
        approval_ref = approval_ref.strip()
        if not approval_ref:
            raise IncidentError(
                _("Name the re-approval (who approved, ticket or request)."), code="approval"
            )
        expires_at = None
    with tenant_context(tenant):
        row = incident_tenant_get(incident=incident, tenant=tenant)
        _require_signoff(row, tenant)
        rows = list(
            GrantSnapshot.objects.select_for_update()
            .filter(incident=incident, pk__in=ids)
            .select_related("grant")
        )
        missing = sorted(set(ids) - {r.pk for r in rows})
        if missing:
            raise IncidentError(
                _(
                    "Not in this incident's snapshot for %(tenant)s: %(ids)s. Only grants the "
                    "incident suspended can be restored."
                )
                % {"tenant": tenant.name, "ids": ", ".join(map(str, missing[:20]))},
                code="not_in_snapshot",
            )
        for snap in rows:
            if snap.restored_at is not None:
                raise IncidentConflict(
                    _("Grant %(id)s was restored already.") % {"id": snap.grant_id},
                    code="restored_already",
                )
            if not snap.suspended_by_incident:
                raise IncidentError(
                    _("Grant %(id)s was not suspended by this incident.") % {"id": snap.grant_id},
                    code="not_suspended",
                )
        for snap in rows:
            try:
                grant_restore(
                    actor=actor,
                    grant=snap.grant,
                    reason=f"incident {incident.reference}: {reason}"[:500],
                    expires_at=expires_at,
                )
            except DomainError as exc:
                raise IncidentError(
                    _("Grant %(id)s (%(grant)s): %(why)s")
                    % {"id": snap.grant_id, "grant": str(snap.grant), "why": exc.message},
                    code=exc.code,
                ) from exc
        GrantSnapshot.objects.filter(pk__in=[r.pk for r in rows]).update(
            restored_at=now,
            restored_by=actor,
            restore_mode=mode,
            restore_expires_at=expires_at,
            restore_approval=approval_ref[:200],
        )
        audit_event_record(
            action="incident.grants_restored",
            actor=actor,
            tenant=tenant,
            target=incident,
            after={
                "grants": [r.grant_id for r in rows],
                "mode": mode,
                "expires_at": expires_at.isoformat() if expires_at else "",
                "approval": approval_ref,
            },
            details={"reason": reason},
        )
    if incident.status == IncidentStatus.CONTAINED:
        Incident.objects.filter(pk=incident.pk).update(status=IncidentStatus.RECOVERING)
        timeline_add(
            incident=incident,
            kind=TimelineKind.STATUS,
            actor=actor,
            text=_("Status: %(status)s") % {"status": IncidentStatus.RECOVERING.label},
        )
    timeline_add(
        incident=incident,
        kind=TimelineKind.RESTORE,
        actor=actor,
        tenant=tenant,
        text=(
            _("%(n)d grants restored in %(tenant)s, time-bound until %(until)s.")
            % {
                "n": len(rows),
                "tenant": tenant.name,
                "until": expires_at.isoformat(timespec="minutes"),
            }
            if expires_at
            else _("%(n)d grants restored in %(tenant)s, re-approved (%(approval)s).")
            % {"n": len(rows), "tenant": tenant.name, "approval": approval_ref}
        ),
        details={"grants": [r.grant_id for r in rows], "reason": reason},
    )
    return len(rows)


@transaction.atomic
def accounts_reenable(
    *, actor: Any, incident: Incident, tenant: Tenant, user_ids: Iterable[int], reason: str
) -> int:
    """Re-enable chosen accounts the incident disabled in `tenant` (after the sign-off)."""
    require_oversight(actor)
    incident = _locked(incident)
    require_open(incident)
    ids = sorted({int(i) for i in user_ids})
    if not ids:
        raise IncidentError(_("Choose the accounts to re-enable."), code="nothing_chosen")
    reason = reason.strip()
    if not reason:
        raise IncidentError(_("Say why (it is recorded with every change)."), code="reason")
    with tenant_context(tenant):
        row = incident_tenant_get(incident=incident, tenant=tenant)
        _require_signoff(row, tenant)
        disabled: set[int] = set()
        for record in Suspension.objects.filter(incident=incident):
            disabled.update(record.user_ids)
        stray = sorted(set(ids) - disabled)
        if stray:
            raise IncidentError(
                _("Not disabled by this incident in %(tenant)s: %(ids)s.")
                % {"tenant": tenant.name, "ids": ", ".join(map(str, stray[:20]))},
                code="not_disabled_here",
            )
        users = list(User.objects.filter(pk__in=ids, is_active=False))
        User.objects.filter(pk__in=[u.pk for u in users], is_active=False).update(
            is_active=True, disabled_at=None
        )
        audit_bulk(
            tenant=tenant,
            events=[
                {
                    "action": "user.enabled",
                    "actor": actor,
                    "target": user,
                    "before": {"is_active": False},
                    "after": {"is_active": True},
                    "details": {"incident": incident.reference, "reason": reason},
                }
                for user in users
            ],
        )
    if users:
        timeline_add(
            incident=incident,
            kind=TimelineKind.RESTORE,
            actor=actor,
            tenant=tenant,
            text=_("%(n)d accounts re-enabled in %(tenant)s: %(who)s")
            % {
                "n": len(users),
                "tenant": tenant.name,
                "who": ", ".join(u.email for u in users[:20]),
            },
        )
    return len(users)


@transaction.atomic
def isolation_lift(*, actor: Any, incident: Incident, tenant: Tenant, reason: str) -> Tenant:
    """Give the tenant back its previous status (after the customer's sign-off)."""
    from apps.tenants.services import tenant_set_status

    require_oversight(actor)
    incident = _locked(incident)
    with tenant_context(tenant):
        row = incident_tenant_get(incident=incident, tenant=tenant)
        if row.isolated_at is None or row.isolation_lifted_at is not None:
            raise IncidentConflict(
                _("This incident has not isolated %(tenant)s.") % {"tenant": tenant.name},
                code="not_isolated",
            )
        _require_signoff(row, tenant)
        current = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if current.status != TenantStatus.ISOLATED:
            raise IncidentConflict(
                _("%(tenant)s is no longer isolated.") % {"tenant": tenant.name},
                code="not_isolated",
            )
        tenant = tenant_set_status(
            actor=actor,
            tenant=current,
            status=row.status_before_isolation or TenantStatus.ACTIVE,
            reason=f"incident {incident.reference}: {reason}"[:300],
        )
        IncidentTenant.objects.filter(pk=row.pk).update(isolation_lifted_at=timezone.now())
    timeline_add(
        incident=incident,
        kind=TimelineKind.ISOLATION,
        actor=actor,
        tenant=tenant,
        text=_("Isolation of %(tenant)s lifted.") % {"tenant": tenant.name},
    )
    return tenant


def _campaign_service() -> Any:
    try:
        from apps.certification import services as certification
    except ImportError:
        return None
    return getattr(certification, "campaign_create_from_grants", None)


@transaction.atomic
def review_campaign_create(
    *, actor: Any, incident: Incident, tenant: Tenant, due_at: datetime, name: str = ""
) -> Any:
    """One click: a certification campaign over every grant the incident took into scope."""
    require_oversight(actor)
    create = _campaign_service()
    if create is None:
        raise IncidentError(
            _("Access reviews are not available on this installation yet."),
            code="certification_missing",
        )
    if due_at <= timezone.now():
        raise IncidentError(_("The review must be due in the future."), code="due_at")
    incident = _locked(incident)
    with tenant_context(tenant):
        row = incident_tenant_get(incident=incident, tenant=tenant)
        if row.review_campaign_ref:
            raise IncidentConflict(
                _("A review campaign exists already for this incident in %(tenant)s.")
                % {"tenant": tenant.name},
                code="review_exists",
            )
        grant_ids = list(
            GrantSnapshot.objects.filter(incident=incident).values_list("grant_id", flat=True)
        )
        if not grant_ids:
            raise IncidentError(_("The incident involved no grants here."), code="no_grants")
        campaign = create(
            actor=actor,
            tenant=tenant,
            name=(name.strip() or f"{incident.reference} post-incident access review")[:200],
            grant_ids=grant_ids,
            due_at=due_at,
            origin=f"incident:{incident.reference}",
        )
        ref = str(getattr(campaign, "pk", campaign))
        IncidentTenant.objects.filter(pk=row.pk).update(review_campaign_ref=ref[:64])
        audit_event_record(
            action="incident.review_created",
            actor=actor,
            tenant=tenant,
            target=incident,
            after={"campaign": ref, "grants": len(grant_ids), "due_at": due_at.isoformat()},
        )
    timeline_add(
        incident=incident,
        kind=TimelineKind.REVIEW,
        actor=actor,
        tenant=tenant,
        text=_("Access review campaign %(ref)s over %(n)d grants in %(tenant)s.")
        % {"ref": ref, "n": len(grant_ids), "tenant": tenant.name},
    )
    return campaign
