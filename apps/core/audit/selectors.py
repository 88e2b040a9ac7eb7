"""Reading the audit log: filtered, newest first, paginated without COUNT(*) on big tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from apps.core.models import AuditEvent

PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditFilter:
    q: str = ""
    action: str = ""
    outcome: str = ""
    tenant_slug: str = ""
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    page: int
    has_next: bool
    has_previous: bool

    @property
    def next_page(self) -> int:
        return self.page + 1

    @property
    def previous_page(self) -> int:
        return max(1, self.page - 1)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def audit_event_page(*, filters: AuditFilter, page: int = 1) -> AuditPage:
    """Events visible in the current scope (a tenant, or everything inside `unscoped`)."""
    qs = AuditEvent.objects.select_related("tenant").order_by("-occurred_at", "-id")
    if filters.action:
        qs = qs.filter(action__startswith=filters.action)
    if filters.outcome:
        qs = qs.filter(outcome=filters.outcome)
    if filters.tenant_slug:
        qs = qs.filter(tenant__slug=filters.tenant_slug)
    if filters.since:
        qs = qs.filter(occurred_at__gte=_day_start(filters.since))
    if filters.until:
        qs = qs.filter(occurred_at__lt=_day_start(filters.until) + timedelta(days=1))
    if filters.q:
        term = filters.q.strip()
        cond = Q(action__icontains=term) | Q(target_id=term) | Q(request_id=term)
        cond |= Q(personal__actor__icontains=term) | Q(personal__target__icontains=term)
        if term.isdigit():
            cond |= Q(actor_id=int(term))
        qs = qs.filter(cond)
    page = max(1, page)
    offset = (page - 1) * PAGE_SIZE
    rows: list[Any] = list(qs[offset : offset + PAGE_SIZE + 1])
    return AuditPage(
        events=rows[:PAGE_SIZE],
        page=page,
        has_next=len(rows) > PAGE_SIZE,
        has_previous=page > 1,
    )
