from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RequestsConfig(AppConfig):
    name = "apps.requests"
    label = "requests"
    verbose_name = _("Access requests")

    def ready(self) -> None:
        from apps.core.navigation import NavEntry, register
        from apps.tenants.models import ADMIN_ROLES, TenantRole

        def is_decider(request):  # type: ignore[no-untyped-def]
            membership = getattr(request, "membership", None)
            return membership is not None and membership.role in (*ADMIN_ROLES, TenantRole.APPROVER)

        def is_staff(request):  # type: ignore[no-untyped-def]
            return bool(getattr(request.user, "is_vendor_staff", False))

        register(
            NavEntry(
                "tenant-requests",
                _("Request access"),
                "requests:catalog",
                "tenant",
                lambda r: True,
                30,
            )
        )
        register(
            NavEntry(
                "tenant-my-access",
                _("My access"),
                "requests:my_access",
                "tenant",
                lambda r: True,
                31,
            )
        )
        register(
            NavEntry(
                "tenant-approvals", _("Approvals"), "requests:inbox", "tenant", lambda r: True, 32
            )
        )
        register(
            NavEntry(
                "tenant-vendor-access",
                _("Vendor access"),
                "requests:vendor_access",
                "tenant",
                is_decider,
                75,
            )
        )
        register(
            NavEntry(
                "staff-customer-access",
                _("Customer access"),
                "staff_requests:home",
                "staff",
                is_staff,
                20,
            )
        )
        register(
            NavEntry(
                "staff-vendor-approvals",
                _("Vendor approvals"),
                "staff_requests:inbox",
                "staff",
                is_staff,
                21,
            )
        )
