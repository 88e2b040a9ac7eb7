"""Access analytics: access events (what people did, where from), the detector's per-person
state, anomaly alerts with triage, drift and toxic-combination findings, role-mining runs and
their candidate roles, and each tenant's analytics settings."""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantOwnedModel


class EventKind(models.TextChoices):
    LOGIN = "login", _("Sign-in")
    READ = "read", _("Read")
    WRITE = "write", _("Write")
    ADMIN = "admin", _("Administration")
    EXPORT = "export", _("Export")
    AUTH_FAILED = "auth_failed", _("Failed authentication")


class EventChannel(models.TextChoices):
    PORTAL = "portal", _("Portal")
    API = "api", _("API")
    APPLICATION = "application", _("Reported by the application")


class AccessEvent(TenantOwnedModel):
    """One access by a person or a credential. Written by `access_event_record` (portal,
    API, sign-in, and events the customer's applications report); read by the detector, which
    stamps `detected_at` (the pending index holds only rows still to look at)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("person"),
    )
    principal = models.CharField(_("credential"), max_length=120, blank=True)
    at = models.DateTimeField(_("time"), default=timezone.now)
    kind = models.CharField(_("kind"), max_length=16, choices=EventKind)
    channel = models.CharField(
        _("channel"), max_length=16, choices=EventChannel, default=EventChannel.PORTAL
    )
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    city = models.CharField(_("place"), max_length=80, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lon = models.FloatField(_("longitude"), null=True, blank=True)
    environment = models.ForeignKey(
        "tenants.Environment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("environment"),
    )
    entitlement = models.ForeignKey(
        "access.Entitlement",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("entitlement"),
    )
    grant = models.ForeignKey(
        "access.Grant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("grant"),
    )
    rows = models.PositiveBigIntegerField(_("rows"), null=True, blank=True)
    bytes = models.PositiveBigIntegerField(_("bytes"), null=True, blank=True)
    detail = models.CharField(_("detail"), max_length=200, blank=True)
    detected_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("access event")
        verbose_name_plural = _("access events")
        indexes = [
            models.Index(fields=["tenant", "-at"], name="analytics_event_time"),
            models.Index(fields=["user", "-at"], name="analytics_event_user"),
            models.Index(
                fields=["id"],
                name="analytics_event_pending",
                condition=Q(detected_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.user_id or self.principal} @ {self.at:%Y-%m-%d %H:%M}"


class UserAccessProfile(TenantOwnedModel):
    """What the detector remembers about one person in one tenant between batches."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    countries = models.JSONField(default=list, blank=True)
    last_at = models.DateTimeField(null=True, blank=True)
    last_lat = models.FloatField(null=True, blank=True)
    last_lon = models.FloatField(null=True, blank=True)
    last_place = models.CharField(max_length=80, blank=True)
    fail_window_start = models.DateTimeField(null=True, blank=True)
    fail_count = models.PositiveIntegerField(default=0)
    export_window_start = models.DateTimeField(null=True, blank=True)
    export_rows = models.PositiveBigIntegerField(default=0)
    export_bytes = models.PositiveBigIntegerField(default=0)
    export_alerted = models.BooleanField(default=False)
    offhours_alerted_on = models.DateField(null=True, blank=True)
    events_seen = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("access profile")
        verbose_name_plural = _("access profiles")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="analytics_profile_unique"),
        ]

    def __str__(self) -> str:
        return f"profile {self.user_id}"


class AlertKind(models.TextChoices):
    OFF_HOURS = "off_hours", _("Outside business hours")
    NEW_COUNTRY = "new_country", _("New country")
    IMPOSSIBLE_TRAVEL = "impossible_travel", _("Impossible travel")
    BULK_EXPORT = "bulk_export", _("Bulk export")
    AUTH_FAILURES = "auth_failures", _("Repeated failed authentication")


class Severity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


class AlertStatus(models.TextChoices):
    NEW = "new", _("New")
    INVESTIGATING = "investigating", _("Investigating")
    DISMISSED = "dismissed", _("Dismissed")
    ESCALATED = "escalated", _("Escalated to incident")


OPEN_STATUSES = (AlertStatus.NEW, AlertStatus.INVESTIGATING)


