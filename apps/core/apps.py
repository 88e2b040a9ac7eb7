from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = _("Core and audit")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from apps.core import checks, rls  # noqa: F401 - checks registers deploy checks

        # Infrastructure, not domain behaviour: keeps RLS policies and grants in step with
        # the schema after every migrate (PostgreSQL only).
        post_migrate.connect(rls.apply_after_migrate, dispatch_uid="custos-rls")
