from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    name = "apps.identity"
    label = "identity"
    verbose_name = _("Identity")

    def ready(self) -> None:
        from django.contrib import admin

        from apps.core.navigation import NavEntry, register
        from apps.identity import views

        register(
            NavEntry("account", _("My account"), "identity:account", "account", lambda r: True, 10)
        )

        # The Django admin signs in through our login (lockout, second factor, audit) rather
        # than its own password-only form.
        admin.site.login = views.admin_login  # type: ignore[method-assign]
        admin.site.logout = views.logout  # type: ignore[method-assign,assignment]
