"""Portal pages of scim, mounted at /t/<tenant>/directory/."""

from django.urls import path

from apps.identity.scim import views

app_name = "scim"
urlpatterns = [
    path("", views.directory_home, name="home"),
    path("tokens/new/", views.token_create, name="token_create"),
    path("tokens/<int:token_id>/rotate/", views.token_rotate, name="token_rotate"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("settings/", views.settings_update, name="settings"),
    path("mappings/new/", views.mapping_create, name="mapping_create"),
    path("mappings/<int:mapping_id>/delete/", views.mapping_delete, name="mapping_delete"),
]
