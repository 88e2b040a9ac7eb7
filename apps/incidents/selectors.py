"""Reads of incident response, with their joins done (constant queries per page)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet
from django.http import Http404

from apps.access.models import Grant
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import User
from apps.incidents.models import (
    CustomerNotification,
    GrantSnapshot,
    Incident,
    IncidentSubject,
    IncidentTenant,
    NotificationStatus,
    PolicyChange,
    Suspension,
    TimelineEntry,
)
from apps.incidents.services.scope import TenantPlan
from apps.integrations.models import ApiKey, OAuthClient
from apps.tenants.models import Tenant

LIST_LIMIT = 200


def incident_list_staff() -> QuerySet[Incident]:
    return Incident.objects.annotate(tenant_count=Count("tenants")).prefetch_related("owners")


def incident_get(*, incident_id: int) -> Incident:
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None:
        raise Http404
    return incident


def incident_tenants(*, incident: Incident) -> list[IncidentTenant]:
    with unscoped(reason="staff incident page: the incident's affected tenants"):
        return list(
            IncidentTenant.objects.filter(incident=incident)
            .select_related("tenant", "signed_off_by")
            .order_by("tenant__name")
        )


def incident_tenant_by_slug(*, incident: Incident, slug: str) -> Tenant:
    """The tenant named in a staff form, only when the incident affects it (else 404)."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Http404
    with tenant_context(tenant):
        if not IncidentTenant.objects.filter(incident=incident).exists():
            raise Http404
    return tenant


@dataclass
class TenantSection:
    row: IncidentTenant
    subjects: list[IncidentSubject]
    suspensions: list[Suspension]
    notifications: list[CustomerNotification]
    policy_changes: list[PolicyChange]
    snapshot_count: int
    suspended_count: int
    restored_count: int


def incident_sections(*, incident: Incident) -> list[TenantSection]:
    sections = []
    for row in incident_tenants(incident=incident):
        with tenant_context(row.tenant):
            snaps = GrantSnapshot.objects.filter(incident=incident)
            sections.append(
                TenantSection(
                    row=row,
                    subjects=list(
                        IncidentSubject.objects.filter(incident=incident).select_related(
                            "user", "api_key", "oauth_client", "environment"
                        )
                    ),
                    suspensions=list(Suspension.objects.filter(incident=incident)),
                    notifications=list(CustomerNotification.objects.filter(incident=incident)),
                    policy_changes=list(
                        PolicyChange.objects.filter(incident=incident).select_related("applied_by")
                    ),
                    snapshot_count=snaps.count(),
                    suspended_count=snaps.filter(suspended_by_incident=True).count(),
                    restored_count=snaps.filter(restored_at__isnull=False).count(),
                )
            )
    return sections


def incident_timeline(*, incident: Incident) -> QuerySet[TimelineEntry]:
    return TimelineEntry.objects.filter(incident=incident).select_related("actor", "about_tenant")


@dataclass
class PlanLists:
    """The first LIST_LIMIT of each list of a tenant plan, with names (counts are complete)."""

    plan: TenantPlan
    users: list[User]
    staff: list[User]
    api_keys: list[ApiKey]
    oauth_clients: list[OAuthClient]
    grants: list[Grant]
    kept_admins: list[User]


def plan_lists(plan: TenantPlan, *, limit: int = LIST_LIMIT) -> PlanLists:
    with tenant_context(plan.tenant):
        return PlanLists(
            plan=plan,
            users=list(User.objects.filter(pk__in=plan.user_ids[:limit]).order_by("email")),
            staff=list(
                User.objects.filter(pk__in=plan.staff_session_ids[:limit]).order_by("email")
            ),
            api_keys=list(ApiKey.objects.filter(pk__in=plan.api_key_ids[:limit]).order_by("name")),
            oauth_clients=list(
                OAuthClient.objects.filter(pk__in=plan.oauth_client_ids[:limit]).order_by("name")
            ),
            grants=list(
                Grant.objects.filter(pk__in=plan.grant_ids[:limit])
                .select_related("user", "api_key", "service_account", "entitlement", "role")
                .order_by("pk")
            ),
            kept_admins=list(
                User.objects.filter(pk__in=plan.kept_admin_ids[:limit]).order_by("email")
            ),
        )


