from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenantsConfig(AppConfig):
    name = "apps.tenants"
    label = "tenants"
    verbose_name = _("Tenants")

    def ready(self) -> None:
        from apps.core.navigation import NavEntry, register
        from apps.tenants.permissions import is_tenant_admin

        def is_staff(request):  # type: ignore[no-untyped-def]
            return bool(request.user.is_vendor_staff)

        def has_oversight(request):  # type: ignore[no-untyped-def]
            return bool(request.user.has_oversight)

        register(
            NavEntry(
                "tenant-dashboard",
                _("Dashboard"),
                "tenants:dashboard",
                "tenant",
                lambda r: True,
                10,
            )
        )
        register(
            NavEntry(
                "tenant-environments",
                _("Environments"),
                "tenants:environment_list",
                "tenant",
                lambda r: True,
                20,
            )
        )
        register(
            NavEntry(
                "tenant-members",
                _("Members"),
                "tenants:membership_list",
                "tenant",
                is_tenant_admin,
                80,
            )
        )
        register(
            NavEntry(
                "tenant-audit", _("Audit log"), "audit:tenant_log", "tenant", is_tenant_admin, 90
            )
        )
        register(NavEntry("staff-home", _("Overview"), "staff:home", "staff", is_staff, 10))
        register(
            NavEntry(
                "staff-audit", _("Audit search"), "staff_audit:log", "staff", has_oversight, 90
            )
        )
        register(
            NavEntry(
                "staff-access-teams",
                _("Access teams"),
                "staff:access_team_list",
                "staff",
                has_oversight,
                60,
            )
        )
        register(
            NavEntry(
                "staff-admin",
                _("Django admin"),
                "admin:index",
                "staff",
                lambda r: bool(r.user.is_staff),
                99,
            )
        )
