"""Portal pages of requests, mounted at /t/<tenant>/requests/."""

from django.urls import path  # noqa: F401

app_name = "requests"
urlpatterns: list = []
