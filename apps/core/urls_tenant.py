from django.urls import path

from apps.core import views_audit

app_name = "audit"

urlpatterns = [
    path("", views_audit.audit_log_tenant, name="tenant_log"),
    path("export.jsonl", views_audit.audit_export_tenant, name="tenant_export"),
]