def plan_rows_all(plan: TenantPlan) -> list[tuple[str, str, str]]:
    """Every item of a plan as (kind, id, label), for the full CSV of the preview."""
    rows: list[tuple[str, str, str]] = []
    with tenant_context(plan.tenant):
        for pk, email in User.objects.filter(pk__in=plan.user_ids).values_list("pk", "email"):
            rows.append(("account_disabled", str(pk), email))
        for pk, email in User.objects.filter(pk__in=plan.staff_session_ids).values_list(
            "pk", "email"
        ):
            rows.append(("staff_sessions_ended", str(pk), email))
        for pk, name, prefix in ApiKey.objects.filter(pk__in=plan.api_key_ids).values_list(
            "pk", "name", "prefix"
        ):
            rows.append(("api_key_revoked", str(pk), f"{name} (cus_{prefix}_…)"))
        for pk, name, client_id in OAuthClient.objects.filter(
            pk__in=plan.oauth_client_ids
        ).values_list("pk", "name", "client_id"):
            rows.append(("oauth_client_revoked", str(pk), f"{name} ({client_id})"))
        for start in range(0, len(plan.grant_ids), 5_000):
            chunk = plan.grant_ids[start : start + 5_000]
            rows.extend(
                ("grant_suspended", str(grant.pk), str(grant))
                for grant in Grant.objects.filter(pk__in=chunk)
                .select_related("user", "api_key", "service_account", "entitlement", "role")
                .order_by("pk")
            )
    return rows


def snapshot_restorable(
    *, incident: Incident, tenant: Tenant, limit: int = 500
) -> list[GrantSnapshot]:
    with tenant_context(tenant):
        return list(
            GrantSnapshot.objects.filter(
                incident=incident, suspended_by_incident=True, restored_at__isnull=True
            )
            .select_related(
                "grant",
                "grant__user",
                "grant__api_key",
                "grant__service_account",
                "grant__entitlement",
                "grant__role",
            )
            .order_by("pk")[:limit]
        )


def snapshot_restored(*, incident: Incident, tenant: Tenant, limit: int = 200) -> list[Any]:
    with tenant_context(tenant):
        return list(
            GrantSnapshot.objects.filter(incident=incident, restored_at__isnull=False)
            .select_related(
                "grant", "grant__user", "grant__entitlement", "grant__role", "restored_by"
            )
            .order_by("-restored_at")[:limit]
        )


def disabled_accounts(*, incident: Incident, tenant: Tenant, limit: int = 500) -> list[User]:
    with tenant_context(tenant):
        ids: set[int] = set()
        for record in Suspension.objects.filter(incident=incident):
            ids.update(record.user_ids)
    return list(User.objects.filter(pk__in=list(ids), is_active=False).order_by("email")[:limit])


def notification_for_incident(
    *, incident: Incident, notification_id: int
) -> CustomerNotification | None:
    with unscoped(reason="staff incident page: one notification of the incident"):
        return (
            CustomerNotification.objects.filter(incident=incident, pk=notification_id)
            .select_related("tenant")
            .first()
        )


# --- customer portal (inside the tenant scope set by the middleware) ---------------------------
def portal_incident_rows() -> QuerySet[IncidentTenant]:
    return IncidentTenant.objects.select_related("incident").order_by("-incident__opened_at")


def portal_incident_row(*, incident_id: int) -> IncidentTenant:
    row = (
        IncidentTenant.objects.filter(incident_id=incident_id)
        .select_related("incident", "signed_off_by")
        .first()
    )
    if row is None:
        raise Http404
    return row


def portal_incident_facts(*, row: IncidentTenant) -> dict[str, Any]:
    incident = row.incident
    suspensions = list(Suspension.objects.filter(incident=incident))
    snaps = GrantSnapshot.objects.filter(incident=incident)
    return {
        "accounts_disabled": sum(len(s.user_ids) for s in suspensions),
        "api_keys_revoked": sum(len(s.api_key_ids) for s in suspensions),
        "oauth_clients_revoked": sum(len(s.oauth_client_ids) for s in suspensions),
        "grants_suspended": sum(s.grants_suspended for s in suspensions),
        "grants_restored": snaps.filter(restored_at__isnull=False).count(),
        "suspensions": suspensions,
        "notifications": list(
            CustomerNotification.objects.filter(
                incident=incident, status=NotificationStatus.SENT
            ).order_by("sent_at")
        ),
        "policy_changes": list(PolicyChange.objects.filter(incident=incident)),
    }
