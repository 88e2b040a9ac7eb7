from django.urls import path

from apps.core import views_audit

app_name = "audit"

urlpatterns = [
    path("", views_audit.audit_log_tenant, name="tenant_log"),
]
