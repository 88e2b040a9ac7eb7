"""Report jobs (generated in the background, kept for download) and report schedules.

A job belongs to a tenant, or to no tenant (a platform-wide report run from the staff
console). Like the audit log, platform jobs are only visible inside `unscoped()`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantOwnedModel, TenantQuerySet
from apps.core.tenancy import TenantContextMissing, current_scope


class ReportFormat(models.TextChoices):
    PDF = "pdf", _("PDF")
    CSV = "csv", _("CSV")


class ReportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


OPEN_STATUSES = (ReportStatus.QUEUED, ReportStatus.RUNNING)


class ReportScope(models.TextChoices):
    TENANT = "tenant", _("This tenant")
    PORTFOLIO = "portfolio", _("This tenant and its subsidiaries")
    PLATFORM = "platform", _("All tenants")


class ReportJobManager(models.Manager):
    """Scoped like `TenantManager`; platform-wide jobs (no tenant) only inside `unscoped()`."""

    _queryset_class = TenantQuerySet

    def get_queryset(self) -> TenantQuerySet:
        qs: TenantQuerySet = TenantQuerySet(self.model, using=self._db)
        scope = current_scope()
        if scope.cross_tenant:
            return qs
        if scope.tenant_id is None:
            raise TenantContextMissing(
                "ReportJob queried without a tenant context; use tenant_context(tenant) or "
                "unscoped(reason=...)"
            )
        return qs.filter(tenant_id=scope.tenant_id)

    def for_tenant(self, tenant: Any) -> TenantQuerySet:
        tenant_id = getattr(tenant, "pk", tenant)
        scope = current_scope()
        if not scope.cross_tenant and scope.tenant_id not in (None, tenant_id):
            raise TenantContextMissing(
                f"ReportJob.for_tenant({tenant_id}) inside tenant {scope.tenant_id}"
            )
        return TenantQuerySet(self.model, using=self._db).filter(tenant_id=tenant_id)


class ReportJob(models.Model):
    tenant = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tenant"),
        help_text=_("Empty for a platform-wide report (staff console)."),
    )
    kind = models.CharField(_("report"), max_length=40)
    file_format = models.CharField(
        _("format"), max_length=8, choices=ReportFormat, default=ReportFormat.PDF
    )
    scope = models.CharField(
        _("scope"), max_length=16, choices=ReportScope, default=ReportScope.TENANT
    )
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    language = models.CharField(_("language"), max_length=10, default="en")
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requested by"),
    )
    schedule = models.ForeignKey(
        "reports.ReportSchedule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
        verbose_name=_("schedule"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ReportStatus, default=ReportStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    pages = models.PositiveIntegerField(_("pages"), default=0)
    content = models.BinaryField(_("file"), null=True, blank=True, editable=False)
    filename = models.CharField(_("file name"), max_length=200, blank=True)
    size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    created_at = models.DateTimeField(_("requested"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # The file is deleted REPORTS_RETENTION_DAYS after it was made; the row (who asked for
    # what, when, how many rows) stays, as does its audit trail.
    purged_at = models.DateTimeField(_("file deleted"), null=True, blank=True)
    # A running job renews its lease as it makes progress; the sweeper restarts jobs whose
    # worker died (lease passed) and runs queued jobs whose message was lost.
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.CharField(_("error"), max_length=500, blank=True)

    objects: ClassVar[ReportJobManager] = ReportJobManager()

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        ordering = ["-created_at", "-id"]
        base_manager_name = "objects"
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="report_job_tenant_recent"),
            models.Index(fields=["status", "lease_until"], name="report_job_open"),
            models.Index(
                fields=["finished_at"],
                name="report_job_file_kept",
                condition=models.Q(content__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="report_job_progress_max_100"
            ),
            models.CheckConstraint(
                condition=(models.Q(tenant__isnull=True) & models.Q(scope="platform"))
                | (models.Q(tenant__isnull=False) & ~models.Q(scope="platform")),
                name="report_job_platform_has_no_tenant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def kind_label(self) -> Any:
        from apps.reports.kinds import kind_label

        return kind_label(self.kind)


class ScheduleFrequency(models.TextChoices):
    MONTHLY = "monthly", _("Monthly")
    QUARTERLY = "quarterly", _("Quarterly")


class ReportSchedule(TenantOwnedModel):
    """A report generated for the period just ended, every month or quarter. `next_run_at` is
    the due column the beat sweeper claims (conditional UPDATE), so a restart loses nothing."""

    kind = models.CharField(_("report"), max_length=40)
    file_format = models.CharField(
        _("format"), max_length=8, choices=ReportFormat, default=ReportFormat.PDF
    )
    scope = models.CharField(
        _("scope"), max_length=16, choices=ReportScope, default=ReportScope.TENANT
    )
    frequency = models.CharField(
        _("frequency"), max_length=16, choices=ScheduleFrequency, default=ScheduleFrequency.MONTHLY
    )
    language = models.CharField(_("language"), max_length=10, default="en")
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    is_active = models.BooleanField(_("active"), default=True)
    next_run_at = models.DateTimeField(_("next run"), db_index=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("report schedule")
        verbose_name_plural = _("report schedules")
        ordering = ["next_run_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} ({self.get_frequency_display()})"

    @property
    def kind_label(self) -> Any:
        from apps.reports.kinds import kind_label

        return kind_label(self.kind)
