"""Reads of the reports app: report jobs and schedules of a tenant, and the portfolio (a parent
tenant with its subsidiaries) that consolidated views and reports cover."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.core.tenancy import tenant_context, unscoped
from apps.reports.models import ReportJob, ReportSchedule
from apps.tenants.models import Tenant

_LIST_FIELDS = (
    "id",
    "tenant_id",
    "kind",
    "file_format",
    "scope",
    "parameters",
    "status",
    "progress",
    "rows",
    "pages",
    "filename",
    "size",
    "created_at",
    "started_at",
    "finished_at",
    "purged_at",
    "error",
    "requested_by",
    "schedule_id",
)
MAX_DEPTH = 8  # subsidiaries of subsidiaries…; a cycle (prevented on write) cannot loop here


def portfolio_descendants(tenant: Tenant) -> list[Tenant]:
    """Every tenant below `tenant` (subsidiaries, their subsidiaries, …), by name. Tenant rows
    are not tenant-owned: reading them needs no cross-tenant block."""
    found: dict[int, Tenant] = {}
    frontier = [tenant.pk]
    for _depth in range(MAX_DEPTH):
        children = [t for t in Tenant.objects.filter(parent_id__in=frontier) if t.pk not in found]
        children = [t for t in children if t.pk != tenant.pk]
        if not children:
            break
        for child in children:
            found[child.pk] = child
        frontier = [c.pk for c in children]
    return sorted(found.values(), key=lambda t: (t.name, t.pk))


def portfolio_tenants(tenant: Tenant) -> list[Tenant]:
    """The parent first, then its descendants."""
    return [tenant, *portfolio_descendants(tenant)]


def has_portfolio(tenant: Tenant) -> bool:
    return Tenant.objects.filter(parent=tenant).exists()


def subsidiary_get(*, tenant: Tenant, subsidiary_id: int) -> Tenant | None:
    """A descendant of `tenant`, or None (a sibling, a parent or a stranger: the caller 404s)."""
    return next((t for t in portfolio_descendants(tenant) if t.pk == subsidiary_id), None)


@dataclass
class PortfolioLine:
    tenant: Tenant
    members: int
    current_grants: int
    vendor_grants: int
    high_risk_grants: int


def portfolio_overview(*, tenant: Tenant) -> list[PortfolioLine]:
    """One line per tenant of the portfolio: members and current grants (of which vendor staff,
    of which high or critical risk). One cross-tenant block, limited to the portfolio's ids."""
    from apps.access.models import Grant
    from apps.tenants.models import Membership

    tenants = portfolio_tenants(tenant)
    ids = [t.pk for t in tenants]
    now = timezone.now()
    current = Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    with unscoped(reason=f"portfolio overview of {tenant.slug}: its {len(ids) - 1} subsidiaries"):
        members = dict(
            Membership.objects.filter(tenant_id__in=ids, is_active=True)
            .values_list("tenant_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        grants = {
            row["tenant_id"]: row
            for row in Grant.objects.filter(current, tenant_id__in=ids)
            .values("tenant_id")
            .annotate(
                total=Count("id"),
                vendor=Count("id", filter=Q(user__kind="staff")),
                high=Count(
                    "id",
                    filter=Q(entitlement__risk__in=("high", "critical"))
                    | Q(role__entitlements__risk__in=("high", "critical")),
                    distinct=True,
                ),
            )
            .order_by()
        }
    return [
        PortfolioLine(
            tenant=t,
            members=members.get(t.pk, 0),
            current_grants=grants.get(t.pk, {}).get("total", 0),
            vendor_grants=grants.get(t.pk, {}).get("vendor", 0),
            high_risk_grants=grants.get(t.pk, {}).get("high", 0),
        )
        for t in tenants
    ]


def report_job_list(*, tenant: Tenant, limit: int = 50) -> list[ReportJob]:
    return list(
        ReportJob.objects.for_tenant(tenant)
        .only(*_LIST_FIELDS)
        .select_related("requested_by")
        .order_by("-created_at", "-id")[:limit]
    )


def report_job_get(*, tenant: Tenant, job_id: int) -> ReportJob | None:
    return (
        ReportJob.objects.for_tenant(tenant)
        .only(*_LIST_FIELDS)
        .select_related("requested_by")
        .filter(pk=job_id)
        .first()
    )


def report_job_content(*, tenant: Tenant | None, job_id: int) -> ReportJob | None:
    """A finished job with its file (tenant None: a platform job, staff console only)."""
    if tenant is not None:
        with tenant_context(tenant):
            return ReportJob.objects.filter(pk=job_id, status="done").first()
    with unscoped(reason="staff console: a platform report's file"):
        return ReportJob.objects.filter(pk=job_id, tenant__isnull=True, status="done").first()


def platform_job_list(*, limit: int = 50) -> list[ReportJob]:
    with unscoped(reason="staff console: platform and tenant reports requested by staff"):
        return list(
            ReportJob.objects.filter(Q(tenant__isnull=True) | Q(requested_by__kind="staff"))
            .only(*_LIST_FIELDS)
            .select_related("requested_by", "tenant")
            .order_by("-created_at", "-id")[:limit]
        )


def platform_job_get(*, job_id: int) -> ReportJob | None:
    with unscoped(reason="staff console: a report requested by staff"):
        return (
            ReportJob.objects.filter(Q(tenant__isnull=True) | Q(requested_by__kind="staff"))
            .only(*_LIST_FIELDS)
            .select_related("requested_by", "tenant")
            .filter(pk=job_id)
            .first()
        )


def report_schedule_list(*, tenant: Tenant) -> QuerySet[ReportSchedule]:
    return ReportSchedule.objects.for_tenant(tenant).filter(is_active=True).order_by("next_run_at")


def report_schedule_get(*, tenant: Tenant, schedule_id: int) -> ReportSchedule | None:
    return ReportSchedule.objects.for_tenant(tenant).filter(pk=schedule_id).first()


def jobs_open_count(*, tenant: Any) -> int:
    return ReportJob.objects.for_tenant(tenant).filter(status__in=("queued", "running")).count()
