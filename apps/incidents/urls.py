"""Portal pages of incidents, mounted at /t/<tenant>/incidents/."""

from django.urls import path

from apps.incidents import views

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("<int:incident_id>/", views.incident_detail, name="detail"),
    path("<int:incident_id>/sign-off/", views.incident_signoff, name="signoff"),
]
