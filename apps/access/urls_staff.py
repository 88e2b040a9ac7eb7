"""Vendor-staff pages of access, mounted at /staff/access/."""

from django.urls import path  # noqa: F401

app_name = "staff_access"
urlpatterns: list = []
