"""After submission: cancel, relinquish early, extend, revoke (customer lockbox), break-glass
and its post-hoc review."""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.exceptions import Conflict, DomainError, PermissionDenied
from apps.identity.models import StaffRole, User, UserKind
from apps.requests import policy
from apps.requests.models import (
    OPEN_STATUSES,
    AccessRequest,
    ApprovalAssignment,
    ApprovalStep,
    AssignmentVia,
    RequestKind,
    RequestStatus,
    ReviewOutcome,
    StepState,
)
from apps.requests.services.common import (
    audit,
    grant_end,
    grant_for_request,
    in_tenant,
    refused,
    tenant_open_check,
)
from apps.requests.services.notify import notify
from apps.requests.services.routing import route_plan, steps_create
from apps.requests.services.submit import justification_problem
from apps.tenants.models import ADMIN_ROLES, Membership, Tenant, TenantRole

BREAK_GLASS_REVIEW_WINDOW = timedelta(hours=24)
CUSTOMER_DECIDERS = (*ADMIN_ROLES, TenantRole.APPROVER)


def _locked(req: AccessRequest) -> AccessRequest:
    return (
        AccessRequest.objects.select_for_update(of=("self",))
        .select_related("tenant", "requester", "on_behalf_of", "grant")
        .get(pk=req.pk)
    )


def access_request_cancel(*, actor: Any, req: AccessRequest, reason: str = "") -> AccessRequest:
    """The requester withdraws an open request."""

    def run() -> AccessRequest:
        with in_tenant(req.tenant), transaction.atomic():
            row = _locked(req)
            if actor.pk != row.requester_id:
                raise PermissionDenied(_("Only the requester can cancel a request."))
            if row.status not in OPEN_STATUSES:
                raise Conflict(
                    _("This request is %(status)s; it cannot be cancelled any more.")
                    % {"status": row.get_status_display().lower()},
                    code="not_pending",
                )
            now = timezone.now()
            AccessRequest.objects.filter(pk=row.pk).update(
                status=RequestStatus.CANCELLED,
                decided_at=now,
                expires_unanswered_at=None,
                decision_reason=reason,
            )
            ApprovalStep.objects.filter(
                request=row, state__in=(StepState.OPEN, StepState.WAITING)
            ).update(state=StepState.CANCELLED, due_at=None, remind_at=None, decided_at=now)
            ApprovalAssignment.objects.filter(request=row, active=True).update(active=False)
            audit(
                "access_request.cancelled",
                actor=actor,
                req=row,
                before={"status": row.status},
                after={"status": RequestStatus.CANCELLED},
                details={"reason": reason},
            )
            row.refresh_from_db()
            return row

    return refused(
        "access_request.cancel_refused",
        actor=actor,
        tenant=req.tenant,
        details={"request": str(req.pk)},
        run=run,
    )


def _end(
    *, actor: Any, row: AccessRequest, reason: str, event: str, audit_action: str
) -> AccessRequest:
    if row.status not in (RequestStatus.ACTIVE, RequestStatus.APPROVED):
        raise Conflict(
            _("This access is %(status)s already.") % {"status": row.get_status_display().lower()},
            code="not_active",
        )
    grant_end(actor=actor, req=row, reason=reason)
    now = timezone.now()
    AccessRequest.objects.filter(pk=row.pk).update(
        status=RequestStatus.ENDED,
        ended_at=now,
        ends_at=None,
        activate_at=None,
        end_reason=reason[:200],
    )
    before = row.status
    row.refresh_from_db()
    audit(
        audit_action,
        actor=actor,
        req=row,
        before={"status": before},
        after={"status": row.status},
        details={"reason": reason},
    )
    notify(
        recipients=[row.requester, row.beneficiary], event=event, req=row, extra={"reason": reason}
    )
    return row


