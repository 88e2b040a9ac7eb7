"""SCIM 2.0 service provider, mounted at /scim/v2/<tenant>/ (bearer-token authenticated)."""

from django.urls import path  # noqa: F401

app_name = "scim_api"
urlpatterns: list = []
