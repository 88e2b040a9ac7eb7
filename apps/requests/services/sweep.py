"""The beat sweeper of the requests app (every SWEEP_INTERVAL_SECONDS, default 60 s).

Each timer is a column. A due row is claimed with a conditional UPDATE that clears the column
(or changes the status) only if it still holds the value read, so two workers never both act,
and a worker killed after the claim loses at most that one notice — never access control: the
grant's own expiry is apps.access's sweeper (`grants_expire_due`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.core.audit.services import audit_event_record
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import StaffRole, User, UserKind
from apps.requests.models import (
    OPEN_STATUSES,
    AccessRequest,
    ApprovalAssignment,
    ApprovalStep,
    AssignmentVia,
    RequestKind,
    RequestStatus,
    StepAudience,
    StepState,
)
from apps.requests.services.common import audit
from apps.requests.services.notify import (
    notice_rows,
    notices_save,
    notifications_email_due,
    notify,
)
from apps.requests.services.routing import (
    _fallbacks,
    route_plan,
    step_approvers,
)
from apps.tenants.models import Membership, Tenant, TenantRole

logger = logging.getLogger("custos.requests")


def _due(model: Any, column: str, now: datetime, limit: int, **extra: Any) -> list[Any]:
    with unscoped(reason=f"requests sweeper: due {model.__name__}.{column} of every tenant"):
        return list(
            model.objects.filter(**{f"{column}__lte": now}, **extra)
            .select_related("tenant")
            .order_by(column)[:limit]
        )


def steps_escalate_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Open steps past their SLA go to the fallback approver; the requester sees it."""
    now = now or timezone.now()
    count = 0
    for step in _due(ApprovalStep, "due_at", now, limit, state=StepState.OPEN):
        with tenant_context(step.tenant), transaction.atomic():
            claimed = ApprovalStep.objects.filter(
                pk=step.pk, due_at=step.due_at, state=StepState.OPEN
            ).update(due_at=None, remind_at=None, escalated_at=now)
            if not claimed:
                continue
            _escalate(step, now)
            count += 1
    return count


def _escalate(step: ApprovalStep, now: datetime) -> None:
    req = AccessRequest.objects.select_related("tenant", "requester", "on_behalf_of").get(
        pk=step.request_id
    )
    plan = route_plan(
        tenant=req.tenant,
        kind=RequestKind.VENDOR if req.kind != RequestKind.CUSTOMER else RequestKind.CUSTOMER,
        risk=req.risk,
    )
    excluded = {req.requester_id, req.beneficiary_id}
    current = {a.approver_id for a in ApprovalAssignment.objects.filter(step=step, active=True)}
    fallbacks = [
        u
        for u, _via in _fallbacks(tenant=req.tenant, audience=step.audience, plan=plan)
        if u.pk not in excluded
    ]
    if not fallbacks and step.audience == StepAudience.CUSTOMER:
        fallbacks = [
            m.user
            for m in Membership.objects.filter(
                role=TenantRole.CUSTOMER_ADMIN, is_active=True
            ).select_related("user")
            if m.user_id not in excluded
        ]
    new_ids = {u.pk for u in fallbacks}
    if not new_ids or new_ids == current:
        # Nobody else to escalate to: keep the current approvers, remind them again.
        notify(
            recipients=step_approvers(step),
            event="reminder",
            req=req,
            inbox=True,
            extra={"due": now},
        )
        audit(
            "access_request.escalation_failed",
            actor=None,
            req=req,
            outcome="failure",
            details={"step": step.label},
        )
        return
    ApprovalAssignment.objects.filter(step=step, active=True).exclude(
        approver_id__in=new_ids
    ).update(active=False, withdrawn_reason="escalated")
    existing = set(
        ApprovalAssignment.objects.filter(step=step).values_list("approver_id", flat=True)
    )
    ApprovalAssignment.objects.filter(step=step, approver_id__in=new_ids).update(
        active=True, withdrawn_reason=""
    )
    ApprovalAssignment.objects.bulk_create(
        [
            ApprovalAssignment(
                tenant_id=req.tenant_id,
                step=step,
                request=req,
                approver=u,
                via=AssignmentVia.FALLBACK,
                active=True,
            )
            for u in fallbacks
            if u.pk not in existing
        ]
    )
    ApprovalStep.objects.filter(pk=step.pk).update(escalated_to=fallbacks[0])
    step.quorum = min(step.quorum, len(fallbacks))
    ApprovalStep.objects.filter(pk=step.pk).update(quorum=max(1, min(step.quorum, len(new_ids))))
    AccessRequest.objects.filter(pk=req.pk).update(escalations=req.escalations + 1)
    audit(
        "access_request.escalated",
        actor=None,
        req=req,
        after={"step": step.label, "escalated_to": sorted(u.email for u in fallbacks)},
    )
    notify(recipients=fallbacks, event="escalated_to_you", req=req, inbox=True)
    notify(recipients=[req.requester], event="escalated", req=req, extra={"step": step.label})


def steps_remind_due(*, now: datetime | None = None, limit: int = 500) -> int:
    now = now or timezone.now()
    count = 0
    for step in _due(ApprovalStep, "remind_at", now, limit, state=StepState.OPEN):
        with tenant_context(step.tenant), transaction.atomic():
            if not ApprovalStep.objects.filter(pk=step.pk, remind_at=step.remind_at).update(
                remind_at=None
            ):
                continue
            req = AccessRequest.objects.select_related("tenant").get(pk=step.request_id)
            notify(
                recipients=step_approvers(step),
                event="reminder",
                req=req,
                inbox=True,
                extra={"due": step.due_at or now},
            )
            count += 1
    return count


