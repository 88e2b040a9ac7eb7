from django.urls import path

from apps.core import views_audit

app_name = "staff_audit"

urlpatterns = [
    path("", views_audit.audit_log_staff, name="log"),
]
