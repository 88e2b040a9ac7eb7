"""Reads of access analytics for the portal, the staff console and the reports."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from apps.certification.analytics.models import (
    OPEN_STATUSES,
    AccessEvent,
    AlertStatus,
    AnomalyAlert,
    CandidateStatus,
    Finding,
    FindingKind,
    MiningRun,
    RoleCandidate,
)
from apps.core.tenancy import unscoped


def alert_list(*, tenant: Any, status: str = "open", limit: int = 100) -> QuerySet[AnomalyAlert]:
    qs = AnomalyAlert.objects.for_tenant(tenant).select_related("user", "status_changed_by")
    if status == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif status in AlertStatus.values:
        qs = qs.filter(status=status)
    return qs.order_by("-raised_at", "-id")[:limit]


def alert_get(*, tenant: Any, alert_id: int) -> AnomalyAlert | None:
    return (
        AnomalyAlert.objects.for_tenant(tenant)
        .select_related("user", "event", "status_changed_by", "tenant")
        .filter(pk=alert_id)
        .first()
    )


def alert_counts(*, tenant: Any) -> dict[str, int]:
    rows = (
        AnomalyAlert.objects.for_tenant(tenant)
        .filter(status__in=OPEN_STATUSES)
        .values("severity")
        .annotate(n=Count("id"))
    )
    counts = {r["severity"]: r["n"] for r in rows}
    counts["total"] = sum(counts.values())
    return counts


def finding_counts(*, tenant: Any) -> dict[str, int]:
    rows = (
        Finding.objects.for_tenant(tenant)
        .filter(resolved_at__isnull=True)
        .values("kind")
        .annotate(n=Count("id"))
    )
    counts = dict.fromkeys(FindingKind.values, 0)
    counts.update({r["kind"]: r["n"] for r in rows})
    return counts


def finding_list(*, tenant: Any, kind: str = "", limit: int = 200) -> QuerySet[Finding]:
    qs = Finding.objects.for_tenant(tenant).filter(resolved_at__isnull=True).select_related("user")
    if kind in FindingKind.values:
        qs = qs.filter(kind=kind)
    return qs.order_by("kind", "-first_seen_at", "-id")[:limit]


def event_list(*, tenant: Any, limit: int = 50) -> QuerySet[AccessEvent]:
    return (
        AccessEvent.objects.for_tenant(tenant).select_related("user").order_by("-at", "-id")[:limit]
    )


def mining_latest(*, tenant: Any) -> tuple[MiningRun | None, list[RoleCandidate]]:
    run = MiningRun.objects.for_tenant(tenant).order_by("-started_at", "-id").first()
    if run is None:
        return None, []
    candidates = list(
        RoleCandidate.objects.for_tenant(tenant)
        .filter(run=run)
        .select_related("matches_role", "role")
        .order_by("rank")
    )
    return run, candidates


def candidate_get(*, tenant: Any, candidate_id: int) -> RoleCandidate | None:
    return (
        RoleCandidate.objects.for_tenant(tenant)
        .select_related("run", "matches_role", "role", "tenant")
        .filter(pk=candidate_id)
        .first()
    )


def candidate_entitlements(*, candidate: RoleCandidate) -> list[Any]:
    from apps.access.models import Entitlement

    return list(
        Entitlement.objects.for_tenant(candidate.tenant_id)
        .filter(pk__in=candidate.entitlement_ids)
        .select_related("environment")
        .order_by("name")
    )


def candidate_is_open(candidate: RoleCandidate) -> bool:
    return candidate.status == CandidateStatus.PROPOSED


# --- staff (cross-tenant, read-only except triage through the service) ------------------------
def staff_alerts(*, status: str = "open", limit: int = 100) -> list[AnomalyAlert]:
    # cross-tenant: the compliance dashboard shows every tenant's alerts to oversight staff
    with unscoped(reason="staff compliance dashboard: alerts of every tenant"):
        qs = AnomalyAlert.objects.select_related("tenant", "user")
        if status == "open":
            qs = qs.filter(status__in=OPEN_STATUSES)
        elif status in AlertStatus.values:
            qs = qs.filter(status=status)
        return list(qs.order_by("-raised_at", "-id")[:limit])


def staff_alert_get(*, alert_id: int) -> AnomalyAlert | None:
    with unscoped(reason="staff compliance dashboard: one alert"):
        return (
            AnomalyAlert.objects.select_related("tenant", "user", "event", "status_changed_by")
            .filter(pk=alert_id)
            .first()
        )


def staff_tenant_rows(*, limit: int = 50) -> list[dict[str, Any]]:
    with unscoped(reason="staff compliance dashboard: counts per tenant"):
        alerts = {
            r["tenant_id"]: r
            for r in AnomalyAlert.objects.filter(status__in=OPEN_STATUSES)
            .values("tenant_id", "tenant__name", "tenant__slug")
            .annotate(
                open=Count("id"),
                high=Count("id", filter=Q(severity__in=["high", "critical"])),
            )
        }
        findings = {
            r["tenant_id"]: r
            for r in Finding.objects.filter(resolved_at__isnull=True)
            .values("tenant_id", "tenant__name", "tenant__slug")
            .annotate(
                findings=Count("id"),
                toxic=Count("id", filter=Q(kind=FindingKind.TOXIC)),
            )
        }
    rows = []
    for tenant_id in set(alerts) | set(findings):
        a, f = alerts.get(tenant_id, {}), findings.get(tenant_id, {})
        base = a or f
        rows.append(
            {
                "name": base["tenant__name"],
                "slug": base["tenant__slug"],
                "open": a.get("open", 0),
                "high": a.get("high", 0),
                "findings": f.get("findings", 0),
                "toxic": f.get("toxic", 0),
            }
        )
    rows.sort(key=lambda r: (-r["high"], -r["open"], -r["findings"], r["name"]))
    return rows[:limit]
