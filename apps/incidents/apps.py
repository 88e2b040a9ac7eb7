from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncidentsConfig(AppConfig):
    name = "apps.incidents"
    label = "incidents"
    verbose_name = _("Incidents")

    def ready(self) -> None:
        from apps.core.navigation import NavEntry, register
        from apps.tenants.permissions import is_tenant_admin

        def has_oversight(request):  # type: ignore[no-untyped-def]
            return bool(getattr(request.user, "has_oversight", False))

        register(
            NavEntry(
                "tenant-incidents",
                _("Security incidents"),
                "incidents:list",
                "tenant",
                is_tenant_admin,
                95,
            )
        )
        register(
            NavEntry(
                "staff-incidents",
                _("Incidents"),
                "staff_incidents:list",
                "staff",
                has_oversight,
                90,
            )
        )
