"""Portal pages of scim, mounted at /t/<tenant>/directory/."""

from django.urls import path  # noqa: F401

app_name = "scim"
urlpatterns: list = []
