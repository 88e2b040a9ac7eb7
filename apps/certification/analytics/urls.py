"""Portal pages of access analytics, mounted at /t/<tenant>/analytics/."""

from django.urls import path

from apps.certification.analytics import views

app_name = "analytics"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("alerts/<int:alert_id>/", views.alert_detail, name="alert_detail"),
    path("alerts/<int:alert_id>/triage/", views.alert_triage, name="alert_triage"),
    path("findings/", views.findings, name="findings"),
    path("findings/refresh/", views.findings_refresh, name="findings_refresh"),
    path("mining/", views.mining, name="mining"),
    path("mining/run/", views.mining_run, name="mining_run"),
    path("mining/<int:candidate_id>/", views.candidate_detail, name="candidate_detail"),
    path("mining/<int:candidate_id>/accept/", views.candidate_accept, name="candidate_accept"),
    path("mining/<int:candidate_id>/dismiss/", views.candidate_dismiss, name="candidate_dismiss"),
    path("settings/", views.analytics_settings, name="settings"),
    path("events/", views.events, name="events"),
]
