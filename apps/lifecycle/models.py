"""Records of the lifecycle orchestration (joiner / mover / leaver)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantOwnedModel


class DeprovisionTrigger(models.TextChoices):
    SCIM_DEACTIVATE = "scim_deactivate", _("SCIM deactivation")
    SCIM_DELETE = "scim_delete", _("SCIM deletion")
    IDP_GROUP_REMOVAL = "idp_group_removal", _("Identity provider group removal")
    CONTRACT_END = "contract_end", _("Contract ended")
    TENANT_TERMINATED = "tenant_terminated", _("Tenant terminated")
    ROLE_CHANGE = "role_change", _("Role change")
    MANUAL = "manual", _("Manual")
    INCIDENT = "incident", _("Incident")


class RevocationConfirmation(TenantOwnedModel):
    """What a leaver run took away, and when that was confirmed: the record an auditor reads
    ("access revocation confirmed at …"). Written in the same transaction as the revocation and
    tied to its audit event (sequence number and hash in the tenant's chain)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    subject_label = models.CharField(_("person"), max_length=254)
    trigger = models.CharField(_("trigger"), max_length=30, choices=DeprovisionTrigger)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(_("acting"), max_length=200, blank=True)
    grants_revoked = models.PositiveIntegerField(_("grants revoked"), default=0)
    api_keys_revoked = models.PositiveIntegerField(_("API keys revoked"), default=0)
    # None: the licences app offers no reclaim hook (yet).
    seats_reclaimed = models.PositiveIntegerField(_("licence seats reclaimed"), null=True)
    sessions_ended = models.BooleanField(_("sessions ended"), default=False)
    membership_ended = models.BooleanField(_("membership ended"), default=False)
    account_disabled = models.BooleanField(_("account disabled"), default=False)
    started_at = models.DateTimeField(_("started"))
    confirmed_at = models.DateTimeField(_("access revocation confirmed at"), db_index=True)
    duration_ms = models.FloatField(_("duration (ms)"), default=0)
    audit_seq = models.BigIntegerField(_("audit event number"), null=True)
    audit_hash = models.CharField(_("audit event hash"), max_length=64, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("revocation confirmation")
        verbose_name_plural = _("revocation confirmations")
        ordering = ["-confirmed_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-confirmed_at"], name="revocation_tenant_time")]

    def __str__(self) -> str:
        return f"{self.subject_label} @ {self.confirmed_at:%Y-%m-%d %H:%M:%S}"
