"""Incidents: what happened, whom it touches, what was suspended, and the way back.

An `Incident` belongs to no single tenant (one incident may touch several customers), so it is
a platform row seen by security and compliance staff only. Everything a customer may see or
that describes a customer's data is tenant-owned and reached through `IncidentTenant`:
the affected subjects, the grant snapshot, the suspension record, notifications and policy
changes. The customer portal therefore needs no special filter: the tenant scope does it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantOwnedModel


class Severity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


class IncidentStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CONTAINED = "contained", _("Contained")
    RECOVERING = "recovering", _("Recovering")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


class Incident(models.Model):
    reference = models.CharField(_("reference"), max_length=20, unique=True, editable=False)
    title = models.CharField(_("title"), max_length=200)
    summary = models.TextField(_("internal summary"), blank=True)
    customer_summary = models.TextField(
        _("summary for customers"),
        blank=True,
        help_text=_("What affected customers read in their portal and notifications."),
    )
    severity = models.CharField(_("severity"), max_length=10, choices=Severity)
    status = models.CharField(
        _("status"), max_length=12, choices=IncidentStatus, default=IncidentStatus.OPEN
    )
    detected_at = models.DateTimeField(
        _("became aware"),
        default=timezone.now,
        help_text=_("Disclosure deadlines (e.g. 72 hours) run from this moment."),
    )
    opened_at = models.DateTimeField(_("opened"), default=timezone.now, editable=False)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("opened by"),
    )
    owners = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="owned_incidents",
        blank=True,
        verbose_name=_("owners"),
    )
    contained_at = models.DateTimeField(_("contained"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    root_cause = models.TextField(_("root cause"), blank=True)
    remediation = models.TextField(_("remediation"), blank=True)
    postmortem_at = models.DateTimeField(_("root cause documented"), null=True, blank=True)
    postmortem_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("documented by"),
    )

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-opened_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def is_closed(self) -> bool:
        return self.status == IncidentStatus.CLOSED

    @property
    def postmortem_done(self) -> bool:
        return bool(self.root_cause.strip() and self.remediation.strip())


class TenantScope(models.TextChoices):
    SELECTED = "selected", _("Selected subjects only")
    WHOLE_TENANT = "whole_tenant", _("Whole tenant")


class IncidentTenant(TenantOwnedModel):
    """One affected tenant of an incident: the scope there, what was done and the sign-off."""

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="tenants", verbose_name=_("incident")
    )
    scope = models.CharField(
        _("scope"), max_length=16, choices=TenantScope, default=TenantScope.SELECTED
    )
    added_at = models.DateTimeField(_("added"), default=timezone.now)
    snapshot_at = models.DateTimeField(_("grant snapshot taken"), null=True, blank=True)
    suspended_at = models.DateTimeField(_("suspended"), null=True, blank=True)
    isolated_at = models.DateTimeField(_("isolated"), null=True, blank=True)
    status_before_isolation = models.CharField(max_length=20, blank=True)
    isolation_lifted_at = models.DateTimeField(_("isolation lifted"), null=True, blank=True)
    signed_off_at = models.DateTimeField(_("customer sign-off"), null=True, blank=True)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("signed off by"),
    )
    signoff_statement = models.TextField(_("sign-off statement"), blank=True)
    review_campaign_ref = models.CharField(_("access review campaign"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("affected tenant")
        verbose_name_plural = _("affected tenants")
        ordering = ["incident_id", "tenant_id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "tenant"], name="incident_tenant_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} · {self.tenant_id}"


class SubjectKind(models.TextChoices):
    USER = "user", _("Account")
    API_KEY = "api_key", _("API key")
    OAUTH_CLIENT = "oauth_client", _("OAuth client")
    ENVIRONMENT = "environment", _("Environment")


class IncidentSubject(TenantOwnedModel):
    """A named affected account, API key, OAuth client or environment in one tenant."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="subjects")
    kind = models.CharField(_("kind"), max_length=16, choices=SubjectKind)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    api_key = models.ForeignKey(
        "integrations.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    oauth_client = models.ForeignKey(
        "integrations.OAuthClient",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    environment = models.ForeignKey(
        "tenants.Environment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    added_at = models.DateTimeField(_("added"), default=timezone.now)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("affected subject")
        verbose_name_plural = _("affected subjects")
        ordering = ["kind", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="user", user__isnull=False)
                    | Q(kind="api_key", api_key__isnull=False)
                    | Q(kind="oauth_client", oauth_client__isnull=False)
                    | Q(kind="environment", environment__isnull=False)
                ),
                name="incident_subject_kind_matches",
            ),
            *[
                models.UniqueConstraint(
                    fields=["incident", "tenant", column],
                    condition=Q(kind=kind),
                    name=f"incident_subject_{kind}_unique",
                )
                for kind, column in (
                    ("user", "user"),
                    ("api_key", "api_key"),
                    ("oauth_client", "oauth_client"),
                    ("environment", "environment"),
                )
            ],
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.label}"

    @property
    def label(self) -> str:
        if self.user is not None:
            return str(self.user.email)
        if self.api_key is not None:
            return f"{self.api_key.name} ({self.api_key.prefix})"
        if self.oauth_client is not None:
            return f"{self.oauth_client.name} ({self.oauth_client.client_id})"
        if self.environment is not None:
            return str(self.environment)
        return "?"


