"""Deciding a request: approve (possibly shortened or narrowed) or deny, one step at a time,
and turning a fully approved request into a grant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.exceptions import Conflict, DomainError, PermissionDenied
from apps.requests import policy
from apps.requests.models import (
    AccessRequest,
    ApprovalAssignment,
    ApprovalDecision,
    ApprovalStep,
    DecisionKind,
    RequestKind,
    RequestStatus,
    StepState,
)
from apps.requests.services.common import (
    audit,
    grant_for_request,
    in_tenant,
    refused,
    tenant_open_check,
)
from apps.requests.services.notify import notify
from apps.requests.services.routing import open_next_steps
from apps.tenants.models import Tenant


def finalize_approval(
    *, actor: Any, req: AccessRequest, now: datetime | None = None
) -> AccessRequest:
    """Every step is approved (or skipped): create the grant. The duration counts from now or
    from the start window the requester chose, never from submission."""
    now = now or timezone.now()
    starts = max(now, req.start_after) if req.start_after else now
    expires = starts + req.duration
    grant = grant_for_request(actor=actor, req=req, starts_at=starts, expires_at=expires)
    active = starts <= now
    AccessRequest.objects.filter(pk=req.pk).update(
        status=RequestStatus.ACTIVE if active else RequestStatus.APPROVED,
        grant=grant,
        decided_at=now,
        granted_at=now,
        first_decision_at=req.first_decision_at or now,
        expires_unanswered_at=None,
        activate_at=None if active else starts,
        ends_at=expires,
        access_until=expires,
    )
    req.refresh_from_db()
    audit(
        "access_request.granted",
        actor=actor,
        req=req,
        after={
            "grant": getattr(grant, "pk", None),
            "starts_at": starts.isoformat(),
            "expires_at": expires.isoformat(),
            "status": req.status,
        },
    )
    recipients = [req.requester, req.beneficiary]
    notify(
        recipients=recipients,
        event="granted",
        req=req,
        extra={"starts": starts, "ends": expires},
    )
    return req


@dataclass(frozen=True)
class DecisionChanges:
    duration: timedelta | None = None
    entitlement: Any = None


def _assignment_for(req: AccessRequest, actor: Any) -> ApprovalAssignment:
    """The actor's actionable assignment on an open step, or a precise refusal."""
    mine = list(
        ApprovalAssignment.objects.filter(request=req, approver=actor)
        .select_related("step")
        .order_by("step__order")
    )
    for assignment in mine:
        if assignment.active and assignment.step.state == StepState.OPEN:
            return assignment
    for assignment in mine:
        if assignment.step.state == StepState.OPEN and assignment.withdrawn_reason == "escalated":
            raise PermissionDenied(
                _(
                    "This step was escalated to another approver after its deadline; you can "
                    "no longer decide it."
                ),
                code="escalated_away",
            )
    if any(
        ApprovalDecision.objects.filter(step_id=a.step_id, approver=actor).exists() for a in mine
    ):
        raise Conflict(_("You have decided this request already."), code="already_decided")
    raise PermissionDenied(
        _("You are not an approver of the current step of this request."), code="not_approver"
    )


def access_request_decide(
    *,
    actor: Any,
    req: AccessRequest,
    decision: str,
    reason: str = "",
    duration: timedelta | None = None,
    entitlement: Any = None,
    via_link: bool = False,
) -> AccessRequest:
    """Approve or deny the actor's current step of `req`. Approving the last step creates the
    grant. Refused (and audited): self-approval, a step escalated away, a second decision, a
    request no longer pending, an SoD conflict, a tenant that is isolated or terminated."""
    tenant: Tenant = req.tenant
    details = {"request": str(req.pk), "decision": decision, "via_link": via_link}

    def run() -> AccessRequest:
        with in_tenant(tenant), transaction.atomic():
            return _decide(
                actor=actor,
                req_id=req.pk,
                decision=decision,
                reason=reason.strip(),
                changes=DecisionChanges(duration=duration, entitlement=entitlement),
                via_link=via_link,
            )

    return refused(
        "access_request.decision_refused", actor=actor, tenant=tenant, details=details, run=run
    )


