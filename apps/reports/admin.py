"""Django admin of reports: jobs (read-only; the file is downloaded from the portal or staff
console, where the download is audited) and schedules (audited changes)."""

from django.contrib import admin

from apps.core.admin_base import ReadOnlyAdmin, TenantOwnedAdmin
from apps.reports.models import ReportJob, ReportSchedule


@admin.register(ReportJob)
class ReportJobAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "tenant",
        "scope",
        "file_format",
        "status",
        "progress",
        "rows",
        "created_at",
        "finished_at",
        "purged_at",
    )
    list_filter = ("status", "kind", "file_format", "scope")
    search_fields = ("kind", "tenant__name", "tenant__slug", "filename")
    exclude = ("content",)


@admin.register(ReportSchedule)
class ReportScheduleAdmin(TenantOwnedAdmin):
    list_display = (
        "kind",
        "tenant",
        "frequency",
        "file_format",
        "scope",
        "is_active",
        "next_run_at",
    )
    list_filter = ("frequency", "is_active", "kind")
    search_fields = ("kind", "tenant__name")
    raw_id_fields = ("created_by",)
