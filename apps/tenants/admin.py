from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest

from apps.core.admin import AuditedModelAdmin, TenantOwnedAdmin
from apps.core.exceptions import DomainError, PermissionDenied
from apps.tenants.models import (
    AccessTeam,
    AccessTeamMember,
    Contract,
    Environment,
    Membership,
    Tenant,
)


@admin.register(Tenant)
class TenantAdmin(AuditedModelAdmin):
    list_display = ("name", "slug", "tier", "region", "data_residency", "status", "parent")
    list_filter = ("tier", "region", "status")
    search_fields = ("name", "slug")
    autocomplete_fields = ("parent",)


@admin.register(Contract)
class ContractAdmin(TenantOwnedAdmin):
    list_display = ("reference", "tenant", "starts_on", "ends_on", "sla_hours")
    search_fields = ("reference", "tenant__name")


@admin.register(Environment)
class EnvironmentAdmin(TenantOwnedAdmin):
    list_display = ("name", "tenant", "kind", "sensitivity", "region", "on_premises")
    list_filter = ("kind", "sensitivity", "region", "on_premises")
    search_fields = ("name", "slug", "tenant__name")
    raw_id_fields = ("owner",)


@admin.register(Membership)
class MembershipAdmin(TenantOwnedAdmin):
    """A role change goes through the mover (licence seats the new role may not hold are
    reclaimed, the last-admin rule holds); ending a membership is the leaver's job (portal,
    SCIM), so `is_active`, the person and the tenant are read-only here once it exists."""

    list_display = ("user", "tenant", "role", "department", "is_active")
    list_filter = ("role", "is_active")
    search_fields = ("user__email", "tenant__name")
    raw_id_fields = ("user", "manager")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return ("user", "tenant", "is_active")
        return ()

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not (change and "role" in form.changed_data):
            super().save_model(request, obj, form, change)
            return
        from apps.lifecycle.mover import member_role_change

        role = obj.role
        obj.role = form.initial["role"]
        try:
            with transaction.atomic():
                super().save_model(request, obj, form, change)  # the other fields, audited
                member_role_change(actor=request.user, membership=obj, role=role)
        except (DomainError, PermissionDenied) as exc:
            request._membership_refused = True  # type: ignore[attr-defined]
            messages.error(request, str(exc))

    def message_user(self, request: HttpRequest, message: Any, *args: Any, **kwargs: Any) -> None:
        if getattr(request, "_membership_refused", False):
            return  # the refusal was said; no "changed successfully" after it
        super().message_user(request, message, *args, **kwargs)


class AccessTeamMemberInline(admin.TabularInline):
    model = AccessTeamMember
    extra = 0
    raw_id_fields = ("user",)
    fields = ("user", "role", "tenant")


@admin.register(AccessTeam)
class AccessTeamAdmin(TenantOwnedAdmin):
    list_display = ("name", "tenant", "created_at")
    search_fields = ("name", "tenant__name")
    inlines = (AccessTeamMemberInline,)