def _decide(
    *,
    actor: Any,
    req_id: int,
    decision: str,
    reason: str,
    changes: DecisionChanges,
    via_link: bool,
) -> AccessRequest:
    if decision not in DecisionKind.values:
        raise DomainError(_("Unknown decision."), code="invalid")
    # The row lock serialises deciders of one request (PostgreSQL); SQLite serialises writers.
    req = (
        AccessRequest.objects.select_for_update(of=("self",))
        .select_related("tenant", "requester", "on_behalf_of", "entitlement", "role")
        .get(pk=req_id)
    )
    tenant_open_check(req.tenant, kind=req.kind)
    if actor.pk in (req.requester_id, req.beneficiary_id):
        raise PermissionDenied(
            _("You cannot decide your own request; another approver has to."),
            code="self_approval",
        )
    if req.status != RequestStatus.PENDING:
        raise Conflict(
            _("This request is %(status)s; there is nothing left to decide.")
            % {"status": req.get_status_display().lower()},
            code="not_pending",
        )
    assignment = _assignment_for(req, actor)
    step = assignment.step
    if decision == DecisionKind.DENY and not reason:
        raise DomainError(_("Say why you deny the request."), code="reason_required")
    now = timezone.now()
    applied: dict[str, Any] = {}
    if decision == DecisionKind.APPROVE:
        applied = _apply_changes(req=req, step=step, changes=changes)
        conflicts = policy.sod_conflicts(user=req.beneficiary, target=req.target, tenant=req.tenant)
        if conflicts:
            raise DomainError(
                _("Approving would break a separation-of-duties rule: %(rules)s")
                % {"rules": "; ".join(conflicts)},
                code="sod_violation",
            )
    try:
        with transaction.atomic():
            ApprovalDecision.objects.create(
                tenant_id=req.tenant_id,
                step=step,
                approver=actor,
                decision=decision,
                reason=reason,
                at=now,
                via_link=via_link,
                changes={k: str(v) for k, v in applied.items()},
            )
    except IntegrityError:
        raise Conflict(
            _("You have decided this request already."), code="already_decided"
        ) from None
    principal = assignment.on_behalf_of_id or actor.pk
    ApprovalAssignment.objects.filter(step=step).filter(
        Q(approver=actor) | Q(approver_id=principal) | Q(on_behalf_of_id=principal)
    ).update(active=False)
    first = req.first_decision_at is None
    if first:
        AccessRequest.objects.filter(pk=req.pk).update(first_decision_at=now)
        req.first_decision_at = now

    if decision == DecisionKind.DENY:
        ApprovalStep.objects.filter(pk=step.pk).update(
            state=StepState.DENIED, decided_at=now, due_at=None, remind_at=None
        )
        _close_open_steps(req, now)
        AccessRequest.objects.filter(pk=req.pk).update(
            status=RequestStatus.DENIED,
            decided_at=now,
            decision_reason=reason,
            expires_unanswered_at=None,
        )
        req.refresh_from_db()
        audit(
            "access_request.denied",
            actor=actor,
            req=req,
            before={"status": RequestStatus.PENDING},
            after={"status": RequestStatus.DENIED, "step": step.label},
            details={"reason": reason, "via_link": via_link},
        )
        notify(recipients=[req.requester, req.beneficiary], event="denied", req=req)
        return req

    ApprovalStep.objects.filter(pk=step.pk).update(approvals=F("approvals") + 1)
    step.refresh_from_db()
    audit(
        "access_request.step_approved",
        actor=actor,
        req=req,
        after={
            "step": step.label,
            "approvals": step.approvals,
            "quorum": step.quorum,
            **{k: str(v) for k, v in applied.items()},
        },
        details={
            "reason": reason,
            "via_link": via_link,
            "deputising_for": assignment.on_behalf_of_id,
        },
    )
    if reason:
        AccessRequest.objects.filter(pk=req.pk).update(decision_reason=reason)
        req.decision_reason = reason
    if step.approvals < step.quorum:
        return req
    ApprovalStep.objects.filter(pk=step.pk, state=StepState.OPEN).update(
        state=StepState.APPROVED, decided_at=now, due_at=None, remind_at=None
    )
    ApprovalAssignment.objects.filter(step=step).update(active=False)
    opened = open_next_steps(req=req)
    if opened:
        from apps.requests.services.submit import notify_opened

        AccessRequest.objects.filter(pk=req.pk).update(
            sla_due_at=min(s.due_at for s in opened if s.due_at)
        )
        notify_opened(req=req, steps=opened)
        req.refresh_from_db()
        return req
    if (
        ApprovalStep.objects.filter(request=req)
        .exclude(state__in=(StepState.APPROVED, StepState.SKIPPED))
        .exists()
    ):
        return req
    return finalize_approval(actor=actor, req=req, now=now)


def _apply_changes(
    *, req: AccessRequest, step: ApprovalStep, changes: DecisionChanges
) -> dict[str, Any]:
    applied: dict[str, Any] = {}
    if changes.duration is not None and changes.duration != req.duration:
        if not step.allow_narrowing:
            raise DomainError(_("This step cannot change the duration."), code="invalid")
        if changes.duration <= timedelta(0) or changes.duration > req.duration:
            raise DomainError(
                _("An approver can shorten the duration, not lengthen it."), code="invalid_duration"
            )
        applied["duration"] = changes.duration
        req.duration = changes.duration
    if changes.entitlement is not None and changes.entitlement != req.entitlement:
        if not step.allow_narrowing or req.entitlement_id is None:
            raise DomainError(_("This request cannot be narrowed."), code="invalid")
        allowed = {e.pk for e in policy.narrower_entitlements(req.entitlement)}
        if changes.entitlement.pk not in allowed:
            raise DomainError(
                _("You can narrow the request to a lower level of the same environment only."),
                code="invalid_scope",
            )
        applied["entitlement"] = changes.entitlement
        req.original_entitlement = req.original_entitlement or req.entitlement
        req.entitlement = changes.entitlement
    if applied:
        req.save(update_fields=["duration", "entitlement", "original_entitlement"])
    return applied


def _close_open_steps(req: AccessRequest, now: datetime) -> None:
    ApprovalStep.objects.filter(request=req, state__in=(StepState.OPEN, StepState.WAITING)).update(
        state=StepState.CANCELLED, decided_at=now, due_at=None, remind_at=None
    )
    ApprovalAssignment.objects.filter(request=req, active=True).update(active=False)


def access_requests_bulk_approve(
    *, actor: Any, requests: list[AccessRequest], reason: str = ""
) -> dict[str, list[Any]]:
    """Approve several requests; each is decided on its own (one refusal does not undo the
    others). Returns {"approved": [...], "refused": [(request, message)]}."""
    done: list[Any] = []
    failed: list[Any] = []
    for req in requests:
        try:
            access_request_decide(
                actor=actor, req=req, decision=DecisionKind.APPROVE, reason=reason
            )
            done.append(req)
        except DomainError as exc:
            failed.append((req, exc.message))
    return {"approved": done, "refused": failed}


def request_kind_is_vendor(req: AccessRequest) -> bool:
    return req.kind in (RequestKind.VENDOR, RequestKind.BREAK_GLASS)
