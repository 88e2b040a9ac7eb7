from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    """Report jobs (background, kept for download, scheduled), report kinds, the portfolio
    pages, shared report plumbing (streaming CSV, WeasyPrint PDF) and the navigation entries of
    the access explain pages (their views live in apps.access.views_explain)."""

    name = "apps.reports"
    label = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        from apps.core.navigation import NavEntry, register
        from apps.tenants.models import ADMIN_ROLES, TenantRole

        explain_roles = frozenset({*ADMIN_ROLES, TenantRole.REVIEWER, TenantRole.APPROVER})

        def tenant_explainer(request):  # type: ignore[no-untyped-def]
            membership = getattr(request, "membership", None)
            return membership is not None and membership.role in explain_roles

        def has_oversight(request):  # type: ignore[no-untyped-def]
            return bool(getattr(request.user, "has_oversight", False))

        register(
            NavEntry(
                "tenant-access", _("Access"), "access:explain_home", "tenant", tenant_explainer, 30
            )
        )
        register(
            NavEntry(
                "tenant-vendor-access",
                _("Vendor access"),
                "access:explain_vendor",
                "tenant",
                tenant_explainer,
                31,
            )
        )

        def tenant_reporter(request):  # type: ignore[no-untyped-def]
            from apps.reports.services import REPORT_ROLES

            membership = getattr(request, "membership", None)
            return membership is not None and membership.role in REPORT_ROLES

        register(
            NavEntry(
                "tenant-reports", _("Reports"), "reports:report_list", "tenant", tenant_reporter, 85
            )
        )
        register(
            NavEntry(
                "staff-reports",
                _("Reports"),
                "staff_reports:report_list",
                "staff",
                has_oversight,
                85,
            )
        )
        # Report kinds register themselves on import (apps.reports.kinds).
        import apps.reports.kinds  # noqa: F401

        register(
            NavEntry(
                "staff-access-explorer",
                _("Access explorer"),
                "staff_access:explain_staff_search",
                "staff",
                has_oversight,
                40,
            )
        )
