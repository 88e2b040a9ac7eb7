"""Submitting a request: eligibility, duration, justification, routing, notifications."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.exceptions import Conflict, DomainError, PermissionDenied
from apps.requests import policy
from apps.requests.models import (
    OPEN_STATUSES,
    AccessRequest,
    ApprovalStep,
    PreApproval,
    PreApprovalCondition,
    RequestKind,
    RequestStatus,
    StepAudience,
    StepState,
    TicketBinding,
    TicketStatus,
)
from apps.requests.services.common import audit, in_tenant, refused, tenant_open_check
from apps.requests.services.notify import notify
from apps.requests.services.routing import route_plan, step_approvers, steps_create
from apps.tenants.models import ADMIN_ROLES, Membership, Tenant

MIN_HIGH_RISK_CHARS = 40
MIN_HIGH_RISK_WORDS = 6
_FILLER = {
    "need access",
    "needed",
    "please",
    "pls",
    "asap",
    "for work",
    "work",
    "test",
    "testing",
    "access",
    "n/a",
    "na",
    "tbd",
    "todo",
}


def justification_problem(text: str, *, high_risk: bool, vendor: bool = False) -> str | None:
    """Why a justification is not good enough, or None. High-risk requests need a real
    sentence: enough words, not a filler phrase, not a keyboard mash."""
    text = " ".join((text or "").split())
    if not text:
        return _("A business justification is required.")
    if not (high_risk or vendor):
        return None
    words = re.findall(r"[^\W\d_]{2,}", text)
    if text.lower().strip(".! ") in _FILLER:
        return _("Say what you will do and why; a filler phrase is not a justification.")
    if len(text) < MIN_HIGH_RISK_CHARS or len(words) < MIN_HIGH_RISK_WORDS:
        return _(
            "High-risk access needs a justification of at least %(words)d words and "
            "%(chars)d characters: what you will do, on what, and why now."
        ) % {"words": MIN_HIGH_RISK_WORDS, "chars": MIN_HIGH_RISK_CHARS}
    if len(set(text.lower())) < 8 or len({w.lower() for w in words}) < len(words) // 2:
        return _("The justification looks like filler; describe the task in your own words.")
    return None


def _reuse_window() -> timedelta:
    return timedelta(hours=getattr(settings, "REQUESTS_APPROVAL_REUSE_HOURS", 24))


def _same_scope(qs: Any, *, beneficiary_id: int, entitlement: Any, role: Any) -> Any:
    qs = qs.filter(requester_id=beneficiary_id, on_behalf_of__isnull=True) | qs.filter(
        on_behalf_of_id=beneficiary_id
    )
    if entitlement is not None:
        return qs.filter(entitlement=entitlement)
    return qs.filter(role=role)


def _membership(tenant: Tenant, user: Any) -> Membership | None:
    return Membership.objects.for_tenant(tenant).filter(user=user, is_active=True).first()


def _pre_approval(req: AccessRequest) -> PreApproval | None:
    """A customer pre-approval covering this request (its customer steps are skipped)."""
    target = req.target
    level = policy.target_level(target)
    environments = policy.target_environments(target)
    candidates = PreApproval.objects.filter(active=True, kind=req.kind).order_by("pk")
    for pre in candidates:
        if not policy.level_at_most(level, pre.max_level):
            continue
        if not policy.risk_at_most(req.risk, pre.max_risk):
            continue
        if req.duration > pre.max_duration:
            continue
        if pre.environment_id and any(e.pk != pre.environment_id for e in environments):
            continue
        if pre.condition == PreApprovalCondition.SEV1_TICKET:
            if not req.ticket_ref:
                continue
            ticket = TicketBinding.objects.filter(ticket_ref=req.ticket_ref).first()
            if (
                ticket is None
                or ticket.status != TicketStatus.OPEN
                or ticket.severity.lower().replace("-", "") not in ("sev1", "1", "critical")
            ):
                continue
        return pre
    return None


def access_request_submit(
    *,
    actor: Any,
    tenant: Tenant,
    entitlement: Any = None,
    role: Any = None,
    duration: timedelta,
    justification: str,
    ticket_ref: str = "",
    ticket_bound: bool = False,
    on_behalf_of: Any = None,
    start_after: datetime | None = None,
    start_before: datetime | None = None,
    extends: AccessRequest | None = None,
    kind: str = RequestKind.CUSTOMER,
) -> AccessRequest:
    """Submit a request. Returns the new request (pending, or approved at once when a
    still-valid approval or a pre-approval covers it), or the caller's identical open request
    (a double submit creates nothing). Refusals raise DomainError and are audited."""
    target = entitlement if entitlement is not None else role
    details = {
        "target": str(target) if target is not None else "",
        "duration": str(duration),
        "kind": kind,
        "on_behalf_of": getattr(on_behalf_of, "email", ""),
    }

    def run() -> AccessRequest:
        with in_tenant(tenant), transaction.atomic():
            return _submit(
                actor=actor,
                tenant=tenant,
                entitlement=entitlement,
                role=role,
                duration=duration,
                justification=justification,
                ticket_ref=ticket_ref.strip(),
                ticket_bound=ticket_bound,
                on_behalf_of=on_behalf_of,
                start_after=start_after,
                start_before=start_before,
                extends=extends,
                kind=kind,
            )

    return refused("access_request.refused", actor=actor, tenant=tenant, details=details, run=run)


def _submit(
    *,
    actor: Any,
    tenant: Tenant,
    entitlement: Any,
    role: Any,
    duration: timedelta,
    justification: str,
    ticket_ref: str,
    ticket_bound: bool,
    on_behalf_of: Any,
    start_after: datetime | None,
    start_before: datetime | None,
    extends: AccessRequest | None,
    kind: str,
) -> AccessRequest:
    tenant.refresh_from_db(fields=["status"])
    tenant_open_check(tenant, kind=kind)
    if (entitlement is None) == (role is None):
        raise DomainError(_("Choose exactly one entitlement or role."), code="invalid_target")
    target = entitlement if entitlement is not None else role
    if target.tenant_id != tenant.pk:
        raise DomainError(_("This item is not in your eligible catalog."), code="not_eligible")
    vendor = kind == RequestKind.VENDOR
    if vendor:
        if not actor.is_vendor_staff:
            raise PermissionDenied(_("Only vendor staff can ask for vendor access."))
        if on_behalf_of is not None:
            raise DomainError(_("Vendor access is always for yourself."), code="invalid")
        if not ticket_ref:
            raise DomainError(
                _("Vendor access needs the support ticket it is for."), code="ticket_required"
            )
    else:
        membership = _membership(tenant, actor)
        if membership is None:
            raise PermissionDenied(_("You are not a member of this tenant."))
        if on_behalf_of is not None and on_behalf_of.pk != actor.pk:
            other = _membership(tenant, on_behalf_of)
            if other is None:
                raise DomainError(
                    _("%(user)s is not a member of this tenant.") % {"user": on_behalf_of},
                    code="invalid",
                )
            if membership.role not in ADMIN_ROLES and other.manager_id != actor.pk:
                raise PermissionDenied(
                    _("You can ask on behalf of the people you manage only."),
                )
        else:
            on_behalf_of = None
    beneficiary = on_behalf_of or actor

    elig = policy.eligibility(user=beneficiary, target=target, tenant=tenant, vendor=vendor)
    if not elig.eligible:
        raise DomainError(
            _("This item is not in your eligible catalog: %(reasons)s")
            % {"reasons": "; ".join(elig.reasons)},
            code="not_eligible",
        )
    risk = policy.target_risk(target)
    limit = policy.max_duration(tenant=tenant, risk=risk, vendor=vendor)
    if duration <= timedelta(0):
        raise DomainError(_("The duration must be positive."), code="invalid_duration")
    if duration > limit:
        raise DomainError(
            _("The longest allowed duration for this item is %(limit)s.")
            % {"limit": _human_duration(limit)},
            code="duration_too_long",
        )
    problem = justification_problem(
        justification, high_risk=policy.is_high_risk(risk), vendor=vendor
    )
    if problem:
        raise DomainError(problem, code="justification")
    now = timezone.now()
    if start_before is not None and start_before <= now:
        raise DomainError(_("The start window has closed already."), code="invalid_window")
    if start_after is not None and start_before is not None and start_before <= start_after:
        raise DomainError(_("The start window must close after it opens."), code="invalid_window")
    if start_after is not None and start_after > now + timedelta(days=60):
        raise DomainError(
            _("The start window may open at most 60 days ahead."), code="invalid_window"
        )
    if start_after is not None and start_after <= now:
        start_after = None

    # One look at the same person's requests for this scope: a double submit returns the open
    # request, held access is refused, a relinquished approval may be reused (below).
    same_scope = list(
        _same_scope(
            AccessRequest.objects.all(),
            beneficiary_id=beneficiary.pk,
            entitlement=entitlement,
            role=role,
        )
        .filter(
            status__in=(
                *OPEN_STATUSES,
                RequestStatus.APPROVED,
                RequestStatus.ACTIVE,
                RequestStatus.ENDED,
            )
        )
        .filter(submitted_at__gte=now - timedelta(days=90))
        .order_by("-pk")[:20]
    )
    existing = next((r for r in same_scope if r.status in OPEN_STATUSES), None)
    if existing is not None:
        existing.was_existing = True  # type: ignore[attr-defined]
        return existing
    live = next(
        (r for r in same_scope if r.status in (RequestStatus.APPROVED, RequestStatus.ACTIVE)), None
    )
    if live is not None and extends is None:
        raise Conflict(
            _("You already hold this access until %(until)s (request #%(id)s).")
            % {"until": _when(live.access_until), "id": live.pk},
            code="already_granted",
        )

    req = AccessRequest.objects.create(
        tenant=tenant,
        requester=actor,
        on_behalf_of=on_behalf_of,
        kind=kind,
        entitlement=entitlement,
        role=role,
        risk=risk,
        duration=duration,
        requested_duration=duration,
        start_after=start_after,
        start_before=start_before,
        justification=justification.strip(),
        ticket_ref=ticket_ref,
        ticket_bound=bool(ticket_bound and ticket_ref),
        status=RequestStatus.SUBMITTED,
        submitted_at=now,
        extends=extends,
    )
    audit(
        "access_request.submitted",
        actor=actor,
        req=req,
        after={
            "target": str(target),
            "risk": risk,
            "duration": str(duration),
            "start_after": start_after.isoformat() if start_after else "",
            "start_before": start_before.isoformat() if start_before else "",
            "ticket_ref": ticket_ref,
            "kind": kind,
        },
        details={"justification": req.justification[:500]},
    )

    # A still-valid approval for the same scope (e.g. relinquished early) is reused.
    reusable = next(
        (
            r
            for r in sorted(same_scope, key=lambda r: r.decided_at or now, reverse=True)
            if r.status == RequestStatus.ENDED
            and r.end_reason == "relinquished"
            and r.kind != RequestKind.BREAK_GLASS
            and r.access_until is not None
            and r.access_until > now
            and r.decided_at is not None
            and r.decided_at >= now - _reuse_window()
            and r.duration >= duration
        ),
        None,
    )
    if reusable is not None and start_after is None:
        from apps.requests.services.decide import finalize_approval

        req.reused_from = reusable
        req.duration = min(duration, reusable.access_until - now)  # type: ignore[operator]
        req.save(update_fields=["reused_from", "duration"])
        audit(
            "access_request.approval_reused",
            actor=actor,
            req=req,
            details={"reused_request": reusable.pk},
        )
        return finalize_approval(actor=actor, req=req, now=now)

    plan = route_plan(tenant=tenant, kind=kind, risk=risk)
    pre = _pre_approval(req)
    skip = ""
    if pre is not None:
        req.pre_approval = pre
        skip = StepAudience.CUSTOMER
        audit(
            "access_request.pre_approved",
            actor=actor,
            req=req,
            details={"pre_approval": pre.pk, "name": pre.name},
        )
    steps = steps_create(req=req, plan=plan, skip_audience=skip)
    opened = [s for s in steps if s.state == StepState.OPEN]
    if vendor:
        expiry = policy.vendor_unanswered_expiry()
    else:
        expiry = plan.unanswered_expiry or timedelta(days=7)
    expires = now + expiry
    if start_before is not None:
        expires = min(expires, start_before)
    req.expires_unanswered_at = expires
    req.sla_due_at = min((s.due_at for s in opened if s.due_at), default=None)
    if not opened:
        req.save(update_fields=["expires_unanswered_at", "sla_due_at", "pre_approval"])
        from apps.requests.services.decide import finalize_approval

        return finalize_approval(actor=actor, req=req, now=now)
    req.status = RequestStatus.PENDING
    req.save(update_fields=["status", "expires_unanswered_at", "sla_due_at", "pre_approval"])
    notify_opened(req=req, steps=opened)
    return req


def notify_opened(*, req: AccessRequest, steps: list[ApprovalStep]) -> None:
    for step in steps:
        if step.state != StepState.OPEN:
            continue
        event = (
            "vendor_approval_needed"
            if req.kind == RequestKind.VENDOR and step.audience == StepAudience.CUSTOMER
            else "approval_needed"
        )
        people = [p[0] for p in getattr(step, "_people", ())] or step_approvers(step)
        notify(recipients=people, event=event, req=req, inbox=True, step=step)


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def _human_duration(value: timedelta) -> str:
    hours = int(value.total_seconds() // 3600)
    if hours % 24 == 0 and hours >= 24:
        return _("%(n)d days") % {"n": hours // 24}
    return _("%(n)d hours") % {"n": hours}
