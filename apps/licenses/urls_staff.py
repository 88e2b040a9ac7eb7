"""Vendor-staff pages of licenses, mounted at /staff/licenses/."""

from django.urls import path  # noqa: F401

app_name = "staff_licenses"
urlpatterns: list = []
