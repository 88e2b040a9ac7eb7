"""Portal pages of federation, mounted at /t/<tenant>/federation/."""

from django.urls import path  # noqa: F401

app_name = "federation"
urlpatterns: list = []
