from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FederationConfig(AppConfig):
    name = "apps.identity.federation"
    label = "federation"
    verbose_name = _("Identity federation")

    def ready(self) -> None:
        from apps.core.navigation import NavEntry, register
        from apps.tenants.permissions import is_tenant_admin

        register(
            NavEntry(
                "tenant-federation",
                _("Identity federation"),
                "federation:home",
                "tenant",
                is_tenant_admin,
                65,
            )
        )
