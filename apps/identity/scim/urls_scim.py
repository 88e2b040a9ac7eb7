"""SCIM 2.0 service provider, mounted at /scim/v2/<tenant>/ (bearer-token authenticated)."""

from django.urls import path, re_path

from apps.identity.scim import views_scim as views

app_name = "scim_api"
urlpatterns = [
    path("ServiceProviderConfig", views.service_provider_config, name="service_provider_config"),
    path("ResourceTypes", views.resource_types, name="resource_types"),
    path("ResourceTypes/<str:name>", views.resource_type, name="resource_type"),
    path("Schemas", views.schema_list, name="schemas"),
    path("Schemas/<str:schema_id>", views.schema_detail, name="schema"),
    path("Users", views.users, name="users"),
    path("Users/.search", views.users_search, name="users_search"),
    path("Users/<str:scim_id>", views.user, name="user"),
    path("Groups", views.groups, name="groups"),
    path("Groups/.search", views.groups_search, name="groups_search"),
    path(".search", views.root_search, name="search"),
    path("Groups/<str:scim_id>", views.group, name="group"),
    re_path(r"^(?P<rest>.*)$", views.not_found, name="not_found"),
]
