"""Vendor-staff pages of licenses, mounted at /staff/licenses/."""

from django.urls import path

from apps.licenses import views_staff

app_name = "staff_licenses"
urlpatterns = [
    path("", views_staff.overview, name="overview"),
]
