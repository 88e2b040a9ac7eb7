"""Django admin for incidents. The incident's descriptive fields are editable (audited by the
admin site); everything that acts — suspension, restoration, sign-off, notifications, policy —
goes through the staff console's services, so here those rows are read-only evidence."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.core.admin import AuditedModelAdmin, ReadOnlyAdmin
from apps.incidents.models import (
    CustomerNotification,
    GrantSnapshot,
    Incident,
    IncidentSubject,
    IncidentTenant,
    PolicyChange,
    Suspension,
    TimelineEntry,
)


class _Unscoped:
    """Operators see every tenant's rows (an explicit, logged crossing)."""

    def get_queryset(self, request: HttpRequest) -> Any:
        from apps.core.tenancy import unscoped

        with unscoped(reason="Django admin list for operators"):
            return super().get_queryset(request)  # type: ignore[misc]

    def changelist_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        from apps.core.tenancy import unscoped

        with unscoped(reason="Django admin change list for operators"):
            return super().changelist_view(request, *args, **kwargs)  # type: ignore[misc]

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        from apps.core.tenancy import unscoped

        with unscoped(reason="Django admin change form for operators"):
            return super().changeform_view(request, *args, **kwargs)  # type: ignore[misc]


class TimelineInline(admin.TabularInline):
    model = TimelineEntry
    extra = 0
    can_delete = False
    fields = ("at", "kind", "about_tenant", "actor", "text")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(AuditedModelAdmin):
    list_display = ("reference", "title", "severity", "status", "opened_at", "contained_at")
    list_filter = ("severity", "status")
    search_fields = ("reference", "title", "summary")
    date_hierarchy = "opened_at"
    readonly_fields = (
        "reference",
        "status",
        "opened_at",
        "opened_by",
        "contained_at",
        "resolved_at",
        "closed_at",
        "root_cause",
        "remediation",
        "postmortem_at",
        "postmortem_by",
    )
    filter_horizontal = ("owners",)
    inlines = (TimelineInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # opened in the staff console, which snapshots the grants

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(IncidentTenant)
class IncidentTenantAdmin(_Unscoped, ReadOnlyAdmin):
    list_display = ("incident", "tenant", "scope", "suspended_at", "isolated_at", "signed_off_at")
    list_select_related = ("incident", "tenant")
    list_filter = ("scope",)


@admin.register(IncidentSubject)
class IncidentSubjectAdmin(_Unscoped, ReadOnlyAdmin):
    list_display = ("incident", "tenant", "kind", "user", "api_key", "environment", "added_at")
    list_select_related = ("incident", "tenant", "user", "api_key", "environment")
    list_filter = ("kind",)


@admin.register(GrantSnapshot)
class GrantSnapshotAdmin(_Unscoped, ReadOnlyAdmin):
    list_display = (
        "incident",
        "tenant",
        "grant_id",
        "source",
        "expires_at",
        "suspended_by_incident",
        "restored_at",
        "restore_mode",
    )
    list_select_related = ("incident", "tenant")
    list_filter = ("suspended_by_incident", "restore_mode")


@admin.register(Suspension)
class SuspensionAdmin(_Unscoped, ReadOnlyAdmin):
    list_display = (
        "incident",
        "tenant",
        "executed_at",
        "executed_by",
        "grants_suspended",
        "tokens_revoked",
        "isolated",
        "duration_ms",
    )
    list_select_related = ("incident", "tenant", "executed_by")


@admin.register(CustomerNotification)
class CustomerNotificationAdmin(_Unscoped, ReadOnlyAdmin):
    list_display = (
        "incident",
        "tenant",
        "jurisdiction",
        "language",
        "status",
        "deadline_at",
        "sent_at",
        "reminders_sent",
        "remind_at",
    )
    list_select_related = ("incident", "tenant")
    list_filter = ("status", "jurisdiction", "language")


@admin.register(PolicyChange)
class PolicyChangeAdmin(_Unscoped, ReadOnlyAdmin):
    list_display = ("incident", "tenant", "kind", "applied_at", "applied_by")
    list_select_related = ("incident", "tenant", "applied_by")
    list_filter = ("kind",)
