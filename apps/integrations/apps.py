from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "apps.integrations"
    label = "integrations"
    verbose_name = _("Integrations and API")

    def ready(self) -> None:
        from apps.core.navigation import NavEntry, register
        from apps.tenants.permissions import is_tenant_admin

        def has_oversight(request):  # type: ignore[no-untyped-def]
            return bool(getattr(request.user, "has_oversight", False))

        register(
            NavEntry(
                "tenant-integrations",
                _("Integrations"),
                "integrations:home",
                "tenant",
                is_tenant_admin,
                70,
            )
        )
        register(
            NavEntry(
                "staff-keys",
                _("Key status"),
                "staff_integrations:key_status",
                "staff",
                has_oversight,
                92,
            )
        )
        register(
            NavEntry(
                "staff-api-alerts",
                _("API alerts"),
                "staff_integrations:api_alerts",
                "staff",
                has_oversight,
                93,
            )
        )
        register(
            NavEntry(
                "staff-api-deprecations",
                _("Deprecated API calls"),
                "staff_integrations:api_deprecations",
                "staff",
                has_oversight,
                94,
            )
        )
