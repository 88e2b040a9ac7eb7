from django.contrib.admin.apps import AdminConfig


class CustosAdminConfig(AdminConfig):
    """Installs apps.core.admin.CustosAdminSite as the default admin site."""

    default_site = "apps.core.admin_site.CustosAdminSite"
