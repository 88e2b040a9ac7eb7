from django.contrib import admin

from apps.core.admin import AuditedModelAdmin, TenantOwnedAdmin
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
    list_display = ("user", "tenant", "role", "department", "is_active")
    list_filter = ("role", "is_active")
    search_fields = ("user__email", "tenant__name")
    raw_id_fields = ("user", "manager")


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
