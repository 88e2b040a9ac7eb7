"""Portal pages of incidents, mounted at /t/<tenant>/incidents/."""

from django.urls import path  # noqa: F401

app_name = "incidents"
urlpatterns: list = []
