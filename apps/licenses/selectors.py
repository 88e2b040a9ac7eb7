"""Reads of the licences app with business meaning (constant query counts per page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.core.tenancy import tenant_context, unscoped
from apps.licenses.conf import conf
from apps.licenses.models import (
    OPEN_SIGNUP_DECISIONS,
    JobStatus,
    LicenseAlert,
    LicensePool,
    OnboardingImport,
    ProvisioningJob,
    Seat,
    SignupCase,
    WaitingListEntry,
    WaitingStatus,
)
from apps.tenants.models import Tenant


@dataclass(frozen=True)
class Forecast:
    net_per_hour: float  # allocations minus releases per hour over the window
    exhausted_at: datetime | None  # None: not at the current rate
    window_hours: int

    @property
    def hours_left(self) -> float | None:
        if self.exhausted_at is None:
            return None
        return max(0.0, (self.exhausted_at - timezone.now()).total_seconds() / 3600)


@dataclass(frozen=True)
class PoolRow:
    pool: LicensePool
    waiting: int
    forecast: Forecast


def _forecast(
    pool: LicensePool, allocated: int, released: int, hours: int, now: datetime
) -> Forecast:
    net = (allocated - released) / hours
    if net <= 0 or pool.is_reserve:
        return Forecast(net, None, hours)
    return Forecast(net, now + timedelta(hours=pool.free / net), hours)


def pool_rows(*, tenant: Tenant, now: datetime | None = None) -> list[PoolRow]:
    """Every pool with its waiting count and exhaustion forecast (3 queries)."""
    now = now or timezone.now()
    hours = int(conf("LICENSES_FORECAST_WINDOW_HOURS"))
    since = now - timedelta(hours=hours)
    with tenant_context(tenant):
        pools = list(
            LicensePool.objects.filter(closed_at__isnull=True)
            .select_related("product")
            .annotate(n_waiting=Count("waiting", filter=Q(waiting__status=WaitingStatus.WAITING)))
            .order_by("is_reserve", "product__name", "location")
        )
        allocated = dict(
            Seat.objects.filter(allocated_at__gte=since)
            .values_list("pool_id")
            .annotate(n=Count("pk"))
            .values_list("pool_id", "n")
        )
        released = dict(
            Seat.objects.filter(released_at__gte=since)
            .values_list("pool_id")
            .annotate(n=Count("pk"))
            .values_list("pool_id", "n")
        )
    return [
        PoolRow(
            pool=p,
            waiting=p.n_waiting,  # type: ignore[attr-defined]
            forecast=_forecast(p, allocated.get(p.pk, 0), released.get(p.pk, 0), hours, now),
        )
        for p in pools
    ]


def pool_get(*, tenant: Tenant, pool_id: int) -> LicensePool | None:
    with tenant_context(tenant):
        return LicensePool.objects.filter(pk=pool_id).select_related("product", "tenant").first()


def pool_row(*, tenant: Tenant, pool: LicensePool) -> PoolRow:
    for row in pool_rows(tenant=tenant):
        if row.pool.pk == pool.pk:
            return row
    return PoolRow(pool=pool, waiting=0, forecast=Forecast(0.0, None, 0))


def pool_seats(*, pool: LicensePool, limit: int = 200) -> list[Seat]:
    with tenant_context(pool.tenant):
        return list(
            Seat.objects.filter(pool=pool, released_at__isnull=True)
            .select_related("user")
            .order_by("-allocated_at")[:limit]
        )


def pool_waiting(*, pool: LicensePool, limit: int = 200) -> list[WaitingListEntry]:
    with tenant_context(pool.tenant):
        return list(
            WaitingListEntry.objects.filter(pool=pool, status=WaitingStatus.WAITING)
            .select_related("user")
            .order_by("priority", "requested_at", "pk")[:limit]
        )


def alerts_open(*, tenant: Tenant) -> list[LicenseAlert]:
    with tenant_context(tenant):
        return list(
            LicenseAlert.objects.filter(resolved_at__isnull=True)
            .select_related("pool")
            .order_by("-raised_at")[:20]
        )


@dataclass(frozen=True)
class QueueState:
    waiting: int
    failed: int
    threshold: int
    recent_failed: list[ProvisioningJob]


def queue_state(*, tenant: Tenant) -> QueueState:
    from apps.licenses.services.provisioning import policy_for

    with tenant_context(tenant):
        counts = ProvisioningJob.objects.aggregate(
            waiting=Count("pk", filter=Q(status__in=(JobStatus.PENDING, JobStatus.RUNNING))),
            failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
        )
        failed = list(
            ProvisioningJob.objects.filter(status=JobStatus.FAILED).order_by("-finished_at")[:20]
        )
    return QueueState(
        waiting=counts["waiting"] or 0,
        failed=counts["failed"] or 0,
        threshold=policy_for(tenant).queue_alert_threshold,
        recent_failed=failed,
    )


def import_list(*, tenant: Tenant, limit: int = 30) -> list[OnboardingImport]:
    with tenant_context(tenant):
        return list(
            OnboardingImport.objects.defer("source", "result")
            .select_related("created_by")
            .order_by("-created_at")[:limit]
        )


def import_get(*, tenant: Tenant, import_id: int) -> OnboardingImport | None:
    with tenant_context(tenant):
        return OnboardingImport.objects.filter(pk=import_id).defer("source").first()


def signup_cases(*, tenant: Tenant, view: str = "open") -> QuerySet[SignupCase]:
    with tenant_context(tenant):
        qs = SignupCase.objects.select_related("reviewed_by")
        if view == "open":
            qs = qs.filter(decision__in=OPEN_SIGNUP_DECISIONS).order_by("due_at", "pk")
        elif view == "decided":
            qs = qs.exclude(decision__in=OPEN_SIGNUP_DECISIONS).order_by("-created_at")
        else:
            qs = qs.order_by("-created_at")
        return qs


def signup_case_get(*, tenant: Tenant, case_id: int) -> SignupCase | None:
    with tenant_context(tenant):
        return SignupCase.objects.filter(pk=case_id).select_related("reviewed_by", "user").first()


def signup_counts(*, tenant: Tenant) -> dict[str, int]:
    now = timezone.now()
    with tenant_context(tenant):
        return SignupCase.objects.aggregate(
            open=Count("pk", filter=Q(decision__in=OPEN_SIGNUP_DECISIONS)),
            overdue=Count("pk", filter=Q(decision__in=OPEN_SIGNUP_DECISIONS, due_at__lt=now)),
            today=Count(
                "pk",
                filter=Q(created_at__gte=now.replace(hour=0, minute=0, second=0, microsecond=0)),
            ),
        )


def staff_overview() -> dict[str, Any]:
    """Across tenants for vendor staff: pools over their cap, queue depths, open reviews."""
    from apps.licenses.services.provisioning import queue_depths

    now = timezone.now()
    with unscoped(reason="staff overview of licence pools and onboarding queues"):
        pools = [
            p
            for p in LicensePool.objects.filter(closed_at__isnull=True, is_reserve=False)
            .select_related("tenant", "product")
            .order_by("tenant__name", "product__name")
            if p.over_cap
        ]
        reviews = list(
            SignupCase.objects.filter(decision__in=OPEN_SIGNUP_DECISIONS)
            .values("tenant__name", "tenant__slug")
            .annotate(
                open=Count("pk"),
                overdue=Count("pk", filter=Q(due_at__lt=now)),
            )
            .order_by("-open")
        )
    return {"pools": pools, "queues": queue_depths(), "reviews": reviews}
