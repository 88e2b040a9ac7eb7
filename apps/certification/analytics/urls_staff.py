"""Staff compliance dashboard of access analytics, mounted at /staff/analytics/."""

from django.urls import path

from apps.certification.analytics import views_staff

app_name = "staff_analytics"
urlpatterns = [
    path("", views_staff.dashboard, name="dashboard"),
    path("alerts/<int:alert_id>/", views_staff.alert_detail, name="alert_detail"),
    path("alerts/<int:alert_id>/triage/", views_staff.alert_triage, name="alert_triage"),
]
