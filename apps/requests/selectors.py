"""Reads of the requests app, with their joins done (constant query counts per page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.core.tenancy import unscoped
from apps.requests import policy
from apps.requests.models import (
    AccessRequest,
    ApprovalAssignment,
    ApprovalDecision,
    ApprovalStep,
    Notification,
    RequestKind,
    RequestStatus,
    RoutingPolicy,
    StepState,
)
from apps.tenants.models import Tenant

INBOX_PAGE = 50

_REQUEST_JOINS = (
    "tenant",
    "requester",
    "on_behalf_of",
    "entitlement__environment",
    "role",
)


def access_request_get(*, pk: int) -> AccessRequest | None:
    """In the current tenant scope (404 for anything else)."""
    return (
        AccessRequest.objects.select_related(*_REQUEST_JOINS, "original_entitlement", "grant")
        .prefetch_related(
            Prefetch("steps", queryset=ApprovalStep.objects.order_by("order", "id")),
        )
        .filter(pk=pk)
        .first()
    )


def access_request_list_for_user(*, user: Any, status: str = "") -> QuerySet[AccessRequest]:
    qs = (
        AccessRequest.objects.filter(Q(requester=user) | Q(on_behalf_of=user))
        .select_related(*_REQUEST_JOINS)
        .prefetch_related(Prefetch("steps", queryset=ApprovalStep.objects.order_by("order", "id")))
        .order_by("-submitted_at", "-id")
    )
    if status:
        qs = qs.filter(status=status)
    return qs


def active_access_for_user(*, user: Any) -> QuerySet[AccessRequest]:
    return (
        AccessRequest.objects.filter(
            Q(requester=user, on_behalf_of__isnull=True) | Q(on_behalf_of=user)
        )
        .filter(status__in=(RequestStatus.ACTIVE, RequestStatus.APPROVED))
        .select_related(*_REQUEST_JOINS)
        .order_by("access_until", "id")
    )


@dataclass
class InboxPage:
    items: list[AccessRequest]
    next_before: int | None


def inbox_page(*, user: Any, before: int | None = None, limit: int = INBOX_PAGE) -> InboxPage:
    """The approver's open items, newest first, keyset-paginated on the assignment id: two
    queries whatever the inbox size (the assignments with their requests; the step labels)."""
    qs = (
        ApprovalAssignment.objects.filter(approver=user, active=True)
        .select_related(
            "step",
            "request__requester",
            "request__on_behalf_of",
            "request__entitlement__environment",
            "request__role",
            "request__tenant",
        )
        .order_by("-id")
    )
    if before:
        qs = qs.filter(id__lt=before)
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    items = []
    for row in rows:
        req = row.request
        req.inbox_step = row.step  # type: ignore[attr-defined]
        req.inbox_assignment = row  # type: ignore[attr-defined]
        items.append(req)
    return InboxPage(items=items, next_before=rows[-1].pk if more and rows else None)


def inbox_count(*, user: Any) -> int:
    return ApprovalAssignment.objects.filter(approver=user, active=True).count()


def staff_inbox_page(*, user: Any, before: int | None = None) -> InboxPage:
    with unscoped(reason="vendor approver inbox: the manager's open items in every tenant"):
        return inbox_page(user=user, before=before)


def staff_requests_for_user(*, user: Any) -> list[AccessRequest]:
    with unscoped(reason="vendor staff: their own requests into customer tenants"):
        return list(
            AccessRequest.objects.filter(requester=user)
            .select_related(*_REQUEST_JOINS)
            .prefetch_related(
                Prefetch("steps", queryset=ApprovalStep.objects.order_by("order", "id"))
            )
            .order_by("-submitted_at")[:100]
        )


def staff_request_get(*, user: Any, pk: int) -> AccessRequest | None:
    """A vendor request the staff member made or may decide (404 for anything else)."""
    with unscoped(reason="vendor staff: one request they made or decide"):
        req = (
            AccessRequest.objects.select_related(*_REQUEST_JOINS, "grant")
            .prefetch_related(
                Prefetch("steps", queryset=ApprovalStep.objects.order_by("order", "id"))
            )
            .filter(pk=pk)
            .filter(
                Q(requester=user)
                | Exists(ApprovalAssignment.objects.filter(request=OuterRef("pk"), approver=user))
            )
            .first()
        )
        if req is not None:
            list(req.steps.all())
        return req


def decisions_for(req: AccessRequest) -> list[ApprovalDecision]:
    return list(
        ApprovalDecision.objects.filter(step__request=req).select_related("step", "approver")
    )


def eligible_approvers(*, req: AccessRequest) -> list[dict[str, Any]]:
    """Who can act on the open steps, as the requester may see it: by role always, by name
    where the tenant's routing policy allows."""
    show = (
        RoutingPolicy.objects.filter(kind=req.kind, risk=req.risk)
        .values_list("show_approver_names", flat=True)
        .first()
    ) or False
    rows = (
        ApprovalAssignment.objects.filter(request=req, active=True, step__state=StepState.OPEN)
        .select_related("approver", "step")
        .order_by("step__order", "approver_id")
    )
    return [
        {
            "step": row.step.label,
            "via": row.get_via_display(),
            "name": str(row.approver) if show and not row.approver.is_vendor_staff else "",
        }
        for row in rows
    ]


