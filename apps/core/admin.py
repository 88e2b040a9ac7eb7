"""Django admin: every change is audited; tenant-owned models are listed across tenants
(operators only, an explicit crossing) and each change is recorded in the row's tenant chain."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.forms.models import model_to_dict
from django.http import HttpRequest

from apps.core.audit.services import audit_event_record
from apps.core.models import AuditChainHead, AuditCheckpoint, AuditEvent, TenantQuerySet
from apps.core.tenancy import unscoped


def _snapshot(obj: models.Model) -> dict[str, Any]:
    data = model_to_dict(obj)
    for name in ("password", "key", "secret", "token_hash"):
        if name in data:
            data[name] = "***"
    return {k: str(v) for k, v in data.items()}


class AuditedModelAdmin(admin.ModelAdmin):
    """Records `admin.<model>.created|changed|deleted` with before/after for every save."""

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
            super().save_model(request, obj, form, change)
            audit_event_record(
                action=f"admin.{obj._meta.model_name}.{'changed' if change else 'created'}",
                actor=request.user,
                tenant=self._tenant_of(obj),
                use_current_tenant=False,
                target=obj,
                before=before,
                after=_snapshot(obj),
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with unscoped(reason="admin delete by an operator"), transaction.atomic():
            snapshot = _snapshot(obj)
            tenant = self._tenant_of(obj)
            target_id = obj.pk
            super().delete_model(request, obj)
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
        for obj in queryset:
            self.delete_model(request, obj)


class TenantOwnedAdmin(AuditedModelAdmin):
    """Operators see every tenant's rows here: an explicit, audited crossing."""

    list_select_related = ("tenant",)

    def get_queryset(self, request: HttpRequest) -> TenantQuerySet:
        with unscoped(reason="Django admin list for operators"):
            qs = super().get_queryset(request)
        return qs

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with unscoped(reason="Django admin change form for operators"):
            return super().changeform_view(request, *args, **kwargs)

    def changelist_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with unscoped(reason="Django admin change list for operators"):
            return super().changelist_view(request, *args, **kwargs)

    def delete_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with unscoped(reason="Django admin delete for operators"):
            return super().delete_view(request, *args, **kwargs)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("chain", "seq", "occurred_at", "action", "outcome", "actor_id", "target_type")
    list_filter = ("outcome",)
    search_fields = ("action", "target_id", "request_id")

    def get_queryset(self, request: HttpRequest) -> Any:
        with unscoped(reason="Django admin audit list for operators"):
            return super().get_queryset(request)

    def changelist_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with unscoped(reason="Django admin audit list for operators"):
            return super().changelist_view(request, *args, **kwargs)

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with unscoped(reason="Django admin audit detail for operators"):
            return super().changeform_view(request, *args, **kwargs)


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(ReadOnlyAdmin):
    list_display = ("chain", "last_seq", "last_hash", "updated_at")


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "merkle_root", "key_id")
