"""The access model: catalog (entitlements, roles, templates), grants, and the policy as data
(standing-access policy, ABAC rules, SoD rules, exceptions, attestations).

Grants are never edited to widen scope: widening is a new grant, so drift is visible. The only
in-place changes are the ones that END or PAUSE access (revoke, suspend, the sweeper's expiry)
and `last_used_at`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantOwnedModel, TimeStampedModel
from apps.tenants.models import slug_validator


class PermissionLevel(models.TextChoices):
    READ = "read", _("Read")
    WRITE = "write", _("Write")
    ADMIN = "admin", _("Admin")
    EXPORT = "export", _("Export")
    OPERATE = "operate", _("Operate")


class RiskLevel(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


RISK_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


class Entitlement(TenantOwnedModel, TimeStampedModel):
    """One permission level on one environment (e.g. `crm-prod:export`)."""

    environment = models.ForeignKey(
        "tenants.Environment",
        on_delete=models.PROTECT,
        related_name="entitlements",
        verbose_name=_("environment"),
    )
    level = models.CharField(_("permission level"), max_length=16, choices=PermissionLevel)
    risk = models.CharField(
        _("risk level"), max_length=16, choices=RiskLevel, default=RiskLevel.MEDIUM
    )
    name = models.SlugField(_("name"), max_length=100, validators=[slug_validator])
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("entitlement")
        verbose_name_plural = _("entitlements")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "environment", "level"], name="entitlement_env_level_unique"
            ),
            models.UniqueConstraint(fields=["tenant", "name"], name="entitlement_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class RoleTemplate(TimeStampedModel):
    """A global (vendor-wide) role blueprint. Not tenant-owned: a tenant role is created from
    it by choosing environments; `levels` says which permission levels each one gets."""

    key = models.SlugField(_("key"), max_length=100, unique=True, validators=[slug_validator])
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    levels = models.JSONField(_("permission levels"), default=list)
    risk = models.CharField(
        _("risk level"), max_length=16, choices=RiskLevel, default=RiskLevel.MEDIUM
    )
    is_vendor_internal = models.BooleanField(_("vendor-internal"), default=False)

    class Meta:
        verbose_name = _("role template")
        verbose_name_plural = _("role templates")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(TenantOwnedModel, TimeStampedModel):
    """A tenant's named bundle of entitlements."""

    key = models.SlugField(_("key"), max_length=100, validators=[slug_validator])
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    entitlements = models.ManyToManyField(
        Entitlement,
        through="RoleEntitlement",
        related_name="roles",
        blank=True,
        verbose_name=_("entitlements"),
    )
    template = models.ForeignKey(
        RoleTemplate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="roles",
        verbose_name=_("template"),
    )
    is_vendor_internal = models.BooleanField(
        _("vendor-internal"),
        default=False,
        help_text=_("A role for the vendor's staff (as opposed to a customer-side role)."),
    )

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="role_key_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class RoleEntitlement(TenantOwnedModel):
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="role_entitlements")
    entitlement = models.ForeignKey(
        Entitlement, on_delete=models.PROTECT, related_name="role_entitlements"
    )

    class Meta:
        verbose_name = _("role entitlement")
        verbose_name_plural = _("role entitlements")
        constraints = [
            models.UniqueConstraint(fields=["role", "entitlement"], name="role_entitlement_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.role_id} → {self.entitlement_id}"


class ProvisioningTemplate(TenantOwnedModel, TimeStampedModel):
    """Which roles a new user gets, chosen by attributes (department, region, tier, ...).
    `criteria` is a flat object: every key must match (a list value means any of)."""

    name = models.CharField(_("name"), max_length=200)
    criteria = models.JSONField(_("criteria"), default=dict, blank=True)
    roles = models.ManyToManyField(
        Role, related_name="provisioning_templates", blank=True, verbose_name=_("roles")
    )
    priority = models.IntegerField(_("priority"), default=100)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("provisioning template")
        verbose_name_plural = _("provisioning templates")
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name


class ServiceAccount(TenantOwnedModel, TimeStampedModel):
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("service account")
        verbose_name_plural = _("service accounts")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="service_account_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class GrantSource(models.TextChoices):
    REQUEST = "request", _("Access request")
    IDP_MAPPING = "idp_mapping", _("IdP mapping")
    SCIM = "scim", _("SCIM")
    MANUAL = "manual", _("Manual")
    BREAK_GLASS = "break_glass", _("Break-glass")
    TEMPLATE = "template", _("Provisioning template")
    INCIDENT_RESTORE = "incident_restore", _("Incident restoration")


def _exactly_one(*names: str) -> Q:
    """Q true when exactly one of the nullable FKs `names` is set."""
    result = Q()
    for i, name in enumerate(names):
        term = Q(**{f"{name}__isnull": False})
        for j, other in enumerate(names):
            if i != j:
                term &= Q(**{f"{other}__isnull": True})
        result |= term
    return result


class Grant(TenantOwnedModel):
    """A subject holds an entitlement or a role in a tenant, from `starts_at` until
    `expires_at` (NULL = standing, only where the standing-access policy allows it).

    Every index is written again when a grant ends (the sweeper's UPDATE clears the indexed
    `ends_at_due`, so it cannot be a HOT update), and 100,000 grants may end in one minute
    (issue 4): the foreign keys that are mostly NULL have partial indexes over the rows that
    set them, and `tenant` has none of its own (indexes led by `tenant` serve its lookups)."""

    tenant = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tenant"),
        db_index=False,  # grant_mapping_key (tenant, mapping_key) leads with it
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="access_grants",
        verbose_name=_("user"),
    )
    service_account = models.ForeignKey(
        ServiceAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="grants",
        verbose_name=_("service account"),
        db_index=False,
    )
    api_key = models.ForeignKey(
        "integrations.ApiKey",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="access_grants",
        verbose_name=_("API key"),
        db_index=False,
    )
    entitlement = models.ForeignKey(
        Entitlement,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="grants",
        verbose_name=_("entitlement"),
        db_index=False,
    )
    role = models.ForeignKey(
        Role,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="grants",
        verbose_name=_("role"),
        db_index=False,
    )
    source = models.CharField(_("source"), max_length=20, choices=GrantSource)
    starts_at = models.DateTimeField(_("starts"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    justification = models.TextField(_("justification"), blank=True)
    ticket_ref = models.CharField(_("ticket reference"), max_length=100, blank=True)
    approval_ref = models.CharField(_("approval"), max_length=100, blank=True)
    mapping_key = models.CharField(_("mapping key"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("revoked by"),
        db_index=False,
    )
    revoke_reason = models.TextField(_("revocation reason"), blank=True)
    suspended_at = models.DateTimeField(_("suspended"), null=True, blank=True)
    suspended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("suspended by"),
        db_index=False,
    )
    suspend_reason = models.TextField(_("suspension reason"), blank=True)
    expired_at = models.DateTimeField(
        _("expiry processed"),
        null=True,
        blank=True,
        help_text=_("When the sweeper recorded the expiry (access ended at 'expires' anyway)."),
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    # The sweeper's due column: expires_at while the grant is unended, NULL once ended.
    ends_at_due = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("grant")
        verbose_name_plural = _("grants")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=_exactly_one("user", "service_account", "api_key"),
                name="grant_exactly_one_subject",
            ),
            models.CheckConstraint(
                condition=_exactly_one("entitlement", "role"),
                name="grant_exactly_one_target",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=models.F("starts_at")),
                name="grant_expires_after_start",
            ),
        ]
        indexes = [
            models.Index(
                fields=["user", "tenant"],
                name="grant_active_user",
                condition=Q(revoked_at__isnull=True),
            ),
            models.Index(
                fields=["entitlement"],
                name="grant_active_entitlement",
                condition=Q(revoked_at__isnull=True),
            ),
            models.Index(
                fields=["role"],
                name="grant_active_role",
                condition=Q(revoked_at__isnull=True),
            ),
            models.Index(
                fields=["ends_at_due"],
                name="grant_sweep_due",
                condition=Q(ends_at_due__isnull=False),
            ),
            # The sweeper's claim: one tenant's due rows in due order.
            models.Index(
                fields=["tenant", "ends_at_due", "id"],
                name="grant_sweep_due_tenant",
                condition=Q(ends_at_due__isnull=False),
            ),
            models.Index(fields=["tenant", "mapping_key"], name="grant_mapping_key"),
            *[
                models.Index(
                    fields=[name], name=f"grant_{name}", condition=Q(**{f"{name}__isnull": False})
                )
                for name in (
                    "service_account",
                    "api_key",
                    "entitlement",
                    "role",
                    "revoked_by",
                    "suspended_by",
                )
            ],
        ]
        permissions = [
            ("read_environment", _("Can read the environment")),
            ("write_environment", _("Can write to the environment")),
            ("admin_environment", _("Can administer the environment")),
            ("export_environment", _("Can export from the environment")),
            ("operate_environment", _("Can operate the environment")),
        ]

    def __str__(self) -> str:
        return f"{self.subject_label} → {self.target_label}"

    @property
    def subject(self) -> Any:
        return self.user or self.service_account or self.api_key

    @property
    def subject_kind(self) -> str:
        if self.user_id:
            return "user"
        if self.service_account_id:
            return "service_account"
        return "api_key"

    @property
    def subject_label(self) -> str:
        return str(self.subject) if self.subject is not None else "?"

    @property
    def target(self) -> Any:
        return self.entitlement if self.entitlement_id else self.role

    @property
    def target_label(self) -> str:
        target = self.target
        return str(target) if target is not None else "?"

    def is_active(self, at: datetime | None = None) -> bool:
        at = at or timezone.now()
        if self.revoked_at is not None or self.suspended_at is not None:
            return False
        if self.starts_at > at:
            return False
        return self.expires_at is None or at < self.expires_at

    @property
    def is_time_bound(self) -> bool:
        return self.expires_at is not None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.suspended_at is not None:
            return "suspended"
        now = timezone.now()
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        if self.starts_at > now:
            return "scheduled"
        return "active"


class StandingAccessPolicy(TenantOwnedModel, TimeStampedModel):
    """The tenant's rule for one risk level: must grants be time-bound, and for how long at
    most. Without a row, defaults by tenant tier apply (apps.access.policy)."""

    risk_level = models.CharField(_("risk level"), max_length=16, choices=RiskLevel)
    time_bound_required = models.BooleanField(_("time-bound required"), default=True)
    max_duration = models.DurationField(_("maximum duration"), null=True, blank=True)

    class Meta:
        verbose_name = _("standing-access policy")
        verbose_name_plural = _("standing-access policies")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "risk_level"], name="standing_policy_risk_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_risk_level_display()}"


