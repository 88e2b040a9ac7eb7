"""Vendor-staff pages of incidents, mounted at /staff/incidents/."""

from django.urls import path  # noqa: F401

app_name = "staff_incidents"
urlpatterns: list = []
