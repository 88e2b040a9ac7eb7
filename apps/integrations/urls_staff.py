from django.urls import path

from apps.integrations import views_staff

app_name = "staff_integrations"

urlpatterns = [
    path("keys/", views_staff.key_status, name="key_status"),
    path("api/deprecations/", views_staff.api_deprecations, name="api_deprecations"),
    path("api/alerts/", views_staff.api_alerts, name="api_alerts"),
    path("offboarding/", views_staff.staff_offboarding, name="staff_offboarding"),
    path(
        "offboarding/<int:user_id>/",
        views_staff.staff_offboard_confirm,
        name="staff_offboard",
    ),
]
