from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LicensesConfig(AppConfig):
    name = "apps.licenses"
    label = "licenses"
    verbose_name = _("Licences and onboarding")

    def ready(self) -> None:
        from apps.core.navigation import NavEntry, register
        from apps.tenants.permissions import is_tenant_admin

        def has_oversight(request):  # type: ignore[no-untyped-def]
            return bool(getattr(request.user, "has_oversight", False))

        register(
            NavEntry(
                "tenant-licenses",
                _("Licences"),
                "licenses:dashboard",
                "tenant",
                is_tenant_admin,
                60,
            )
        )
        register(
            NavEntry(
                "tenant-signup-reviews",
                _("Signup reviews"),
                "licenses:review_list",
                "tenant",
                is_tenant_admin,
                61,
            )
        )
        register(
            NavEntry(
                "staff-licenses",
                _("Licences and onboarding"),
                "staff_licenses:overview",
                "staff",
                has_oversight,
                60,
            )
        )