def access_request_relinquish(*, actor: Any, req: AccessRequest) -> AccessRequest:
    """The holder gives the access back before it ends (the grant is revoked at once)."""

    def run() -> AccessRequest:
        with in_tenant(req.tenant), transaction.atomic():
            row = _locked(req)
            if actor.pk not in (row.requester_id, row.beneficiary_id):
                raise PermissionDenied(_("Only the holder can give this access back."))
            return _end(
                actor=actor,
                row=row,
                reason="relinquished",
                event="ended",
                audit_action="access_request.relinquished",
            )

    return refused(
        "access_request.relinquish_refused",
        actor=actor,
        tenant=req.tenant,
        details={"request": str(req.pk)},
        run=run,
    )


def can_decide_for_tenant(*, user: Any, tenant: Tenant) -> bool:
    """Customer admins and approvers of the tenant (vendor-access page, revoke, reviews)."""
    return (
        Membership.objects.for_tenant(tenant)
        .filter(user=user, is_active=True, role__in=CUSTOMER_DECIDERS)
        .exists()
    )


def access_request_revoke(*, actor: Any, req: AccessRequest, reason: str) -> AccessRequest:
    """A customer admin or approver ends access at once (the lockbox's one-click revoke)."""

    def run() -> AccessRequest:
        with in_tenant(req.tenant), transaction.atomic():
            row = _locked(req)
            if not can_decide_for_tenant(user=actor, tenant=row.tenant):
                raise PermissionDenied(
                    _("Only the tenant's admins and approvers can revoke access.")
                )
            return _end(
                actor=actor,
                row=row,
                reason=reason.strip() or _("revoked by the customer"),
                event="revoked",
                audit_action="access_request.revoked",
            )

    return refused(
        "access_request.revoke_refused",
        actor=actor,
        tenant=req.tenant,
        details={"request": str(req.pk)},
        run=run,
    )


