from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "apps.certification.analytics"
    label = "analytics"
    verbose_name = _("Access analytics")

    def ready(self) -> None:
        from apps.certification.analytics import hooks
        from apps.core.navigation import NavEntry, register
        from apps.tenants.models import ADMIN_ROLES, TenantRole

        readers = {*ADMIN_ROLES, TenantRole.REVIEWER, TenantRole.APPROVER}

        def reads_analytics(request):  # type: ignore[no-untyped-def]
            membership = getattr(request, "membership", None)
            return membership is not None and membership.role in readers

        def has_oversight(request):  # type: ignore[no-untyped-def]
            return bool(getattr(request.user, "has_oversight", False))

        hooks.connect()
        register(
            NavEntry(
                "tenant-analytics",
                _("Access analytics"),
                "analytics:dashboard",
                "tenant",
                reads_analytics,
                70,
            )
        )
        register(
            NavEntry(
                "staff-analytics",
                _("Compliance dashboard"),
                "staff_analytics:dashboard",
                "staff",
                has_oversight,
                70,
            )
        )
