"""Base ModelAdmin classes: every change audited (no model registrations here, so the admin
site module can import it without a cycle)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.forms.models import model_to_dict
from django.http import HttpRequest

from apps.core.audit.services import audit_event_record
from apps.core.tenancy import unscoped


def _snapshot(obj: models.Model) -> dict[str, Any]:
    data = model_to_dict(obj)
    for name in ("password", "key", "secret", "token_hash"):
        if name in data:
            data[name] = "***"
    return {k: str(v) for k, v in data.items()}


class AuditedAdminMixin:
    """Records `admin.<model>.created|changed|deleted` with before/after for every save.
    `CustosAdminSite` mixes it into every registered ModelAdmin (ours and third-party ones),
    so no admin change escapes the audit log. Tenant-owned rows are reached across tenants
    (operators only: an explicit crossing) and recorded in the row's tenant chain."""

    def _tenant_of(self, obj: models.Model) -> Any:
        if obj._meta.label == "tenants.Tenant":
            return obj.pk
        return getattr(obj, "tenant_id", None)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before: dict[str, Any] = {}
        if change and obj.pk:
            with unscoped(reason="admin: read the row before the change"):
                old = type(obj)._default_manager.filter(pk=obj.pk).first()
            before = _snapshot(old) if old is not None else {}
        with unscoped(reason="admin change by an operator"), transaction.atomic():
            super().save_model(request, obj, form, change)  # type: ignore[misc]
            audit_event_record(
                action=f"admin.{obj._meta.model_name}.{'changed' if change else 'created'}",
                actor=request.user,
                tenant=self._tenant_of(obj),
                use_current_tenant=False,
                target=obj,
                before=before,
                after=_snapshot(obj),
                details={"changed_fields": list(getattr(form, "changed_data", []) or [])},
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with unscoped(reason="admin delete by an operator"), transaction.atomic():
            snapshot = _snapshot(obj)
            tenant = self._tenant_of(obj)
            target_id = obj.pk
            super().delete_model(request, obj)  # type: ignore[misc]
            audit_event_record(
                action=f"admin.{obj._meta.model_name}.deleted",
                actor=request.user,
                tenant=tenant,
                use_current_tenant=False,
                target_type=obj._meta.label_lower,
                target_id=target_id,
                before=snapshot,
            )

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        with unscoped(reason="admin bulk delete by an operator"), transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)

    # Tenant-owned models: operators see every tenant's rows (explicit, audited crossing).
    def get_queryset(self, request: HttpRequest) -> Any:
        with unscoped(reason="Django admin list for operators"):
            return super().get_queryset(request)  # type: ignore[misc]

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with unscoped(reason="Django admin change form for operators"):
            return super().changeform_view(request, *args, **kwargs)  # type: ignore[misc]

    def changelist_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with unscoped(reason="Django admin change list for operators"):
            return super().changelist_view(request, *args, **kwargs)  # type: ignore[misc]

    def delete_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with unscoped(reason="Django admin delete for operators"):
            return super().delete_view(request, *args, **kwargs)  # type: ignore[misc]

    def history_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with unscoped(reason="Django admin history for operators"):
            return super().history_view(request, *args, **kwargs)  # type: ignore[misc]


class AuditedModelAdmin(AuditedAdminMixin, admin.ModelAdmin):
    pass


class TenantOwnedAdmin(AuditedModelAdmin):
    list_select_related = ("tenant",)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
