"""Operators' admin for certification: campaigns, items and decisions are read here; every
change of state goes through the services (admin actions call them), so the rules and the
audit trail cannot be skipped."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.certification import services
from apps.certification.models import Campaign, ReviewDecision, ReviewItem
from apps.core.admin_base import ReadOnlyAdmin, TenantOwnedAdmin
from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context


@admin.register(Campaign)
class CampaignAdmin(TenantOwnedAdmin):
    list_display = ("name", "tenant", "scope_kind", "status", "items_total", "due_at", "recurrence")
    list_filter = ("status", "scope_kind", "recurrence", "effect_timing")
    search_fields = ("name", "origin", "tenant__slug")
    # State changes go through the actions (the services); only the wording is edited here.
    readonly_fields = (
        "scope_kind",
        "scope_grant_ids",
        "reviewer_policy",
        "co_managed_environment_ids",
        "joint_mode",
        "recurrence",
        "effect_timing",
        "auto_decision",
        "starts_at",
        "due_at",
        "status",
        "items_total",
        "launched_at",
        "closed_at",
        "closed_by",
        "signed_off_at",
        "signed_off_by",
        "previous",
        "created_at",
        "created_by",
        "launch_at",
        "remind_at",
        "escalate_at",
        "close_at",
    )
    exclude = (
        "scope_environment",
        "scope_role",
        "default_reviewer",
        "fallback_reviewer",
        "customer_reviewer",
        "tenant",
    )
    actions = ("launch_campaigns", "close_campaigns")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # campaigns are created in the portal or staff console (validated)

    def _run(self, request: HttpRequest, queryset: QuerySet[Campaign], action: str) -> None:
        done = 0
        for campaign in queryset.select_related("tenant"):
            try:
                with tenant_context(campaign.tenant):
                    if action == "launch":
                        services.campaign_launch(actor=request.user, campaign=campaign)
                    else:
                        services.campaign_close(actor=request.user, campaign=campaign)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{campaign}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, _("%(n)d campaigns done.") % {"n": done})

    @admin.action(description=_("Launch the selected draft campaigns"))
    def launch_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._run(request, queryset, "launch")

    @admin.action(description=_("Close the selected campaigns"))
    def close_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._run(request, queryset, "close")


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnlyAdmin):
    list_display = ("pk", "campaign", "subject_label", "target_label", "risk", "outcome", "effect")
    list_filter = ("outcome", "effect", "risk", "has_sod")
    search_fields = ("subject_label", "target_label")
    list_select_related = ("campaign",)


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(ReadOnlyAdmin):
    list_display = ("item", "campaign", "reviewer", "side", "decision", "decided_at")
    list_filter = ("decision", "side")
    list_select_related = ("item", "campaign", "reviewer")
