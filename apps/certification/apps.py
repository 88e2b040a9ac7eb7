from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CertificationConfig(AppConfig):
    name = "apps.certification"
    label = "certification"
    verbose_name = _("Certification")

    def ready(self) -> None:
        from apps.core.navigation import NavEntry, register

        def is_staff(request):  # type: ignore[no-untyped-def]
            return bool(getattr(request.user, "is_vendor_staff", False))

        register(
            NavEntry(
                "tenant-certification",
                _("Access reviews"),
                "certification:home",
                "tenant",
                lambda r: True,
                60,
            )
        )
        register(
            NavEntry(
                "staff-certification",
                _("Access reviews"),
                "staff_certification:home",
                "staff",
                is_staff,
                40,
            )
        )
