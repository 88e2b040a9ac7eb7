"""Data keys of the envelope encryption, stored only in wrapped form.

Imported by apps/core/models.py so Django registers the model under the `core` app. Kept free
of imports from apps.core.models (that module imports this one at its end).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.tenancy import TenantContextMissing, current_scope

PLATFORM_SCOPE = "platform"


def data_key_scope(tenant_id: int | None) -> str:
    return PLATFORM_SCOPE if tenant_id is None else f"tenant:{tenant_id}"


class DataKeyStatus(models.TextChoices):
    ACTIVE = "active", _("Active (encrypts new values)")
    DECRYPT_ONLY = "decrypt_only", _("Decrypt only (superseded)")


class DataKeyManager(models.Manager["DataKey"]):
    """Like the audit log's manager: scoped to the current tenant, raises without one; the
    crypto layer reads data keys inside an explicit `unscoped()` block (platform key included)."""

    def get_queryset(self) -> models.QuerySet[DataKey]:
        qs = super().get_queryset()
        scope = current_scope()
        if scope.cross_tenant:
            return qs
        if scope.tenant_id is None:
            raise TenantContextMissing("DataKey queried without a tenant context")
        return qs.filter(tenant_id=scope.tenant_id)


class DataKey(models.Model):
    """A 256-bit data key of one tenant (or of the platform), wrapped by the key-encryption key
    of the configured key provider. The clear key never touches the database."""

    tenant = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tenant"),
    )
    scope = models.CharField(_("scope"), max_length=40, editable=False)
    version = models.PositiveIntegerField(_("version"), editable=False)
    status = models.CharField(
        _("status"), max_length=20, choices=DataKeyStatus, default=DataKeyStatus.ACTIVE
    )
    wrapped_key = models.TextField(_("wrapped key"), editable=False)
    kek_version = models.CharField(_("key-encryption key version"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    rotated_at = models.DateTimeField(_("last re-wrapped"), null=True, blank=True)
    superseded_at = models.DateTimeField(_("superseded"), null=True, blank=True)

    objects: ClassVar[DataKeyManager] = DataKeyManager()

    class Meta:
        app_label = "core"
        verbose_name = _("data key")
        verbose_name_plural = _("data keys")
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(fields=["scope", "version"], name="datakey_scope_version"),
            models.UniqueConstraint(
                fields=["scope"],
                condition=models.Q(status="active"),
                name="datakey_one_active_per_scope",
            ),
        ]
        indexes = [models.Index(fields=["kek_version"], name="datakey_kek_version")]

    def __str__(self) -> str:
        return f"{self.scope} v{self.version}"

    def __repr__(self) -> str:  # never the wrapped material, even in tracebacks
        return f"<DataKey {self.pk} {self.scope} v{self.version} {self.status}>"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.scope = data_key_scope(self.tenant_id)
        super().save(*args, **kwargs)
