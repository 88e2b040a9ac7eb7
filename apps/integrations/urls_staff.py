from django.urls import path

from apps.integrations import views_staff

app_name = "staff_integrations"

urlpatterns = [
    path("keys/", views_staff.key_status, name="key_status"),
    path("api/deprecations/", views_staff.api_deprecations, name="api_deprecations"),
    path("api/alerts/", views_staff.api_alerts, name="api_alerts"),
]
