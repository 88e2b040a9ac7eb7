"""Admin for every model of the requests app (audited by the admin site)."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin_base import ReadOnlyAdmin, TenantOwnedAdmin
from apps.requests.models import (
    AccessRequest,
    ApprovalAssignment,
    ApprovalDecision,
    ApprovalStep,
    Delegate,
    Notification,
    PreApproval,
    RoutingPolicy,
    TicketBinding,
    TicketWebhookDelivery,
    TicketWebhookSecret,
)


class ApprovalStepInline(admin.TabularInline):
    model = ApprovalStep
    extra = 0
    fields = (
        "order",
        "label",
        "audience",
        "quorum",
        "approvals",
        "state",
        "due_at",
        "escalated_at",
        "escalated_to",
    )
    readonly_fields = fields
    can_delete = False


@admin.register(AccessRequest)
class AccessRequestAdmin(TenantOwnedAdmin):
    list_display = (
        "id",
        "tenant",
        "requester",
        "kind",
        "entitlement",
        "role",
        "status",
        "submitted_at",
        "access_until",
    )
    list_filter = ("status", "kind", "risk")
    search_fields = ("requester__email", "ticket_ref", "justification")
    raw_id_fields = (
        "requester",
        "on_behalf_of",
        "entitlement",
        "original_entitlement",
        "role",
        "grant",
        "extends",
        "reused_from",
        "reviewed_by",
    )
    date_hierarchy = "submitted_at"
    inlines = [ApprovalStepInline]


@admin.register(ApprovalStep)
class ApprovalStepAdmin(TenantOwnedAdmin):
    list_display = (
        "id",
        "request",
        "order",
        "label",
        "state",
        "due_at",
        "remind_at",
        "escalated_at",
    )
    list_filter = ("state", "audience")
    raw_id_fields = ("request", "escalated_to")


@admin.register(ApprovalAssignment)
class ApprovalAssignmentAdmin(TenantOwnedAdmin):
    list_display = ("id", "step", "approver", "via", "active", "withdrawn_reason")
    list_filter = ("via", "active")
    raw_id_fields = ("step", "request", "approver", "on_behalf_of")


@admin.register(ApprovalDecision)
class ApprovalDecisionAdmin(ReadOnlyAdmin, TenantOwnedAdmin):
    list_display = ("id", "step", "approver", "decision", "at", "via_link")
    list_filter = ("decision",)


@admin.register(Delegate)
class DelegateAdmin(TenantOwnedAdmin):
    list_display = ("delegator", "delegate", "starts_at", "ends_at", "tenant")
    raw_id_fields = ("delegator", "delegate")


@admin.register(RoutingPolicy)
class RoutingPolicyAdmin(TenantOwnedAdmin):
    list_display = ("tenant", "kind", "risk", "sla", "fallback_approver", "show_approver_names")
    list_filter = ("kind", "risk")
    raw_id_fields = ("fallback_approver",)


@admin.register(PreApproval)
class PreApprovalAdmin(TenantOwnedAdmin):
    list_display = (
        "name",
        "tenant",
        "kind",
        "max_level",
        "max_risk",
        "max_duration",
        "condition",
        "active",
    )
    list_filter = ("kind", "condition", "active")
    raw_id_fields = ("environment", "created_by")


@admin.register(TicketBinding)
class TicketBindingAdmin(TenantOwnedAdmin):
    list_display = ("ticket_ref", "tenant", "status", "severity", "last_event_at", "closed_at")
    list_filter = ("status",)
    search_fields = ("ticket_ref",)


@admin.register(TicketWebhookSecret)
class TicketWebhookSecretAdmin(TenantOwnedAdmin):
    list_display = ("id", "tenant", "active", "created_at")
    exclude = ("secret",)


@admin.register(TicketWebhookDelivery)
class TicketWebhookDeliveryAdmin(ReadOnlyAdmin, TenantOwnedAdmin):
    list_display = ("delivery_id", "tenant", "received_at")


@admin.register(Notification)
class NotificationAdmin(TenantOwnedAdmin):
    list_display = ("id", "recipient", "event", "subject", "created_at", "read_at", "emailed_at")
    list_filter = ("event",)
    raw_id_fields = ("recipient", "request")
