"""Portal pages of federation, mounted at /t/<tenant>/federation/."""

from django.urls import path

from apps.identity.federation import views

app_name = "federation"
urlpatterns = [
    path("", views.home, name="home"),
    path("connections/new/", views.connection_edit, name="connection_new"),
    path("connections/<int:connection_id>/", views.connection_edit, name="connection_edit"),
    path(
        "connections/<int:connection_id>/certificates/",
        views.certificate_add,
        name="certificate_add",
    ),
    path(
        "certificates/<int:certificate_id>/remove/",
        views.certificate_remove,
        name="certificate_remove",
    ),
    path("connections/<int:connection_id>/rules/", views.rules, name="rules"),
    path("rules/<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
    path("domains/<int:domain_id>/remove/", views.domain_remove, name="domain_remove"),
    path("domains/<int:domain_id>/verify/", views.domain_verify, name="domain_verify"),
    path(
        "connections/<int:connection_id>/sp-key/rotate/",
        views.sp_key_rotate,
        name="sp_key_rotate",
    ),
    path("conflicts/<int:conflict_id>/resolve/", views.conflict_resolve, name="conflict_resolve"),
]
