"""Django admin for operators. Tokens are viewable (never their hashes) but issued only by the
portal service, which shows them once and writes the audit trail."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.core.admin_base import TenantOwnedAdmin
from apps.identity.scim.models import (
    ScimGroup,
    ScimGroupMember,
    ScimGroupRoleMapping,
    ScimSettings,
    ScimToken,
    ScimUser,
)


class _TenantReadOnly(ReadOnlyAdmin):
    list_select_related = ("tenant",)

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        from apps.core.tenancy import unscoped

        with unscoped(reason="Django admin list for operators"):
            return super().get_queryset(request)


@admin.register(ScimToken)
class ScimTokenAdmin(_TenantReadOnly):
    list_display = (
        "name",
        "tenant",
        "prefix",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    search_fields = ("name", "prefix", "tenant__name")
    exclude = ("secret_hash",)


@admin.register(ScimSettings)
class ScimSettingsAdmin(TenantOwnedAdmin):
    list_display = ("tenant", "sync_interval_minutes", "staleness_days", "rate_limit_per_minute")


@admin.register(ScimUser)
class ScimUserAdmin(_TenantReadOnly):
    list_display = (
        "user_name",
        "tenant",
        "external_id",
        "active",
        "last_confirmed_at",
        "updated_at",
    )
    list_filter = ("active",)
    search_fields = ("user_name", "external_id", "email", "tenant__name")


class ScimGroupMemberInline(admin.TabularInline):
    model = ScimGroupMember
    extra = 0
    can_delete = False
    readonly_fields = ("member",)
    fields = ("member",)

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ScimGroup)
class ScimGroupAdmin(_TenantReadOnly):
    list_display = ("display_name", "tenant", "external_id", "updated_at")
    search_fields = ("display_name", "external_id", "tenant__name")
    inlines = (ScimGroupMemberInline,)


@admin.register(ScimGroupRoleMapping)
class ScimGroupRoleMappingAdmin(_TenantReadOnly):
    list_display = ("group", "role_key", "tenant", "created_at")
    search_fields = ("role_key", "group__display_name")