def vendor_access_in_tenant(*, tenant: Tenant) -> list[AccessRequest]:
    """Vendor staff holding or scheduled to hold access in the tenant now (lockbox page)."""
    return list(
        AccessRequest.objects.for_tenant(tenant)
        .filter(
            kind__in=(RequestKind.VENDOR, RequestKind.BREAK_GLASS),
            status__in=(RequestStatus.ACTIVE, RequestStatus.APPROVED),
        )
        .select_related(*_REQUEST_JOINS, "grant")
        .order_by("granted_at")
    )


def vendor_recent_in_tenant(*, tenant: Tenant, days: int = 30) -> list[AccessRequest]:
    since = timezone.now() - timedelta(days=days)
    return list(
        AccessRequest.objects.for_tenant(tenant)
        .filter(kind__in=(RequestKind.VENDOR, RequestKind.BREAK_GLASS), submitted_at__gte=since)
        .exclude(status__in=(RequestStatus.ACTIVE, RequestStatus.APPROVED))
        .select_related(*_REQUEST_JOINS)
        .order_by("-submitted_at")[:50]
    )


def activity_of(*, req: AccessRequest, limit: int = 20) -> list[AuditEvent]:
    """What a vendor engineer touched while the access ran (from the tenant's audit log)."""
    if req.granted_at is None:
        return []
    until = req.ended_at or timezone.now()
    return list(
        AuditEvent.objects.filter(
            tenant_id=req.tenant_id,
            actor_id=req.beneficiary_id,
            occurred_at__gte=req.granted_at,
            occurred_at__lte=until,
        )
        .exclude(action__startswith="access_request.")
        .order_by("-occurred_at")[:limit]
    )


def break_glass_to_review(*, tenant: Tenant) -> list[AccessRequest]:
    return list(
        AccessRequest.objects.for_tenant(tenant)
        .filter(kind=RequestKind.BREAK_GLASS, reviewed_at__isnull=True)
        .select_related(*_REQUEST_JOINS)
        .order_by("submitted_at")
    )


def notifications_for(*, user: Any, limit: int = 50) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user).select_related("request")[:limit])


def notifications_unread_count(*, user: Any) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


# --- Catalog ----------------------------------------------------------------------------


@dataclass
class CatalogItem:
    kind: str  # "entitlement" or "role"
    obj: Any
    environment: str
    level: str
    risk: str
    eligible: bool
    reasons: tuple[str, ...]
    max_duration: timedelta