class RuleEffect(models.TextChoices):
    DENY = "deny", _("Deny unless the requirement holds")
    FLAG = "flag", _("Allow, but flag when the requirement fails")


class PolicyRule(TenantOwnedModel):
    """One version of an ABAC rule. Edits add a new row (version + 1) and mark the previous
    one not current, so every decision can name the exact version that applied."""

    key = models.SlugField(_("key"), max_length=100, validators=[slug_validator])
    version = models.PositiveIntegerField(_("version"), default=1)
    is_current = models.BooleanField(_("current"), default=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    effect = models.CharField(
        _("effect"), max_length=8, choices=RuleEffect, default=RuleEffect.DENY
    )
    conditions = models.JSONField(_("conditions"), default=dict)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("policy rule")
        verbose_name_plural = _("policy rules")
        ordering = ["key", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "key", "version"], name="policy_rule_version_unique"
            ),
            models.UniqueConstraint(
                fields=["tenant", "key"],
                condition=Q(is_current=True),
                name="policy_rule_one_current",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"


class SodMode(models.TextChoices):
    DENY = "deny", _("Deny at grant time")
    FLAG = "flag", _("Flag as a finding")


class SodRule(TenantOwnedModel, TimeStampedModel):
    """A toxic combination: holding `threshold` or more of the listed entitlements/roles at
    once (an entitlement counts when held directly or through a role). The set may mix
    vendor-internal and customer-side roles."""

    key = models.SlugField(_("key"), max_length=100, validators=[slug_validator])
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    mode = models.CharField(_("mode"), max_length=8, choices=SodMode, default=SodMode.DENY)
    entitlements = models.ManyToManyField(
        Entitlement, related_name="sod_rules", blank=True, verbose_name=_("entitlements")
    )
    roles = models.ManyToManyField(
        Role, related_name="sod_rules", blank=True, verbose_name=_("roles")
    )
    threshold = models.PositiveSmallIntegerField(
        _("threshold"), default=2, help_text=_("How many of the listed items together are toxic.")
    )
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("separation-of-duties rule")
        verbose_name_plural = _("separation-of-duties rules")
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="sod_rule_key_unique"),
            models.CheckConstraint(condition=Q(threshold__gte=2), name="sod_threshold_min_2"),
        ]

    def __str__(self) -> str:
        return self.name


