from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from apps.core.admin import AuditedModelAdmin, ReadOnlyAdmin
from apps.identity.models import LoginThrottle, User


@admin.register(User)
class UserAdmin(AuditedModelAdmin, DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "kind", "staff_role", "is_active", "is_staff")
    list_filter = ("kind", "staff_role", "is_active", "is_staff")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (
            _("Profile"),
            {"fields": ("full_name", "kind", "staff_role", "language", "time_zone", "country")},
        ),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Dates"), {"fields": ("last_login", "date_joined", "disabled_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "full_name", "kind", "password1", "password2"),
            },
        ),
    )


@admin.register(LoginThrottle)
class LoginThrottleAdmin(ReadOnlyAdmin):
    list_display = ("key", "failures", "locked_until", "last_failure_at")
