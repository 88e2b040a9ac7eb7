from django.urls import path

from apps.tenants import views_staff

app_name = "staff"

urlpatterns = [
    path("", views_staff.staff_home, name="home"),
]
