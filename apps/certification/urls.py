"""Portal pages of certification, mounted at /t/<tenant>/certification/."""

from django.urls import path  # noqa: F401

app_name = "certification"
urlpatterns: list = []
