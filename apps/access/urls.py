"""Portal pages of access, mounted at /t/<tenant>/access/."""

from django.urls import path  # noqa: F401

app_name = "access"
urlpatterns: list = []
