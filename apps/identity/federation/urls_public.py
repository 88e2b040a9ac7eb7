"""Per-tenant federation endpoints (SAML metadata/ACS/SLS, OIDC start/callback, home-realm
discovery), mounted at /federation/ — stable URLs documented in docs/."""

from django.urls import path  # noqa: F401

app_name = "federation_public"
urlpatterns: list = []
