from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScimConfig(AppConfig):
    name = "apps.identity.scim"
    label = "scim"
    verbose_name = _("SCIM directory sync")

    def ready(self) -> None:
        from apps.core.navigation import NavEntry, register
        from apps.tenants.permissions import is_tenant_admin

        register(
            NavEntry(
                "tenant-directory", _("Directory sync"), "scim:home", "tenant", is_tenant_admin, 65
            )
        )