def requests_expire_unanswered(*, now: datetime | None = None, limit: int = 500) -> int:
    """Requests nobody decided in time (vendor default 12 h) expire."""
    now = now or timezone.now()
    count = 0
    for req in _due(AccessRequest, "expires_unanswered_at", now, limit, status__in=OPEN_STATUSES):
        with tenant_context(req.tenant), transaction.atomic():
            claimed = AccessRequest.objects.filter(
                pk=req.pk, status__in=OPEN_STATUSES, expires_unanswered_at=req.expires_unanswered_at
            ).update(status=RequestStatus.EXPIRED, expires_unanswered_at=None, decided_at=now)
            if not claimed:
                continue
            ApprovalStep.objects.filter(
                request=req, state__in=(StepState.OPEN, StepState.WAITING)
            ).update(state=StepState.CANCELLED, due_at=None, remind_at=None, decided_at=now)
            ApprovalAssignment.objects.filter(request=req, active=True).update(active=False)
            audit(
                "access_request.expired",
                actor=None,
                req=req,
                before={"status": req.status},
                after={"status": RequestStatus.EXPIRED},
            )
            notify(recipients=[req.requester], event="expired", req=req)
            count += 1
    return count


def requests_activate_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Approved requests whose start window opened are shown as active."""
    now = now or timezone.now()
    count = 0
    for req in _due(AccessRequest, "activate_at", now, limit, status=RequestStatus.APPROVED):
        with tenant_context(req.tenant):
            count += AccessRequest.objects.filter(
                pk=req.pk, status=RequestStatus.APPROVED, activate_at=req.activate_at
            ).update(status=RequestStatus.ACTIVE, activate_at=None)
    return count


def requests_end_due(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Requests whose access window is over are ended, a tenant's batch at a time (the grant
    itself is ended — and audited per grant — by apps.access's sweeper; access stops at
    `expires_at` whatever either sweeper does, because the engine compares the time). Rows are
    claimed with SKIP LOCKED plus a conditional UPDATE; one audit event per batch lists them;
    the holders are notified."""
    now = now or timezone.now()
    live = (RequestStatus.ACTIVE, RequestStatus.APPROVED)
    with unscoped(reason="requests sweeper: ended access windows of every tenant"):
        due = list(
            AccessRequest.objects.filter(ends_at__lte=now, status__in=live)
            .order_by("ends_at")
            .values_list("pk", "tenant_id")[:limit]
        )
    by_tenant: dict[int, list[int]] = {}
    for pk, tenant_id in due:
        by_tenant.setdefault(tenant_id, []).append(pk)
    count = 0
    for tenant in Tenant.objects.filter(pk__in=by_tenant):
        with tenant_context(tenant), transaction.atomic():
            claim = AccessRequest.objects.filter(
                pk__in=by_tenant[tenant.pk], ends_at__lte=now, status__in=live
            )
            if connection.features.has_select_for_update_skip_locked:
                claim = claim.select_for_update(skip_locked=True, of=("self",))
            # A batch's requests share a few people and targets: one instance each (prefetch),
            # not one per row (select_related), when 100,000 requests end at once (issue 4).
            rows = list(claim.prefetch_related("requester", "on_behalf_of", "entitlement", "role"))
            for req in rows:
                req.tenant = tenant
            ids = [r.pk for r in rows]
            if not ids:
                continue
            AccessRequest.objects.filter(pk__in=ids, ends_at__lte=now, status__in=live).update(
                status=RequestStatus.ENDED,
                ends_at=None,
                activate_at=None,
                ended_at=now,
                end_reason="expired",
            )
            audit_event_record(
                action="access_request.ended",
                actor=None,
                target_type="requests.accessrequest",
                target_id=ids[0] if len(ids) == 1 else "",
                after={"status": RequestStatus.ENDED, "count": len(ids)},
                details={"reason": "expired", "requests": ids[:1000]},
            )
            notices = []
            for req in rows:
                req.status = RequestStatus.ENDED
                notices += notice_rows(
                    recipients=[req.requester, req.beneficiary],
                    event="ended",
                    req=req,
                    extra={"reason": "expired"},
                    now=now,
                )
            notices_save(notices)
            count += len(ids)
    return count


def break_glass_reviews_escalate_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Break-glass access nobody reviewed within 24 h: escalate to vendor security staff and
    the customer's admins."""
    now = now or timezone.now()
    count = 0
    for req in _due(AccessRequest, "review_due_at", now, limit, reviewed_at__isnull=True):
        with tenant_context(req.tenant), transaction.atomic():
            claimed = AccessRequest.objects.filter(
                pk=req.pk, review_due_at=req.review_due_at
            ).update(review_due_at=None, review_escalated_at=now)
            if not claimed:
                continue
            security = list(
                User.objects.filter(
                    kind=UserKind.STAFF, staff_role=StaffRole.SECURITY, is_active=True
                )
            )
            admins = [
                m.user
                for m in Membership.objects.filter(
                    role=TenantRole.CUSTOMER_ADMIN, is_active=True
                ).select_related("user")
            ]
            req.refresh_from_db()
            audit("break_glass.review_overdue", actor=None, req=req, outcome="failure")
            notify(recipients=security + admins, event="review_overdue", req=req)
            count += 1
    return count


def requests_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Everything due, in one beat task."""
    now = now or timezone.now()
    return {
        "reminded": steps_remind_due(now=now),
        "escalated": steps_escalate_due(now=now),
        "expired": requests_expire_unanswered(now=now),
        "activated": requests_activate_due(now=now),
        "ended": requests_end_due(now=now),
        "reviews_escalated": break_glass_reviews_escalate_due(now=now),
        "emails": notifications_email_due(now=now),
    }


__all__ = ["Tenant", "requests_sweep"]