def catalog_items(
    *, user: Any, tenant: Tenant, q: str = "", level: str = "", risk: str = "", limit: int = 60
) -> list[CatalogItem]:
    from apps.access.models import Entitlement, Role

    entitlements = Entitlement.objects.for_tenant(tenant).select_related("environment")
    roles = Role.objects.for_tenant(tenant).prefetch_related("entitlements__environment")
    if hasattr(Role, "is_vendor_internal"):
        roles = roles.filter(is_vendor_internal=False)
    if q:
        entitlements = entitlements.filter(
            Q(name__icontains=q) | Q(environment__name__icontains=q) | Q(description__icontains=q)
        )
        roles = roles.filter(Q(name__icontains=q) | Q(description__icontains=q))
    if level:
        entitlements = entitlements.filter(level=level)
    if risk:
        entitlements = entitlements.filter(risk=risk)
    items: list[CatalogItem] = []
    for ent in entitlements.order_by("environment__name", "level")[:limit]:
        elig = policy.eligibility(user=user, target=ent, tenant=tenant)
        items.append(
            CatalogItem(
                "entitlement",
                ent,
                ent.environment.name,
                str(ent.level),
                str(ent.risk),
                elig.eligible,
                elig.reasons,
                policy.max_duration(tenant=tenant, risk=str(ent.risk), vendor=False),
            )
        )
    if not level:
        for role in roles.order_by("name")[:limit]:
            role_risk = policy.target_risk(role)
            if risk and role_risk != risk:
                continue
            elig = policy.eligibility(user=user, target=role, tenant=tenant)
            items.append(
                CatalogItem(
                    "role",
                    role,
                    ", ".join(sorted({e.environment.name for e in role.entitlements.all()})),
                    policy.target_level(role),
                    role_risk,
                    elig.eligible,
                    elig.reasons,
                    policy.max_duration(tenant=tenant, risk=role_risk, vendor=False),
                )
            )
    return items


# --- Service levels -----------------------------------------------------------------------


@dataclass
class ServiceLevels:
    tenant: Tenant
    since: datetime
    requests: int
    decided: int
    granted: int
    within_sla: int
    escalations: int
    median_first_decision: timedelta | None
    median_time_to_grant: timedelta | None
    p90_first_decision: timedelta | None

    @property
    def within_sla_percent(self) -> float | None:
        if not self.decided:
            return None
        return round(100.0 * self.within_sla / self.decided, 1)


def _percentile(values: list[timedelta], q: float) -> timedelta | None:
    if not values:
        return None
    values = sorted(values)
    index = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[index]


def service_levels(*, tenant: Tenant, days: int = 30) -> ServiceLevels:
    since = timezone.now() - timedelta(days=days)
    rows = list(
        AccessRequest.objects.for_tenant(tenant)
        .filter(submitted_at__gte=since)
        .exclude(kind=RequestKind.BREAK_GLASS)
        .values_list("submitted_at", "first_decision_at", "granted_at", "sla_due_at", "escalations")
    )
    first = [f - s for s, f, _g, _d, _e in rows if f]
    grant = [g - s for s, _f, g, _d, _e in rows if g]
    within = sum(1 for _s, f, _g, d, _e in rows if f and (d is None or f <= d))
    return ServiceLevels(
        tenant=tenant,
        since=since,
        requests=len(rows),
        decided=len(first),
        granted=len(grant),
        within_sla=within,
        escalations=sum(e for *_x, e in rows),
        median_first_decision=_percentile(first, 0.5),
        median_time_to_grant=_percentile(grant, 0.5),
        p90_first_decision=_percentile(first, 0.9),
    )


def service_levels_daily(*, tenant: Tenant, days: int = 30) -> list[dict[str, Any]]:
    """Per day: requests, decided within SLA, escalations (for the CSV)."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        AccessRequest.objects.for_tenant(tenant)
        .filter(submitted_at__gte=since)
        .exclude(kind=RequestKind.BREAK_GLASS)
        .values_list("submitted_at", "first_decision_at", "granted_at", "sla_due_at", "escalations")
    )
    by_day: dict[str, dict[str, Any]] = {}
    for submitted, first, granted, due, escalations in rows:
        day = timezone.localtime(submitted).date().isoformat()
        entry = by_day.setdefault(
            day,
            {
                "day": day,
                "requests": 0,
                "decided": 0,
                "within_sla": 0,
                "granted": 0,
                "escalations": 0,
                "first": [],
                "grant": [],
            },
        )
        entry["requests"] += 1
        entry["escalations"] += escalations
        if first:
            entry["decided"] += 1
            entry["first"].append(first - submitted)
            if due is None or first <= due:
                entry["within_sla"] += 1
        if granted:
            entry["granted"] += 1
            entry["grant"].append(granted - submitted)
    out = []
    for day in sorted(by_day):
        entry = by_day[day]
        entry["median_first_decision_s"] = _seconds(_percentile(entry.pop("first"), 0.5))
        entry["median_time_to_grant_s"] = _seconds(_percentile(entry.pop("grant"), 0.5))
        out.append(entry)
    return out


def _seconds(value: timedelta | None) -> str:
    return "" if value is None else str(int(value.total_seconds()))


__all__ = ["Count"]
