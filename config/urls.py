from django.contrib import admin
from django.urls import include, path, re_path
from django.views.i18n import JavaScriptCatalog

from apps.core import views as core_views
from apps.integrations.api import api, api_not_found
from apps.tenants import views as tenant_views

urlpatterns = [
    path("", tenant_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("accounts/", include("apps.identity.urls")),
    path("t/<slug:tenant_slug>/", include("apps.tenants.urls")),
    path("t/<slug:tenant_slug>/audit/", include("apps.core.urls_tenant")),
    path("t/<slug:tenant_slug>/integrations/", include("apps.integrations.urls")),
    path("t/<slug:tenant_slug>/access/", include("apps.access.urls")),
    path("t/<slug:tenant_slug>/requests/", include("apps.requests.urls")),
    path("t/<slug:tenant_slug>/certification/", include("apps.certification.urls")),
    path("t/<slug:tenant_slug>/analytics/", include("apps.certification.analytics.urls")),
    path("t/<slug:tenant_slug>/licenses/", include("apps.licenses.urls")),
    path("t/<slug:tenant_slug>/reports/", include("apps.reports.urls")),
    path("t/<slug:tenant_slug>/incidents/", include("apps.incidents.urls")),
    path("t/<slug:tenant_slug>/federation/", include("apps.identity.federation.urls")),
    path("t/<slug:tenant_slug>/directory/", include("apps.identity.scim.urls")),
    path("federation/", include("apps.identity.federation.urls_public")),
    path("scim/v2/<slug:tenant_slug>/", include("apps.identity.scim.urls_scim")),
    path("staff/", include("apps.tenants.urls_staff")),
    path("staff/access/", include("apps.access.urls_staff")),
    path("staff/requests/", include("apps.requests.urls_staff")),
    path("staff/certification/", include("apps.certification.urls_staff")),
    path("staff/analytics/", include("apps.certification.analytics.urls_staff")),
    path("staff/licenses/", include("apps.licenses.urls_staff")),
    path("staff/reports/", include("apps.reports.urls_staff")),
    path("staff/incidents/", include("apps.incidents.urls_staff")),
    path("staff/audit/", include("apps.core.urls_staff")),
    path("staff/", include("apps.integrations.urls_staff")),
    path("admin/", admin.site.urls),
    path("webhooks/tickets/", include("apps.requests.urls_webhook")),
    path("api/v1/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", api_not_found, name="api-not-found"),
]

handler400 = "apps.core.errors.bad_request"
handler403 = "apps.core.errors.permission_denied"
handler404 = "apps.core.errors.page_not_found"
handler500 = "apps.core.errors.server_error"
