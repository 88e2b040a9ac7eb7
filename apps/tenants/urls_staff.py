from django.urls import path

from apps.tenants import views_staff

app_name = "staff"

urlpatterns = [
    path("", views_staff.staff_home, name="home"),
    path("access-teams/", views_staff.access_team_list, name="access_team_list"),
    path("tenants/<int:tenant_id>/access-team/", views_staff.access_team, name="access_team"),
]
