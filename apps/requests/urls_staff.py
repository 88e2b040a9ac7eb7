"""Vendor-staff pages of requests, mounted at /staff/requests/."""

from django.urls import path  # noqa: F401

app_name = "staff_requests"
urlpatterns: list = []
