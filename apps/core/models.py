"""Base models for tenant-owned rows, and the append-only audit log."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.tenancy import TenantContextMissing, current_scope


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Any) -> Self:
        """Explicitly scope to one tenant (the filter the manager would otherwise add)."""
        tenant_id = getattr(tenant, "pk", tenant)
        return self.filter(tenant_id=tenant_id)


class TenantManager(models.Manager):
    """Default manager of every tenant-owned model: filters by the current tenant, raises
    without one. Inside `unscoped()` it returns every tenant's rows (explicit crossing)."""

    _queryset_class = TenantQuerySet

    def get_queryset(self) -> TenantQuerySet:
        qs: TenantQuerySet = TenantQuerySet(self.model, using=self._db)
        scope = current_scope()
        if scope.cross_tenant:
            return qs
        if scope.tenant_id is None:
            raise TenantContextMissing(
                f"{self.model.__name__} queried without a tenant context; "
                "use tenant_context(tenant) or unscoped(reason=...)"
            )
        return qs.filter(tenant_id=scope.tenant_id)

    def for_tenant(self, tenant: Any) -> TenantQuerySet:
        tenant_id = getattr(tenant, "pk", tenant)
        scope = current_scope()
        if not scope.cross_tenant and scope.tenant_id not in (None, tenant_id):
            raise TenantContextMissing(
                f"{self.model.__name__}.for_tenant({tenant_id}) inside tenant {scope.tenant_id}"
            )
        return TenantQuerySet(self.model, using=self._db).filter(tenant_id=tenant_id)


class TenantOwnedModel(models.Model):
    """Every tenant-owned table: non-null tenant_id, scoped manager, RLS on PostgreSQL."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.PROTECT, related_name="+", verbose_name=_("tenant")
    )

    objects: ClassVar[TenantManager] = TenantManager()

    class Meta:
        abstract = True
        base_manager_name = "objects"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.tenant_id is None:
            scope = current_scope()
            if scope.tenant_id is None:
                raise TenantContextMissing(f"{type(self).__name__} saved without a tenant")
            self.tenant_id = scope.tenant_id
        super().save(*args, **kwargs)


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True


PLATFORM_CHAIN = "platform"


def chain_key(tenant_id: int | None) -> str:
    return PLATFORM_CHAIN if tenant_id is None else f"tenant:{tenant_id}"


class AuditChainHead(models.Model):
    """One row per chain (one per tenant plus the platform chain); appends lock it, so
    writers in different tenants never wait on each other."""

    chain = models.CharField(max_length=40, unique=True)
    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("audit chain head")

    def __str__(self) -> str:
        return f"{self.chain} @ {self.last_seq}"


class AuditEventQuerySet(models.QuerySet):
    def for_chain(self, chain: str) -> Self:
        return self.filter(chain=chain).order_by("seq")


class AuditEventManager(models.Manager):
    """Scoped like TenantManager, except that platform events (no tenant) are only visible
    inside `unscoped()`."""

    def get_queryset(self) -> AuditEventQuerySet:
        qs: AuditEventQuerySet = AuditEventQuerySet(self.model, using=self._db)
        scope = current_scope()
        if scope.cross_tenant:
            return qs
        if scope.tenant_id is None:
            raise TenantContextMissing("AuditEvent queried without a tenant context")
        return qs.filter(tenant_id=scope.tenant_id)


class AuditEvent(models.Model):
    """Append-only, hash-chained. Never updated or deleted (a PostgreSQL trigger refuses);
    pseudonymisation (issue: retention) replaces `personal` data but keeps its digest."""

    chain = models.CharField(max_length=40, editable=False)
    seq = models.BigIntegerField(editable=False)
    # Indexes are few on purpose: every append pays for each one. `audit_page` and
    # `audit_tenant_page` (Meta) serve time and tenant lookups, (chain, seq) the chains.
    occurred_at = models.DateTimeField(_("time"), editable=False)
    tenant = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tenant"),
        db_index=False,
    )
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True, db_index=True)
    on_behalf_of_id = models.BigIntegerField(_("on behalf of"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=80, db_index=True)
    outcome = models.CharField(_("outcome"), max_length=16, default="success")
    target_type = models.CharField(_("target type"), max_length=80, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    # Personal data: replaced by pseudonyms after retention; `personal_digest` keeps the chain.
    personal = models.JSONField(_("details"), default=dict)
    personal_salt = models.CharField(max_length=32, blank=True)
    personal_digest = models.CharField(max_length=64)
    pseudonymised_at = models.DateTimeField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventManager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq_unique"),
        ]
        indexes = [
            # With `-id` they give the log's exact page order (newest first, id breaking ties):
            # a page is one ordered index range, never a sort of a big tenant's events.
            models.Index(fields=["tenant", "-occurred_at", "-id"], name="audit_tenant_page"),
            models.Index(fields=["-occurred_at", "-id"], name="audit_page"),
        ]
        base_manager_name = "objects"

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    @property
    def actor_label(self) -> str:
        return str(self.personal.get("actor", ""))

    @property
    def target_label(self) -> str:
        return str(self.personal.get("target", ""))

    @property
    def action_label(self) -> str:
        """The action's human name in the active language (the machine name if it has none)."""
        from apps.core.audit.labels import action_label

        return action_label(self.action)


class AuditCheckpoint(models.Model):
    """A signed statement of every chain's head at one moment (also exported off-database)."""

    # Set by the checkpointer, not auto_now_add: the signed statement carries this exact time.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    heads = models.JSONField()  # {chain: [seq, hash]}
    merkle_root = models.CharField(max_length=64)
    key_id = models.CharField(max_length=64)
    signature = models.CharField(max_length=200)

    class Meta:
        verbose_name = _("audit checkpoint")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"checkpoint {self.merkle_root[:12]} @ {self.created_at:%Y-%m-%d %H:%M}"


# Envelope encryption's data keys (apps/core/crypto) belong to this app: imported here so Django
# registers the model with `core`.
from apps.core.crypto.models import DataKey  # noqa: E402, F401