class AnomalyAlert(TenantOwnedModel):
    """An anomaly someone must look at. `details` holds the facts; the summary is rendered in
    the reader's language from them (see `summary`)."""

    kind = models.CharField(_("kind"), max_length=24, choices=AlertKind)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity)
    status = models.CharField(
        _("status"), max_length=16, choices=AlertStatus, default=AlertStatus.NEW
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("person"),
    )
    event = models.ForeignKey(
        AccessEvent,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("triggering event"),
    )
    details = models.JSONField(_("details"), default=dict, blank=True)
    raised_at = models.DateTimeField(_("raised"), default=timezone.now)
    occurred_at = models.DateTimeField(_("occurred"), default=timezone.now)
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("status changed by"),
    )
    triage_note = models.TextField(_("triage note"), blank=True)
    incident_ref = models.CharField(_("incident"), max_length=64, blank=True)
    notify_at = models.DateTimeField(null=True, blank=True, editable=False)
    notified_at = models.DateTimeField(_("notified"), null=True, blank=True)

    class Meta:
        verbose_name = _("anomaly alert")
        verbose_name_plural = _("anomaly alerts")
        ordering = ["-raised_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "status", "-raised_at"], name="analytics_alert_triage"),
            models.Index(fields=["-raised_at", "-id"], name="analytics_alert_time"),
            models.Index(
                fields=["notify_at"],
                name="analytics_alert_notify_due",
                condition=Q(notify_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_severity_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def summary(self) -> str:
        from apps.certification.analytics.labels import alert_summary

        return alert_summary(self.kind, self.details)


class FindingKind(models.TextChoices):
    WIDENED = "widened", _("Scope widened since the original grant")
    STANDING = "standing", _("Standing access older than policy")
    UNUSED = "unused", _("Not used")
    TOXIC = "toxic", _("Toxic combination")


class Finding(TenantOwnedModel):
    """A drift or toxic-combination finding, kept current by `findings_refresh`: one row per
    fingerprint, `resolved_at` set when the condition no longer holds."""

    kind = models.CharField(_("kind"), max_length=16, choices=FindingKind)
    fingerprint = models.CharField(max_length=200)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity)
    grant = models.ForeignKey(
        "access.Grant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("grant"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("person"),
    )
    subject_label = models.CharField(_("subject"), max_length=200, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        ordering = ["-first_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "fingerprint"], name="analytics_finding_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "kind", "resolved_at"], name="analytics_finding_open"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject_label}"

    @property
    def description(self) -> str:
        from apps.certification.analytics.labels import finding_description

        return finding_description(self.kind, self.details)


class MiningRun(TenantOwnedModel):
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("started by"),
    )
    users = models.PositiveIntegerField(_("people"), default=0)
    entitlements = models.PositiveIntegerField(_("entitlements"), default=0)
    grants = models.PositiveIntegerField(_("grants considered"), default=0)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("role-mining run")
        verbose_name_plural = _("role-mining runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"mining {self.started_at:%Y-%m-%d %H:%M}"


class CandidateStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    ACCEPTED = "accepted", _("Accepted")
    DISMISSED = "dismissed", _("Dismissed")


class RoleCandidate(TenantOwnedModel):
    """A proposed role: the entitlement set `support` people all hold directly. Accepting it
    creates the role and replaces those direct grants by one role grant per person."""

    run = models.ForeignKey(MiningRun, on_delete=models.CASCADE, related_name="candidates")
    rank = models.PositiveIntegerField(_("rank"))
    entitlement_ids = models.JSONField(default=list)
    user_ids = models.JSONField(default=list)
    support = models.PositiveIntegerField(_("support"))
    coverage = models.FloatField(_("coverage"))
    grants_consolidated = models.PositiveIntegerField(_("grants consolidated"))
    matches_role = models.ForeignKey(
        "access.Role",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("same as existing role"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=CandidateStatus, default=CandidateStatus.PROPOSED
    )
    role = models.ForeignKey(
        "access.Role",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("role created"),
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("role candidate")
        verbose_name_plural = _("role candidates")
        ordering = ["run", "rank"]

    def __str__(self) -> str:
        return f"candidate #{self.rank} ({len(self.entitlement_ids)} entitlements)"

    @property
    def size(self) -> int:
        return len(self.entitlement_ids)


WEEKDAYS = "0123456"  # Monday = 0


class AnalyticsSettings(TenantOwnedModel):
    """A tenant's thresholds; without a row the field defaults apply."""

    unused_days = models.PositiveIntegerField(
        _("unused after (days)"),
        default=30,
        help_text=_("A grant not used for this many days is a finding."),
    )
    standing_max_days = models.PositiveIntegerField(
        _("standing access at most (days)"),
        default=90,
        help_text=_("Standing (open-ended) access older than this is a finding."),
    )
    business_start = models.TimeField(_("business hours start"), default=time(7, 0))
    business_end = models.TimeField(_("business hours end"), default=time(20, 0))
    business_days = models.CharField(
        _("business days"),
        max_length=7,
        default="01234",
        help_text=_("Weekday digits, Monday = 0 (01234 = Monday to Friday)."),
    )
    travel_km = models.PositiveIntegerField(_("impossible travel: distance (km)"), default=2000)
    travel_minutes = models.PositiveIntegerField(
        _("impossible travel: within (minutes)"), default=10
    )
    export_rows = models.PositiveBigIntegerField(_("bulk export: rows"), default=10_000)
    export_bytes = models.PositiveBigIntegerField(
        _("bulk export: bytes"), default=100 * 1024 * 1024
    )
    export_window_minutes = models.PositiveIntegerField(
        _("bulk export: window (minutes)"), default=60
    )
    auth_failures = models.PositiveIntegerField(_("failed authentication: count"), default=5)
    auth_failure_minutes = models.PositiveIntegerField(
        _("failed authentication: window (minutes)"), default=10
    )
    email_min_severity = models.CharField(
        _("email alerts from severity"), max_length=10, choices=Severity, default=Severity.HIGH
    )
    webhook_alerts = models.BooleanField(_("send alerts as webhooks"), default=True)
    mining_min_support = models.PositiveIntegerField(_("role mining: minimum people"), default=5)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("analytics settings")
        verbose_name_plural = _("analytics settings")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="analytics_settings_one_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"analytics settings {self.tenant_id}"
