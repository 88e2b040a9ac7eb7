"""Vendor-staff pages of access, mounted at /staff/access/."""

from django.urls import path

app_name = "staff_access"
urlpatterns: list = []

# --- access explorer (h3b-visibility; apps/access/views_explain.py) ---
from apps.access import views_explain  # noqa: E402

urlpatterns += [
    path("users/", views_explain.explain_staff_search, name="explain_staff_search"),
    path("users/<int:user_id>/", views_explain.explain_staff_user, name="explain_staff_user"),
]
