"""Portal pages of access, mounted at /t/<tenant>/access/."""

from django.urls import path

app_name = "access"
urlpatterns: list = []

# --- catalog management and manual grants (h3-access; apps/access/views.py) ---
from apps.access import views  # noqa: E402

urlpatterns += [
    path("catalog/entitlements/", views.entitlement_list, name="entitlement_list"),
    path("catalog/roles/", views.role_list, name="role_list"),
    path("catalog/roles/<int:role_id>/", views.role_edit, name="role_edit"),
    path("catalog/rules/", views.policy_rule_list, name="policy_rule_list"),
    path("catalog/rules/new/", views.policy_rule_edit, name="policy_rule_new"),
    path("catalog/rules/<int:policy_rule_id>/", views.policy_rule_edit, name="policy_rule_edit"),
    path("catalog/sod/", views.sod_rule_list, name="sod_rule_list"),
    path("catalog/sod/new/", views.sod_rule_edit, name="sod_rule_new"),
    path("catalog/sod/<int:sod_rule_id>/", views.sod_rule_edit, name="sod_rule_edit"),
    path("catalog/templates/", views.provisioning_template_list, name="provisioning_template_list"),
    path("grants/new/", views.grant_create, name="grant_create"),
]

# --- explain pages and inventory (h3b-visibility; apps/access/views_explain.py) ---
from apps.access import views_explain  # noqa: E402

urlpatterns += [
    path("explain/", views_explain.explain_home, name="explain_home"),
    path(
        "explain/environments/<int:environment_id>/",
        views_explain.explain_environment,
        name="explain_environment",
    ),
    path(
        "explain/environments/<int:environment_id>/why/<str:kind>/<int:subject_id>/",
        views_explain.explain_why,
        name="explain_why",
    ),
    path("explain/users/<int:user_id>/", views_explain.explain_user, name="explain_user"),
    path("explain/vendor/", views_explain.explain_vendor, name="explain_vendor"),
    path("inventory.csv", views_explain.inventory_csv, name="inventory_csv"),
    path("inventory.pdf", views_explain.inventory_pdf, name="inventory_pdf"),
]

# --- compliance attestations (issue 3; apps/access/views_attestations.py) ---
from apps.access import views_attestations  # noqa: E402

urlpatterns += [
    path("attestations/", views_attestations.attestation_list, name="attestation_list"),
    path(
        "attestations/<int:attestation_id>/revoke/",
        views_attestations.attestation_revoke,
        name="attestation_revoke",
    ),
]
