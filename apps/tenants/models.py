"""Tenants (customers), their contracts, environments and memberships."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantOwnedModel, TimeStampedModel

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    _("Use lower-case letters, digits and hyphens."),
)
TIME_ZONE_CHOICES = [(tz, tz) for tz in sorted(zoneinfo.available_timezones())]


class Tier(models.TextChoices):
    STANDARD = "standard", _("Standard")
    ENTERPRISE = "enterprise", _("Enterprise")
    STRATEGIC = "strategic", _("Strategic")


class Region(models.TextChoices):
    EU = "eu", _("European Union")
    US = "us", _("United States")
    APAC = "apac", _("Asia-Pacific")
    UK = "uk", _("United Kingdom")
    GLOBAL = "global", _("Global")


class TenantStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    ISOLATED = "isolated", _("Isolated")
    TERMINATED = "terminated", _("Terminated")


class Tenant(TimeStampedModel):
    """A customer of the SaaS. Not tenant-owned itself: it *is* the scope."""

    slug = models.SlugField(_("slug"), max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(_("name"), max_length=200)
    tier = models.CharField(_("tier"), max_length=20, choices=Tier, default=Tier.STANDARD)
    region = models.CharField(_("region"), max_length=10, choices=Region, default=Region.US)
    data_residency = models.CharField(
        _("data residency"),
        max_length=10,
        choices=Region,
        blank=True,
        help_text=_("Where the tenant's data must stay; empty means no residency requirement."),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=TenantStatus, default=TenantStatus.ACTIVE
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, choices=TIME_ZONE_CHOICES, default="UTC"
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="subsidiaries",
        verbose_name=_("parent tenant"),
    )
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("id")), name="tenant_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_reachable_by_vendor(self) -> bool:
        return self.status == TenantStatus.ACTIVE


class Contract(TenantOwnedModel, TimeStampedModel):
    reference = models.CharField(_("reference"), max_length=64)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    sla_hours = models.PositiveIntegerField(
        _("SLA (hours)"), default=24, help_text=_("Time allowed for an access decision.")
    )

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["-starts_on"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "reference"], name="contract_ref_unique"),
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="contract_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class EnvironmentKind(models.TextChoices):
    APPLICATION = "application", _("Application")
    DATASET = "dataset", _("Dataset")
    WORKSPACE = "workspace", _("Workspace")


class Sensitivity(models.TextChoices):
    PUBLIC = "public", _("Public")
    INTERNAL = "internal", _("Internal")
    CONFIDENTIAL = "confidential", _("Confidential")
    RESTRICTED = "restricted", _("Restricted")


class Environment(TenantOwnedModel, TimeStampedModel):
    """A customer's application, dataset or workspace: the thing access is granted to."""

    slug = models.SlugField(_("slug"), max_length=50, validators=[slug_validator])
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(
        _("kind"), max_length=20, choices=EnvironmentKind, default=EnvironmentKind.APPLICATION
    )
    sensitivity = models.CharField(
        _("sensitivity"), max_length=20, choices=Sensitivity, default=Sensitivity.INTERNAL
    )
    region = models.CharField(_("region"), max_length=10, choices=Region, default=Region.US)
    on_premises = models.BooleanField(_("on premises"), default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("environment")
        verbose_name_plural = _("environments")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "slug"], name="environment_slug_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class TenantRole(models.TextChoices):
    CUSTOMER_ADMIN = "customer_admin", _("Customer admin")
    DELEGATED_ADMIN = "delegated_admin", _("Delegated admin")
    APPROVER = "approver", _("Approver")
    REVIEWER = "reviewer", _("Reviewer")
    MEMBER = "member", _("Member")


ADMIN_ROLES = frozenset({TenantRole.CUSTOMER_ADMIN, TenantRole.DELEGATED_ADMIN})


class Membership(TenantOwnedModel, TimeStampedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=20, choices=TenantRole, default=TenantRole.MEMBER)
    department = models.CharField(_("department"), max_length=100, blank=True)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("manager"),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique"),
        ]
        indexes = [models.Index(fields=["user", "tenant"], name="membership_user")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES


class AccessTeamRole(models.TextChoices):
    LEAD = "lead", _("Team lead")
    REVIEWER = "reviewer", _("Reviewer")
    APPROVER = "approver", _("Approver of last resort")


class AccessTeam(TenantOwnedModel, TimeStampedModel):
    """The named internal (vendor) access team of a strategic customer: the reviewers of its
    certification campaigns and the approvers of last resort when request escalation runs out.
    One per tenant; assigned in the staff console (apps.tenants.views_staff)."""

    name = models.CharField(_("name"), max_length=120)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("access team")
        verbose_name_plural = _("access teams")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="access_team_one_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.name


class AccessTeamMember(TenantOwnedModel, TimeStampedModel):
    team = models.ForeignKey(
        AccessTeam, on_delete=models.CASCADE, related_name="members", verbose_name=_("team")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("staff member"),
    )
    role = models.CharField(
        _("role"), max_length=20, choices=AccessTeamRole, default=AccessTeamRole.REVIEWER
    )

    class Meta:
        verbose_name = _("access team member")
        verbose_name_plural = _("access team members")
        constraints = [
            models.UniqueConstraint(
                fields=["team", "user", "role"], name="access_team_member_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"
