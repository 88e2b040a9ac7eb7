from django.urls import path

from apps.tenants import views

app_name = "tenants"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("environments/", views.environment_list, name="environment_list"),
    path("members/", views.membership_list, name="membership_list"),
]