def access_request_extend_initial(*, req: AccessRequest) -> dict[str, Any]:
    """The pre-filled form of an extension (a new request for the same scope)."""
    return {
        "entitlement": req.entitlement_id,
        "role": req.role_id,
        "duration_hours": int(req.requested_duration.total_seconds() // 3600) or 1,
        "justification": req.justification,
        "ticket_ref": req.ticket_ref,
        "extends": req.pk,
    }


# --- Break-glass --------------------------------------------------------------------------


def break_glass_activate(
    *,
    actor: Any,
    tenant: Tenant,
    entitlement: Any = None,
    role: Any = None,
    duration: timedelta,
    justification: str,
    ticket_ref: str = "",
    confirmed: bool,
) -> AccessRequest:
    """Immediate, time-boxed vendor access that bypasses approval: mandatory justification and
    an explicit confirmation; every skipped approver and the customer are told at once; a
    `policy.bypassed` event; a post-hoc review due within 24 hours."""
    target = entitlement if entitlement is not None else role

    def run() -> AccessRequest:
        with in_tenant(tenant), transaction.atomic():
            tenant.refresh_from_db(fields=["status"])
            tenant_open_check(tenant, kind=RequestKind.BREAK_GLASS)
            if not actor.is_vendor_staff:
                raise PermissionDenied(_("Break-glass access is for vendor staff only."))
            if not confirmed:
                raise DomainError(
                    _("Confirm that you bypass approval and that this will be reviewed."),
                    code="confirmation_required",
                )
            if target is None or target.tenant_id != tenant.pk:
                raise DomainError(
                    _("Choose an entitlement or role of this tenant."), code="invalid_target"
                )
            elig = policy.eligibility(user=actor, target=target, tenant=tenant, vendor=True)
            if not elig.eligible:
                raise DomainError(
                    _("Not allowed even with break-glass: %(reasons)s")
                    % {"reasons": "; ".join(elig.reasons)},
                    code="not_eligible",
                )
            limit = policy.break_glass_max_duration()
            if duration <= timedelta(0) or duration > limit:
                raise DomainError(
                    _("Break-glass access lasts at most %(hours)d hours.")
                    % {"hours": int(limit.total_seconds() // 3600)},
                    code="duration_too_long",
                )
            problem = justification_problem(justification, high_risk=True, vendor=True)
            if problem:
                raise DomainError(problem, code="justification")
            now = timezone.now()
            risk = policy.target_risk(target)
            req = AccessRequest.objects.create(
                tenant=tenant,
                requester=actor,
                kind=RequestKind.BREAK_GLASS,
                entitlement=entitlement,
                role=role,
                risk=risk,
                duration=duration,
                requested_duration=duration,
                justification=justification.strip(),
                ticket_ref=ticket_ref.strip(),
                status=RequestStatus.SUBMITTED,
                submitted_at=now,
            )
            # The chain it skips, recorded as skipped steps, so the skipped approvers are known.
            plan = route_plan(tenant=tenant, kind=RequestKind.VENDOR, risk=risk)
            with suppress(DomainError):  # nobody to skip is no reason to block an emergency
                steps_create(req=req, plan=plan)
            skipped = list(
                ApprovalAssignment.objects.filter(request=req).select_related("approver")
            )
            ApprovalStep.objects.filter(request=req).update(
                state=StepState.SKIPPED, decided_at=now, due_at=None, remind_at=None
            )
            ApprovalAssignment.objects.filter(request=req).update(active=False)
            expires = now + duration
            grant = grant_for_request(actor=actor, req=req, starts_at=now, expires_at=expires)
            AccessRequest.objects.filter(pk=req.pk).update(
                status=RequestStatus.ACTIVE,
                grant=grant,
                decided_at=now,
                granted_at=now,
                first_decision_at=now,
                ends_at=expires,
                access_until=expires,
                review_due_at=now + BREAK_GLASS_REVIEW_WINDOW,
            )
            req.refresh_from_db()
            audit(
                "policy.bypassed",
                actor=actor,
                req=req,
                after={
                    "target": str(target),
                    "expires_at": expires.isoformat(),
                    "grant": getattr(grant, "pk", None),
                },
                details={
                    "justification": req.justification[:500],
                    "ticket_ref": req.ticket_ref,
                    "skipped_approvers": sorted({a.approver.email for a in skipped}),
                },
            )
            audit("break_glass.activated", actor=actor, req=req, after={"status": req.status})
            customer = [
                m.user
                for m in Membership.objects.filter(
                    role__in=CUSTOMER_DECIDERS, is_active=True
                ).select_related("user")
            ]
            security = list(
                User.objects.filter(
                    kind=UserKind.STAFF, staff_role=StaffRole.SECURITY, is_active=True
                )
            )
            recipients = [a.approver for a in skipped] + customer + security
            notify(
                recipients=[u for u in recipients if u.pk != actor.pk],
                event="break_glass",
                req=req,
                extra={"ends": expires},
            )
            return req

    return refused(
        "break_glass.refused",
        actor=actor,
        tenant=tenant,
        details={"target": str(target) if target is not None else "", "duration": str(duration)},
        run=run,
    )


def break_glass_review(*, actor: Any, req: AccessRequest, outcome: str, note: str) -> AccessRequest:
    """The post-hoc review of break-glass access, by the customer's admins/approvers or vendor
    security staff. "Not justified" also ends the access if it still runs."""

    def run() -> AccessRequest:
        with in_tenant(req.tenant), transaction.atomic():
            row = _locked(req)
            if row.kind != RequestKind.BREAK_GLASS:
                raise DomainError(_("Only break-glass access is reviewed after the fact."))
            if actor.pk == row.requester_id:
                raise PermissionDenied(
                    _("You cannot review your own break-glass access."), code="self_approval"
                )
            is_security = actor.is_vendor_staff and actor.staff_role in (
                StaffRole.SECURITY,
                StaffRole.COMPLIANCE,
            )
            if not (is_security or can_decide_for_tenant(user=actor, tenant=row.tenant)):
                raise PermissionDenied(_("You may not review this break-glass access."))
            if outcome not in (ReviewOutcome.JUSTIFIED, ReviewOutcome.NOT_JUSTIFIED):
                raise DomainError(_("Choose whether the access was justified."), code="invalid")
            if not note.strip():
                raise DomainError(_("Add a note to the review."), code="reason_required")
            if row.reviewed_at is not None:
                raise Conflict(
                    _("This break-glass access was reviewed already."), code="already_decided"
                )
            now = timezone.now()
            AccessRequest.objects.filter(pk=row.pk).update(
                reviewed_at=now,
                reviewed_by=actor,
                review_outcome=outcome,
                review_note=note.strip(),
                review_due_at=None,
            )
            row.refresh_from_db()
            audit(
                "break_glass.reviewed",
                actor=actor,
                req=row,
                after={"outcome": outcome},
                details={"note": note.strip()[:500]},
            )
            if outcome == ReviewOutcome.NOT_JUSTIFIED and row.status in (
                RequestStatus.ACTIVE,
                RequestStatus.APPROVED,
            ):
                row = _end(
                    actor=actor,
                    row=row,
                    reason=_("break-glass review: not justified"),
                    event="revoked",
                    audit_action="access_request.revoked",
                )
            return row

    return refused(
        "break_glass.review_refused",
        actor=actor,
        tenant=req.tenant,
        details={"request": str(req.pk)},
        run=run,
    )


__all__ = [
    "AssignmentVia",
    "access_request_cancel",
    "access_request_extend_initial",
    "access_request_relinquish",
    "access_request_revoke",
    "break_glass_activate",
    "break_glass_review",
    "can_decide_for_tenant",
]


# --- Out-of-office delegation -------------------------------------------------------------


def delegate_create(
    *, actor: Any, tenant: Tenant, delegate: Any, starts_at: Any, ends_at: Any, note: str = ""
) -> Any:
    """`actor` (an approver or admin) hands their approvals to `delegate` for a date range."""
    from apps.requests.models import Delegate

    def run() -> Any:
        with in_tenant(tenant), transaction.atomic():
            if not can_decide_for_tenant(user=actor, tenant=tenant):
                raise PermissionDenied(_("Only approvers and admins can name a delegate."))
            if delegate.pk == actor.pk:
                raise DomainError(_("Choose somebody else as your delegate."), code="invalid")
            if not Membership.objects.filter(user=delegate, is_active=True).exists():
                raise DomainError(
                    _("The delegate must be a member of this tenant."), code="invalid"
                )
            if ends_at <= starts_at:
                raise DomainError(_("The delegation must end after it starts."), code="invalid")
            row = Delegate.objects.create(
                tenant=tenant,
                delegator=actor,
                delegate=delegate,
                starts_at=starts_at,
                ends_at=ends_at,
                note=note.strip()[:200],
            )
            audit(
                "delegate.created",
                actor=actor,
                target=row,
                after={
                    "delegate": delegate.email,
                    "starts_at": starts_at.isoformat(),
                    "ends_at": ends_at.isoformat(),
                },
            )
            return row

    return refused(
        "delegate.refused",
        actor=actor,
        tenant=tenant,
        details={"delegate": getattr(delegate, "email", "")},
        run=run,
    )


def delegate_end(*, actor: Any, delegation: Any) -> None:
    """End a delegation now (only its owner)."""
    with in_tenant(delegation.tenant), transaction.atomic():
        if delegation.delegator_id != actor.pk:
            raise PermissionDenied(_("Only the person who delegated can end it."))
        now = timezone.now()
        type(delegation).objects.filter(pk=delegation.pk, ends_at__gt=now).update(
            ends_at=max(now, delegation.starts_at + timedelta(seconds=1))
        )
        audit("delegate.ended", actor=actor, target=delegation)