class TimelineKind(models.TextChoices):
    OPENED = "opened", _("Opened")
    NOTE = "note", _("Note")
    SCOPE = "scope", _("Scope changed")
    STATUS = "status", _("Status changed")
    SNAPSHOT = "snapshot", _("Grant snapshot")
    SUSPENSION = "suspension", _("Emergency suspension")
    ISOLATION = "isolation", _("Tenant isolation")
    POSTMORTEM = "postmortem", _("Root cause and remediation")
    SIGNOFF = "signoff", _("Customer sign-off")
    RESTORE = "restore", _("Access restored")
    REVIEW = "review", _("Access review")
    NOTIFICATION = "notification", _("Customer notification")
    REMINDER = "reminder", _("Deadline reminder")
    POLICY = "policy", _("Policy change")


class TimelineEntry(models.Model):
    """Staff-only history of an incident (the audit log keeps the evidence; this is the story)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(_("time"), default=timezone.now)
    kind = models.CharField(_("kind"), max_length=16, choices=TimelineKind)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
    )
    # Not `tenant`: the timeline is staff-only platform data, not a tenant-owned row.
    about_tenant = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("tenant"),
    )
    text = models.TextField(_("text"))
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline entries")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.kind}"


class GrantSnapshot(TenantOwnedModel):
    """A grant as it was when the incident took it into scope: the source of any restoration.
    Only grants in this snapshot can be restored, each one explicitly."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="grant_snapshots")
    grant = models.ForeignKey("access.Grant", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    entitlement_id_at = models.BigIntegerField(null=True, blank=True)
    role_id_at = models.BigIntegerField(null=True, blank=True)
    source = models.CharField(max_length=20)
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    was_suspended = models.BooleanField(default=False)
    taken_at = models.DateTimeField(default=timezone.now)
    suspended_by_incident = models.BooleanField(default=False)
    restored_at = models.DateTimeField(null=True, blank=True)
    restored_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    restore_mode = models.CharField(max_length=12, blank=True)
    restore_expires_at = models.DateTimeField(null=True, blank=True)
    restore_approval = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("grant snapshot")
        verbose_name_plural = _("grant snapshots")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "grant"], name="incident_snapshot_unique"),
        ]
        indexes = [models.Index(fields=["incident", "tenant"], name="incident_snapshot_tenant")]

    def __str__(self) -> str:
        return f"{self.incident_id} · grant {self.grant_id}"


class Suspension(TenantOwnedModel):
    """What one emergency suspension did in one tenant: counts and the ids, for restoration
    and for the auditor's question "exactly what was switched off"."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="suspensions")
    executed_at = models.DateTimeField(default=timezone.now)
    executed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    fingerprint = models.CharField(max_length=64)
    isolated = models.BooleanField(default=False)
    user_ids = models.JSONField(default=list)
    session_user_ids = models.JSONField(default=list)
    api_key_ids = models.JSONField(default=list)
    oauth_client_ids = models.JSONField(default=list)
    grants_suspended = models.PositiveIntegerField(default=0)
    tokens_revoked = models.PositiveIntegerField(default=0)
    duration_ms = models.FloatField(default=0)

    class Meta:
        verbose_name = _("suspension")
        verbose_name_plural = _("suspensions")
        ordering = ["-executed_at"]

    def __str__(self) -> str:
        return f"{self.incident_id} · {self.tenant_id} @ {self.executed_at:%Y-%m-%d %H:%M}"


class NotificationStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")


class CustomerNotification(TenantOwnedModel):
    """The disclosure to one affected customer, from a template per jurisdiction rendered in
    the customer's language. `remind_at` is the sweeper's due column until it is sent."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notifications")
    jurisdiction = models.CharField(_("jurisdiction"), max_length=16)
    language = models.CharField(_("language"), max_length=10)
    recipients = models.JSONField(_("recipients"), default=list)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("text"))
    deadline_at = models.DateTimeField(_("disclosure deadline"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=NotificationStatus, default=NotificationStatus.DRAFT
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    remind_at = models.DateTimeField(null=True, blank=True, db_index=True)
    reminders_sent = models.PositiveIntegerField(default=0)
    last_reminder_at = models.DateTimeField(null=True, blank=True)
    email_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    send_attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("sent by"),
    )

    class Meta:
        verbose_name = _("customer notification")
        verbose_name_plural = _("customer notifications")
        ordering = ["deadline_at", "id"]

    def __str__(self) -> str:
        return self.subject

    @property
    def overdue(self) -> bool:
        return (
            self.status != NotificationStatus.SENT
            and self.deadline_at is not None
            and self.deadline_at <= timezone.now()
        )

    def time_left(self) -> timedelta | None:
        if self.deadline_at is None:
            return None
        return self.deadline_at - timezone.now()


class PolicyChangeKind(models.TextChoices):
    REQUIRE_MFA = "require_mfa", _("Require MFA for access")
    MAX_DURATION = "max_duration", _("Shorten the maximum access duration")


class PolicyChange(TenantOwnedModel):
    """A policy update made because of the incident's findings (the change itself lives in
    apps.access; this row ties it to the incident)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="policy_changes")
    kind = models.CharField(_("change"), max_length=16, choices=PolicyChangeKind)
    finding = models.TextField(_("finding"))
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    applied_at = models.DateTimeField(_("applied"), default=timezone.now)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("applied by"),
    )

    class Meta:
        verbose_name = _("policy change")
        verbose_name_plural = _("policy changes")
        ordering = ["applied_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}"

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "before": self.before, "after": self.after}
