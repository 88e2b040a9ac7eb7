"""Django admin registrations of core (the audit log, read-only)."""

from django.contrib import admin

from apps.core.admin_base import (
    AuditedAdminMixin,
    AuditedModelAdmin,
    ReadOnlyAdmin,
    TenantOwnedAdmin,
)
from apps.core.models import AuditChainHead, AuditCheckpoint, AuditEvent

__all__ = ["AuditedAdminMixin", "AuditedModelAdmin", "ReadOnlyAdmin", "TenantOwnedAdmin"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("chain", "seq", "occurred_at", "action", "outcome", "actor_id", "target_type")
    list_filter = ("outcome",)
    search_fields = ("action", "target_id", "request_id")


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(ReadOnlyAdmin):
    list_display = ("chain", "last_seq", "last_hash", "updated_at")


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "merkle_root", "key_id")
