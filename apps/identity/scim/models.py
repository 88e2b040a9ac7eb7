"""SCIM 2.0 directory sync: tokens, per-tenant settings, and the SCIM view of users and groups.

A SCIM user is not a second user record: `ScimUser` links the tenant's directory entry
(externalId, userName, the attributes the IdP pushes) to the one `identity.User`, which is also
the person who signs in through the tenant's IdP.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantOwnedModel

TOKEN_KIND = "scm"  # noqa: S105 - a prefix, not a secret


class ScimToken(TenantOwnedModel):
    """A bearer token an IdP uses to push the tenant's directory. Only HMAC(pepper, token) is
    stored (apps.integrations.tokens); the clear token is shown once."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("revoked by"),
    )
    revoke_reason = models.CharField(_("revoke reason"), max_length=200, blank=True)
    replaced_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("replaced by"),
    )
    rotated_at = models.DateTimeField(_("rotated"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    last_used_ip = models.CharField(_("last used from"), max_length=45, blank=True)

    class Meta:
        verbose_name = _("SCIM token")
        verbose_name_plural = _("SCIM tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_token})"

    @property
    def display_token(self) -> str:
        return f"{TOKEN_KIND}_{self.prefix}_…"

    def is_usable(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class ScimSettings(TenantOwnedModel):
    """Per-tenant sync settings (one row per tenant, created on first use)."""

    sync_interval_minutes = models.PositiveIntegerField(
        _("sync interval (minutes)"),
        default=40,
        help_text=_("How often the identity provider is expected to push or confirm users."),
    )
    staleness_days = models.PositiveIntegerField(
        _("staleness (days)"),
        default=30,
        help_text=_("Users the identity provider has not confirmed for this long count as stale."),
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        _("rate limit (requests per minute)"), default=6000
    )
    rate_limit_burst = models.PositiveIntegerField(_("rate limit burst"), default=600)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("SCIM settings")
        verbose_name_plural = _("SCIM settings")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="scim_settings_one_per_tenant"),
            models.CheckConstraint(
                condition=models.Q(staleness_days__gte=1), name="scim_settings_staleness_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(sync_interval_minutes__gte=1),
                name="scim_settings_interval_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"SCIM settings #{self.tenant_id}"


class ScimUser(TenantOwnedModel):
    """The tenant directory's entry for one person: links externalId/userName to the user."""

    scim_id = models.UUIDField(_("SCIM id"), default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("user"),
    )
    user_name = models.CharField(_("user name"), max_length=254)
    external_id = models.CharField(_("external id"), max_length=255, blank=True)
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    email = models.EmailField(_("email"), max_length=254, blank=True)
    active = models.BooleanField(_("active"), default=True)
    # Everything else the IdP sent (name parts, phone numbers, enterprise extension, ...).
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("last modified"), default=timezone.now, db_index=True)
    last_confirmed_at = models.DateTimeField(
        _("last confirmed by the identity provider"), default=timezone.now, db_index=True
    )
    deprovisioned_at = models.DateTimeField(_("deprovisioned"), null=True, blank=True)

    class Meta:
        verbose_name = _("SCIM user")
        verbose_name_plural = _("SCIM users")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "email"], name="scim_user_email")]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="scim_user_one_per_user"),
            models.UniqueConstraint(
                "tenant", Lower("user_name"), name="scim_user_user_name_unique"
            ),
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=~models.Q(external_id=""),
                name="scim_user_external_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.user_name

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


class ScimGroup(TenantOwnedModel):
    scim_id = models.UUIDField(_("SCIM id"), default=uuid.uuid4, unique=True, editable=False)
    display_name = models.CharField(_("display name"), max_length=200)
    external_id = models.CharField(_("external id"), max_length=255, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("last modified"), default=timezone.now, db_index=True)
    members = models.ManyToManyField(
        ScimUser, through="ScimGroupMember", related_name="groups", verbose_name=_("members")
    )

    class Meta:
        verbose_name = _("SCIM group")
        verbose_name_plural = _("SCIM groups")
        ordering = ["display_name", "id"]
        constraints = [
            models.UniqueConstraint(
                "tenant", Lower("display_name"), name="scim_group_display_name_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


class ScimGroupMember(TenantOwnedModel):
    group = models.ForeignKey(ScimGroup, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(ScimUser, on_delete=models.CASCADE, related_name="group_memberships")

    class Meta:
        verbose_name = _("SCIM group member")
        verbose_name_plural = _("SCIM group members")
        constraints = [
            models.UniqueConstraint(fields=["group", "member"], name="scim_group_member_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.group_id}:{self.member_id}"


class ScimGroupRoleMapping(TenantOwnedModel):
    """Members of `group` hold the tenant role `role_key` (an apps.access Role key), as a
    mapped grant that reconcile adds and removes with the group membership."""

    group = models.ForeignKey(
        ScimGroup, on_delete=models.CASCADE, related_name="role_mappings", verbose_name=_("group")
    )
    role_key = models.SlugField(_("role key"), max_length=100)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("SCIM group role mapping")
        verbose_name_plural = _("SCIM group role mappings")
        constraints = [
            models.UniqueConstraint(fields=["group", "role_key"], name="scim_group_role_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.group} → {self.role_key}"


# `field__lower="x"` compiles to LOWER(col) = 'x', which the Lower() unique indexes above serve
# (iexact compiles to UPPER(...) and would scan the table).
for _model, _field in ((ScimUser, "user_name"), (ScimGroup, "display_name")):
    _model._meta.get_field(_field).register_lookup(Lower)  # type: ignore[union-attr]
