"""Routing: which steps a request goes through and who may decide each one.

A tenant's `RoutingPolicy` for the request kind and risk wins; otherwise the defaults below
(resource owner; high risk adds the security team; vendor staff first go to the support manager,
then to the customer's approvers). The requester and the person who gets the access are never
assigned (self-approval is impossible by construction, and refused again at decision time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.core.exceptions import DomainError
from apps.identity.models import User, UserKind
from apps.requests.models import (
    AccessRequest,
    ApprovalAssignment,
    ApprovalStep,
    AssignmentVia,
    Delegate,
    RequestKind,
    RoutingPolicy,
    StepAudience,
    StepState,
)
from apps.requests.policy import is_high_risk, target_environments
from apps.tenants.models import Membership, TenantRole

DEFAULT_SLA = timedelta(hours=24)
DEFAULT_REMIND_BEFORE = timedelta(hours=4)

LABEL_OWNER = gettext_noop("Resource owner")
LABEL_PEER = gettext_noop("Peer review")
LABEL_SECURITY = gettext_noop("Security team")
LABEL_SUPPORT_MANAGER = gettext_noop("Support manager")
LABEL_CUSTOMER = gettext_noop("Customer approver")


@dataclass
class StepPlan:
    label: str
    approvers: list[str]
    order: int = 1
    quorum: int = 1
    audience: str = StepAudience.CUSTOMER


@dataclass
class RoutePlan:
    steps: list[StepPlan]
    sla: timedelta = DEFAULT_SLA
    remind_before: timedelta = DEFAULT_REMIND_BEFORE
    fallback: Any = None
    unanswered_expiry: timedelta | None = None
    show_names: bool = False
    policy: RoutingPolicy | None = None
    assignees: dict[int, list[tuple[Any, str, Any]]] = field(default_factory=dict)


def _default_steps(kind: str, risk: str) -> list[StepPlan]:
    if kind == RequestKind.VENDOR:
        return [
            StepPlan(LABEL_SUPPORT_MANAGER, ["staff:support_manager"], 1, 1, StepAudience.VENDOR),
            StepPlan(LABEL_CUSTOMER, ["role:approver", "role:customer_admin"], 2, 1),
        ]
    if is_high_risk(risk):
        return [
            StepPlan(LABEL_PEER, ["owner", "role:approver"], 1, 1),
            StepPlan(LABEL_SECURITY, ["role:customer_admin"], 2, 1),
        ]
    return [StepPlan(LABEL_OWNER, ["owner", "role:approver"], 1, 1)]


def route_plan(*, tenant: Any, kind: str, risk: str) -> RoutePlan:
    policy = RoutingPolicy.objects.for_tenant(tenant).filter(kind=kind, risk=risk).first()
    if policy is None or not policy.steps:
        plan = RoutePlan(steps=_default_steps(kind, risk))
        if policy is not None:
            _apply_policy_settings(plan, policy)
        return plan
    steps = [
        StepPlan(
            label=str(item.get("label") or LABEL_CUSTOMER),
            approvers=[str(a) for a in item.get("approvers", [])],
            order=int(item.get("order", index + 1)),
            quorum=max(1, int(item.get("quorum", 1))),
            audience=str(item.get("audience", StepAudience.CUSTOMER)),
        )
        for index, item in enumerate(policy.steps)
    ]
    plan = RoutePlan(steps=steps)
    _apply_policy_settings(plan, policy)
    return plan


def _apply_policy_settings(plan: RoutePlan, policy: RoutingPolicy) -> None:
    plan.policy = policy
    plan.sla = policy.sla
    plan.remind_before = policy.remind_before
    plan.fallback = policy.fallback_approver
    plan.unanswered_expiry = policy.unanswered_expiry
    plan.show_names = policy.show_approver_names


def _members_with_roles(tenant: Any, roles: list[str]) -> list[Any]:
    return [
        m.user
        for m in Membership.objects.for_tenant(tenant)
        .filter(role__in=roles, is_active=True, user__is_active=True)
        .select_related("user")
        .order_by("user_id")
    ]


def _resolve(spec: str, *, tenant: Any, target: Any) -> list[tuple[Any, str]]:
    kind, _sep, value = spec.partition(":")
    if kind == "owner":
        owners = [env.owner for env in target_environments(target) if env.owner_id]
        member_ids = set(
            Membership.objects.for_tenant(tenant)
            .filter(user__in=owners, is_active=True)
            .values_list("user_id", flat=True)
        )
        return [(u, AssignmentVia.OWNER) for u in owners if u.pk in member_ids and u.is_active]
    if kind == "role":
        return [(u, AssignmentVia.ROLE) for u in _members_with_roles(tenant, [value])]
    if kind == "user":
        user = User.objects.filter(email__iexact=value, is_active=True).first()
        if user is None:
            return []
        if user.kind == UserKind.STAFF:
            return [(user, AssignmentVia.USER)]
        is_member = Membership.objects.for_tenant(tenant).filter(user=user, is_active=True).exists()
        return [(user, AssignmentVia.USER)] if is_member else []
    if kind == "staff":
        staff = User.objects.filter(kind=UserKind.STAFF, staff_role=value, is_active=True)
        return [(u, AssignmentVia.STAFF) for u in staff.order_by("pk")]
    return []


def _fallbacks(*, tenant: Any, audience: str, plan: RoutePlan) -> list[tuple[Any, str]]:
    if plan.fallback is not None and plan.fallback.is_active:
        return [(plan.fallback, AssignmentVia.FALLBACK)]
    if audience == StepAudience.VENDOR:
        staff = User.objects.filter(
            kind=UserKind.STAFF, staff_role__in=["support_manager", "security"], is_active=True
        ).order_by("pk")
        return [(u, AssignmentVia.FALLBACK) for u in staff]
    return [
        (u, AssignmentVia.FALLBACK)
        for u in _members_with_roles(tenant, [TenantRole.CUSTOMER_ADMIN])
    ]


def _delegates_for(*, tenant: Any, user_ids: list[int], at: Any) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = {}
    rows = (
        Delegate.objects.for_tenant(tenant)
        .filter(delegator_id__in=user_ids, starts_at__lte=at, ends_at__gt=at)
        .select_related("delegate")
    )
    for row in rows:
        if row.delegate.is_active:
            found.setdefault(row.delegator_id, []).append(row.delegate)
    return found


def steps_create(
    *, req: AccessRequest, plan: RoutePlan, skip_audience: str = ""
) -> list[ApprovalStep]:
    """Create the request's steps and assignments; open the first order. Raises DomainError
    when a step would have nobody to decide it (nobody should wait on an approver that cannot
    act). `skip_audience` skips the steps of one audience (a customer pre-approval)."""
    excluded = {req.requester_id, req.beneficiary_id}
    target = req.target
    now = timezone.now()
    steps: list[ApprovalStep] = []
    assignments: list[ApprovalAssignment] = []
    for step_plan in sorted(plan.steps, key=lambda s: s.order):
        skipped = bool(skip_audience) and step_plan.audience == skip_audience
        step = ApprovalStep(
            tenant_id=req.tenant_id,
            request=req,
            order=step_plan.order,
            label=step_plan.label,
            audience=step_plan.audience,
            quorum=step_plan.quorum,
            sla=plan.sla,
            state=StepState.SKIPPED if skipped else StepState.WAITING,
            decided_at=now if skipped else None,
        )
        steps.append(step)
        if skipped:
            continue
        people: dict[int, tuple[Any, str, Any]] = {}
        for spec in step_plan.approvers:
            for user, via in _resolve(spec, tenant=req.tenant, target=target):
                if user.pk not in excluded:
                    people.setdefault(user.pk, (user, via, None))
        if not people:
            fallbacks = _fallbacks(tenant=req.tenant, audience=step_plan.audience, plan=plan)
            for user, via in fallbacks:
                if user.pk not in excluded:
                    people.setdefault(user.pk, (user, via, None))
        if not people:
            raise DomainError(
                _("Nobody is allowed to approve the step “%(step)s” of this request.")
                % {"step": _(step_plan.label)},
                code="no_approver",
            )
        principals = len(people)
        for delegator_id, deputies in _delegates_for(
            tenant=req.tenant, user_ids=list(people), at=now
        ).items():
            delegator = people[delegator_id][0]
            for deputy in deputies:
                if deputy.pk not in excluded and deputy.pk not in people:
                    people[deputy.pk] = (deputy, AssignmentVia.DELEGATE, delegator)
        step.quorum = min(step.quorum, principals)
        step._people = list(people.values())  # type: ignore[attr-defined]
    # The first order that is not skipped opens at once (no second pass over the rows).
    first = min((s.order for s in steps if s.state == StepState.WAITING), default=None)
    for step in steps:
        if step.order == first:
            due = now + step.sla
            remind = due - plan.remind_before if plan.remind_before else None
            step.state, step.opened_at, step.due_at = StepState.OPEN, now, due
            step.remind_at = remind if remind is not None and remind > now else None
    ApprovalStep.objects.bulk_create(steps)
    for step in steps:
        for user, via, on_behalf_of in getattr(step, "_people", []):
            assignments.append(
                ApprovalAssignment(
                    tenant_id=req.tenant_id,
                    step=step,
                    request=req,
                    approver=user,
                    via=via,
                    on_behalf_of=on_behalf_of,
                    active=step.state == StepState.OPEN,
                )
            )
    ApprovalAssignment.objects.bulk_create(assignments)
    return steps


def open_next_steps(
    *, req: AccessRequest, plan_remind_before: timedelta | None = None
) -> list[ApprovalStep]:
    """Open the lowest waiting order once everything below it is approved or skipped. Returns
    the steps opened now (empty when nothing waits: the chain is complete)."""
    steps = list(ApprovalStep.objects.filter(request=req).order_by("order", "id"))
    pending = [s for s in steps if s.state in (StepState.WAITING, StepState.OPEN)]
    if not pending or any(s.state == StepState.OPEN for s in pending):
        return []
    order = min(s.order for s in pending)
    now = timezone.now()
    remind_before = plan_remind_before if plan_remind_before is not None else DEFAULT_REMIND_BEFORE
    opened = []
    for step in pending:
        if step.order != order:
            continue
        due = now + step.sla
        remind = due - remind_before if remind_before and due - remind_before > now else None
        ApprovalStep.objects.filter(pk=step.pk, state=StepState.WAITING).update(
            state=StepState.OPEN, opened_at=now, due_at=due, remind_at=remind
        )
        ApprovalAssignment.objects.filter(step=step).filter(
            Q(withdrawn_reason="") | Q(withdrawn_reason__isnull=True)
        ).update(active=True)
        step.state, step.opened_at, step.due_at, step.remind_at = StepState.OPEN, now, due, remind
        opened.append(step)
    return opened


def step_approvers(step: ApprovalStep) -> list[Any]:
    return [
        a.approver
        for a in ApprovalAssignment.objects.filter(step=step, active=True).select_related(
            "approver"
        )
    ]
