from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccessConfig(AppConfig):
    name = "apps.access"
    label = "access"
    verbose_name = _("Access model")

    def ready(self) -> None:
        from apps.access.permissions import can_manage_attestations
        from apps.core.navigation import NavEntry, register
        from apps.tenants.permissions import is_tenant_admin

        register(
            NavEntry(
                "tenant-access-catalog",
                _("Access catalog"),
                "access:entitlement_list",
                "tenant",
                is_tenant_admin,
                40,
            )
        )
        register(
            NavEntry(
                "tenant-access-attestations",
                _("Compliance attestations"),
                "access:attestation_list",
                "tenant",
                can_manage_attestations,
                41,
            )
        )
