"""Portal pages of licenses, mounted at /t/<tenant>/licenses/."""

from django.urls import path  # noqa: F401

app_name = "licenses"
urlpatterns: list = []
