from django.urls import path

from apps.integrations import views

app_name = "integrations"

urlpatterns = [
    path("", views.integrations_home, name="home"),
    path("keys/", views.api_keys, name="api_keys"),
    path("keys/new/", views.api_key_create, name="api_key_create"),
    path("keys/<int:key_id>/rotate/", views.api_key_rotate, name="api_key_rotate"),
    path("keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("oauth-clients/", views.oauth_clients, name="oauth_clients"),
    path("oauth-clients/new/", views.oauth_client_create, name="oauth_client_create"),
    path(
        "oauth-clients/<int:client_id>/revoke/",
        views.oauth_client_revoke,
        name="oauth_client_revoke",
    ),
    path("webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/new/", views.webhook_create, name="webhook_create"),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret/",
        views.webhook_rotate_secret,
        name="webhook_rotate_secret",
    ),
    path("webhooks/<int:endpoint_id>/toggle/", views.webhook_toggle, name="webhook_toggle"),
    path("webhooks/<int:endpoint_id>/test/", views.webhook_test, name="webhook_test"),
    path(
        "rotations/<int:mark_id>/confirm/",
        views.rotation_mark_confirm,
        name="rotation_mark_confirm",
    ),
]
