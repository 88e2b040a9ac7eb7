"""The Django admin site of Custos (installed by apps.core.admin_config)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.core.admin_base import AuditedAdminMixin


class CustosAdminSite(admin.AdminSite):
    """The admin site: MFA-verified operators only; every ModelAdmin audited."""

    site_header = "Custos administration"
    site_title = "Custos admin"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            super().has_permission(request) and getattr(user, "is_verified", lambda: False)()
        )

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        base = admin_class or admin.ModelAdmin
        if not issubclass(base, AuditedAdminMixin):
            base = type(
                f"Audited{base.__name__}",
                (AuditedAdminMixin, base),
                {"__module__": base.__module__},
            )
        super().register(model_or_iterable, base, **options)
