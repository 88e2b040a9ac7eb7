"""Django admin for operators: events, findings and mining runs are read-only records; alert
triage goes through the service (admin action), so it is audited like the portal's."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.certification.analytics.models import (
    AccessEvent,
    AnalyticsSettings,
    AnomalyAlert,
    Finding,
    MiningRun,
    RoleCandidate,
    UserAccessProfile,
)
from apps.certification.analytics.services.alerts import TriageAction, alert_triage
from apps.core.admin_base import ReadOnlyAdmin, TenantOwnedAdmin
from apps.core.exceptions import DomainError


@admin.register(AccessEvent)
class AccessEventAdmin(TenantOwnedAdmin, ReadOnlyAdmin):
    list_display = ("at", "tenant", "user", "principal", "kind", "channel", "ip", "country")
    list_filter = ("kind", "channel")
    search_fields = ("principal", "ip", "detail")
    raw_id_fields = ("user", "environment", "entitlement", "grant")


@admin.register(UserAccessProfile)
class UserAccessProfileAdmin(TenantOwnedAdmin, ReadOnlyAdmin):
    list_display = ("tenant", "user", "last_at", "last_place", "events_seen")
    raw_id_fields = ("user",)


def _triage(action: str, label: Any) -> Any:
    def run(modeladmin: Any, request: HttpRequest, queryset: Any) -> None:
        done = 0
        for alert in queryset:
            try:
                alert_triage(actor=request.user, alert=alert, action=action, note=str(label))
                done += 1
            except DomainError as exc:
                messages.warning(request, f"#{alert.pk}: {exc.message}")
        messages.info(request, _("%(n)d alert(s) changed.") % {"n": done})

    run.short_description = label  # type: ignore[attr-defined]
    run.__name__ = f"triage_{action}"
    return run


@admin.register(AnomalyAlert)
class AnomalyAlertAdmin(TenantOwnedAdmin, ReadOnlyAdmin):
    list_display = ("raised_at", "tenant", "kind", "severity", "status", "user")
    list_filter = ("status", "severity", "kind")
    raw_id_fields = ("user", "event", "status_changed_by")
    actions = [
        _triage(TriageAction.INVESTIGATE, _("Start investigating")),
        _triage(TriageAction.DISMISS, _("Dismiss (by an operator)")),
        _triage(TriageAction.ESCALATE, _("Escalate to incident")),
    ]


@admin.register(Finding)
class FindingAdmin(TenantOwnedAdmin, ReadOnlyAdmin):
    list_display = ("first_seen_at", "tenant", "kind", "severity", "subject_label", "resolved_at")
    list_filter = ("kind", "severity")
    raw_id_fields = ("grant", "user")


@admin.register(MiningRun)
class MiningRunAdmin(TenantOwnedAdmin, ReadOnlyAdmin):
    list_display = ("started_at", "tenant", "users", "entitlements", "grants", "duration_ms")


@admin.register(RoleCandidate)
class RoleCandidateAdmin(TenantOwnedAdmin, ReadOnlyAdmin):
    list_display = ("run", "rank", "support", "coverage", "grants_consolidated", "status")


@admin.register(AnalyticsSettings)
class AnalyticsSettingsAdmin(TenantOwnedAdmin):
    list_display = ("tenant", "unused_days", "standing_max_days", "travel_km", "travel_minutes")
