"""Vendor-staff pages of certification, mounted at /staff/certification/."""

from django.urls import path  # noqa: F401

app_name = "staff_certification"
urlpatterns: list = []