class PolicyException(TenantOwnedModel):
    """A customer-approved waiver of one ABAC rule (by key), for one user or everyone, on one
    environment or all, until `expires_at` (e.g. a residency exception for a named engineer)."""

    rule_key = models.SlugField(_("rule key"), max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("user"),
    )
    environment = models.ForeignKey(
        "tenants.Environment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("environment"),
    )
    reason = models.TextField(_("reason"))
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("approved by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("policy exception")
        verbose_name_plural = _("policy exceptions")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.rule_key} ({self.user or '*'})"


# An unrevoked attestation whose expiry is this close is shown (and filtered) as "expiring".
ATTESTATION_EXPIRING_WITHIN = timedelta(days=30)


class ComplianceFlag(models.TextChoices):
    """The compliance flags Custos knows out of the box. A tenant's ABAC rules may name more
    (any `context.attested contains <flag>`); those are accepted too (selectors)."""

    HIPAA = "hipaa", _("HIPAA training")
    PCI = "pci", _("PCI DSS training")
    SOX = "sox", _("SOX controls training")
    GDPR = "gdpr", _("GDPR data-protection training")
    SECURITY = "security", _("Security awareness training")


class ComplianceAttestation(TenantOwnedModel):
    """A user's attested compliance flag (training or certification) accepted in a tenant.

    Written only through apps.access.services (record/renew, revoke). At most one current
    (unrevoked) row per tenant, user and flag; renewing replaces its dates in place, revoking
    keeps the row (revoked_at) as history, and the policy engine ignores revoked rows."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="compliance_attestations",
        verbose_name=_("user"),
    )
    flag = models.SlugField(_("flag"), max_length=40, help_text=_("e.g. hipaa, pci, sox, gdpr"))
    attested_at = models.DateTimeField(_("attested"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    evidence = models.CharField(
        _("evidence"),
        max_length=500,
        blank=True,
        help_text=_("Certificate number, training record or ticket reference."),
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("revoked by"),
    )
    revoke_reason = models.TextField(_("revocation reason"), blank=True)

    class Meta:
        verbose_name = _("compliance attestation")
        verbose_name_plural = _("compliance attestations")
        ordering = ["user_id", "flag"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "flag"],
                condition=Q(revoked_at__isnull=True),
                name="compliance_attestation_one_current",
                violation_error_message=_(
                    "This person already holds this attestation: renew the existing one."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.flag}"

    def is_current(self, at: datetime | None = None) -> bool:
        at = at or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or at < self.expires_at)

    @property
    def flag_label(self) -> str:
        if self.flag in ComplianceFlag.values:
            return str(ComplianceFlag(self.flag).label)
        return self.flag

    @property
    def state(self) -> str:
        """revoked, expired, expiring (within ATTESTATION_EXPIRING_WITHIN) or active."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is None:
            return "active"
        now = timezone.now()
        if self.expires_at <= now:
            return "expired"
        if self.expires_at <= now + ATTESTATION_EXPIRING_WITHIN:
            return "expiring"
        return "active"


class PolicyVersion(TenantOwnedModel):
    """One row per tenant, bumped in the same transaction as any change to grants, catalog or
    rules: the policy engine's compiled cache is keyed by it."""

    counter = models.BigIntegerField(default=0)
    # A fresh random stamp per bump: a rolled-back bump can never make two different policy
    # states share one key (the counter alone could repeat).
    stamp = models.CharField(max_length=32, default="", blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="policy_version_one_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"v{self.counter}"
