"""Writes of the reports app: requesting a report, running it (background), recording a
download, and report schedules with their sweeper. Every write is audited.

Who may request what:
* in a tenant: customer admins (and delegated admins), reviewers and approvers — the people who
  answer auditors; `portfolio` scope only in a tenant that has subsidiaries;
* platform-wide (no tenant): vendor staff with oversight (security, compliance).
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import DomainError, NotFound, PermissionDenied
from apps.core.tenancy import no_tenant, tenant_context, unscoped
from apps.reports import selectors
from apps.reports.kinds import BuildContext, kind_get
from apps.reports.kinds.base import period_from_parameters, previous_period
from apps.reports.models import (
    ReportFormat,
    ReportJob,
    ReportSchedule,
    ReportScope,
    ReportStatus,
    ScheduleFrequency,
)
from apps.tenants.models import ADMIN_ROLES, Membership, Tenant, TenantRole

logger = logging.getLogger("custos.reports")

REPORT_ROLES = frozenset({*ADMIN_ROLES, TenantRole.REVIEWER, TenantRole.APPROVER})
LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 3
PERIOD_UNITS = ("month", "quarter", "custom")
MAX_CUSTOM_DAYS = 400


def _languages() -> set[str]:
    return {code for code, _name in settings.LANGUAGES}


def _check_time_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def can_report(*, actor: Any, tenant: Tenant | None) -> bool:
    if tenant is None:
        return bool(getattr(actor, "has_oversight", False))
    if getattr(actor, "has_oversight", False):
        return True
    with tenant_context(tenant):
        return Membership.objects.filter(user=actor, is_active=True, role__in=REPORT_ROLES).exists()


def clean_parameters(*, kind_key: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Validated parameters of a report: a period for the kinds that need one, a state for the
    inventory, a campaign for campaign results."""
    kind = kind_get(kind_key)
    if kind is None:
        raise DomainError(_("This report is not available."), code="unknown_kind")
    cleaned: dict[str, Any] = {}
    if kind_key == "inventory":
        state = str(parameters.get("state") or "current")
        cleaned["state"] = state if state in ("current", "ended", "all") else "current"
    if kind_key == "campaign_results":
        try:
            cleaned["campaign_id"] = int(parameters.get("campaign_id") or 0)
        except (TypeError, ValueError):
            cleaned["campaign_id"] = 0
        if not cleaned["campaign_id"]:
            raise DomainError(_("Choose a campaign."), code="campaign_required")
    if kind.needs_period:
        unit = str(parameters.get("period") or "month")
        if unit not in PERIOD_UNITS:
            raise DomainError(_("Choose a month, a quarter or a date range."), code="period")
        try:
            start = date.fromisoformat(str(parameters.get("start")))
            end = date.fromisoformat(str(parameters.get("end"))) if unit == "custom" else None
        except ValueError:
            raise DomainError(_("Enter the period's dates as YYYY-MM-DD."), code="period") from None
        if end is not None:
            if end < start:
                raise DomainError(_("The period ends before it starts."), code="period")
            if (end - start).days > MAX_CUSTOM_DAYS:
                raise DomainError(
                    _("A period may cover at most %(n)d days.") % {"n": MAX_CUSTOM_DAYS},
                    code="period",
                )
            cleaned["end"] = end.isoformat()
        cleaned["period"] = unit
        cleaned["start"] = start.isoformat()
    return cleaned


@transaction.atomic
def report_job_request(
    *,
    actor: Any,
    tenant: Tenant | None,
    kind: str,
    file_format: str = ReportFormat.PDF,
    scope: str = ReportScope.TENANT,
    parameters: dict[str, Any] | None = None,
    language: str = "en",
    time_zone: str = "UTC",
    schedule: ReportSchedule | None = None,
) -> ReportJob:
    """Queue a report; it is generated in the background (tasks.report_job_run_task)."""
    if actor is not None and not can_report(actor=actor, tenant=tenant):
        raise PermissionDenied(_("You may not request reports here."), code="forbidden")
    if file_format not in ReportFormat.values:
        raise DomainError(_("Choose PDF or CSV."), code="format")
    if tenant is None:
        scope = ReportScope.PLATFORM
    elif scope == ReportScope.PLATFORM or scope not in ReportScope.values:
        raise DomainError(_("This scope is not available here."), code="scope")
    if scope == ReportScope.PORTFOLIO and not selectors.has_portfolio(tenant):  # type: ignore[arg-type]
        raise DomainError(_("This tenant has no subsidiaries."), code="scope")
    spec = kind_get(kind)
    if spec is None or scope not in spec.scopes:
        raise DomainError(_("This report is not available."), code="unknown_kind")
    cleaned = clean_parameters(kind_key=kind, parameters=parameters or {})
    language = language if language in _languages() else settings.LANGUAGE_CODE
    job = ReportJob(
        tenant=tenant,
        kind=kind,
        file_format=file_format,
        scope=scope,
        parameters=cleaned,
        language=language,
        time_zone=_check_time_zone(time_zone),
        requested_by=actor,
        schedule=schedule,
    )
    if tenant is None:
        with unscoped(reason="platform report requested by oversight staff"):
            job.save()
            audit_event_record(
                action="report.requested",
                actor=actor,
                target=job,
                use_current_tenant=False,
                details={"kind": kind, "format": file_format, "scope": scope, **cleaned},
            )
    else:
        with tenant_context(tenant):
            job.save()
            audit_event_record(
                action="report.requested",
                actor=actor,
                tenant=tenant,
                target=job,
                details={"kind": kind, "format": file_format, "scope": scope, **cleaned},
            )
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    if getattr(settings, "REPORTS_RUN_INLINE", False):
        report_job_run(job_id=job_id)
        return
    from apps.reports.tasks import report_job_run_task

    try:
        report_job_run_task.delay(job_id)
    except Exception:  # the sweeper runs queued jobs whose message was lost
        logger.warning("could not enqueue report %s; the sweeper will run it", job_id)


def _claim(job_id: int) -> ReportJob | None:
    now = timezone.now()
    with unscoped(reason="report runner: claim a queued job"):
        taken = (
            ReportJob.objects.filter(pk=job_id, attempts__lt=MAX_ATTEMPTS)
            .filter(
                Q(status=ReportStatus.QUEUED) | Q(status=ReportStatus.RUNNING, lease_until__lt=now)
            )
            .update(
                status=ReportStatus.RUNNING,
                lease_until=now + LEASE,
                started_at=now,
                progress=0,
                error="",
            )
        )
        if not taken:
            return None
        job = ReportJob.objects.select_related("tenant", "requested_by").get(pk=job_id)
        ReportJob.objects.filter(pk=job_id).update(attempts=job.attempts + 1)
        return job


def _progress(job_id: int, percent: int) -> None:
    with unscoped(reason="report runner: progress"):
        ReportJob.objects.filter(pk=job_id, status=ReportStatus.RUNNING).update(
            progress=max(0, min(99, percent)), lease_until=timezone.now() + LEASE
        )


def covered_tenants(job: ReportJob) -> list[Tenant]:
    if job.scope == ReportScope.PLATFORM or job.tenant is None:
        return list(Tenant.objects.order_by("name", "pk"))
    if job.scope == ReportScope.PORTFOLIO:
        return selectors.portfolio_tenants(job.tenant)
    return [job.tenant]


def build_context(job: ReportJob) -> BuildContext:
    tenants = covered_tenants(job)
    owner = job.tenant.slug if job.tenant is not None else "platform"
    ctx = BuildContext(
        tenant=job.tenant,
        tenants=tenants,
        scope=job.scope,
        parameters=dict(job.parameters or {}),
        time_zone=job.time_zone,
        cross_reason=(
            f"report {job.pk} ({job.kind}) of {owner}: {len(tenants)} tenants "
            f"({job.get_scope_display()})"
        ),
    )
    spec = kind_get(job.kind)
    if spec is not None and spec.needs_period:
        ctx.period = period_from_parameters(ctx.parameters, job.time_zone)
    return ctx


def _filename(job: ReportJob) -> str:
    owner = job.tenant.slug if job.tenant is not None else "platform"
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return f"custos-{slugify(job.kind)}-{owner}-{stamp}.{job.file_format}"


def _frame(job: ReportJob, ctx: BuildContext, title: str, extra: list[Any]) -> Any:
    from django.utils import formats

    from apps.reports.render import Frame

    generated = timezone.localtime()
    generated_text = formats.date_format(generated, "DATETIME_FORMAT") + f" ({generated:%Z})"
    owner_name = job.tenant.name if job.tenant is not None else _("All tenants")
    facts: list[tuple[Any, str]] = [
        (_("Tenant"), owner_name if job.tenant is None else f"{owner_name} ({job.tenant.slug})"),
    ]
    if job.scope == ReportScope.PORTFOLIO:
        names = ", ".join(t.name for t in ctx.tenants[1:])
        facts.append((_("Subsidiaries"), names))
    if ctx.period is not None:
        facts.append((_("Period"), ctx.period.label))
    facts.extend(extra)
    facts.append((_("Generated"), generated_text))
    if job.requested_by is not None:
        facts.append((_("Requested by"), job.requested_by.get_full_name()))
    elif job.schedule_id:
        facts.append((_("Requested by"), _("Schedule")))
    return Frame(
        title=title,
        owner_name=owner_name,
        facts=facts,
        generated_label=_("Generated %(when)s") % {"when": generated_text},
        language=job.language,
    )


def report_job_run(*, job_id: int) -> ReportJob | None:
    """Generate a queued report (idempotent: a job another worker holds is left alone)."""
    from apps.reports.render import render_csv, render_pdf

    job = _claim(job_id)
    if job is None:
        return None
    try:
        spec = kind_get(job.kind)
        if spec is None:
            raise DomainError(_("This report is not available."), code="unknown_kind")
        with (
            no_tenant(),
            translation.override(job.language),
            timezone.override(zoneinfo.ZoneInfo(job.time_zone)),
        ):
            ctx = build_context(job)
            data = spec.build(ctx)
            total = max(data.count, 1)

            def progress(done: int, _pages: int) -> None:
                _progress(job.pk, int(100 * done / total))

            if job.file_format == ReportFormat.CSV:
                rendered = render_csv(data, progress)
            else:
                frame = _frame(job, ctx, data.title, list(data.facts))
                rendered = render_pdf(frame, data, progress)
    except Exception as exc:
        message = exc.message if isinstance(exc, DomainError) else _("The report failed.")
        if not isinstance(exc, DomainError):
            logger.exception("report %s failed", job_id)
        _fail(job, f"{message}"[:500])
        return job
    _finish(job, rendered)
    return job


def _finish(job: ReportJob, rendered: Any) -> None:
    filename = _filename(job)
    with unscoped(reason="report runner: store the file"), transaction.atomic():
        ReportJob.objects.filter(pk=job.pk).update(
            status=ReportStatus.DONE,
            progress=100,
            rows=rendered.rows,
            pages=rendered.pages,
            content=rendered.content,
            size=len(rendered.content),
            filename=filename,
            finished_at=timezone.now(),
            lease_until=None,
        )
        audit_event_record(
            action="report.generated",
            tenant=job.tenant,
            use_current_tenant=False,
            target=job,
            after={"rows": rendered.rows, "pages": rendered.pages, "size": len(rendered.content)},
        )


def _fail(job: ReportJob, error: str) -> None:
    with unscoped(reason="report runner: failure"), transaction.atomic():
        ReportJob.objects.filter(pk=job.pk).update(
            status=ReportStatus.FAILED,
            error=error,
            finished_at=timezone.now(),
            lease_until=None,
        )
        audit_event_record(
            action="report.failed",
            tenant=job.tenant,
            use_current_tenant=False,
            target=job,
            outcome="failure",
            details={"error": error},
        )


def report_jobs_due(*, limit: int = 10) -> list[int]:
    """Queued jobs whose message was lost and running jobs whose worker died (lease passed)."""
    now = timezone.now()
    with unscoped(reason="report sweeper: open jobs of every tenant"):
        return list(
            ReportJob.objects.filter(attempts__lt=MAX_ATTEMPTS)
            .filter(
                Q(status=ReportStatus.QUEUED, created_at__lt=now - timedelta(seconds=30))
                | Q(status=ReportStatus.RUNNING, lease_until__lt=now)
            )
            .order_by("created_at")
            .values_list("pk", flat=True)[:limit]
        )


def report_jobs_give_up() -> int:
    """Jobs whose worker died MAX_ATTEMPTS times: failed, with a message."""
    now = timezone.now()
    with unscoped(reason="report sweeper: abandoned jobs"):
        return ReportJob.objects.filter(
            attempts__gte=MAX_ATTEMPTS, status=ReportStatus.RUNNING, lease_until__lt=now
        ).update(
            status=ReportStatus.FAILED,
            error=_("The report failed repeatedly; ask for it again."),
            finished_at=now,
            lease_until=None,
        )


def report_files_purge(*, now: datetime | None = None, limit: int = 500) -> int:
    """Delete the files of reports made more than REPORTS_RETENTION_DAYS ago (0: keep them):
    the content goes, the row stays with `purged_at`. One audit event per tenant (and one for
    platform reports) naming the reports. Returns how many files were deleted."""
    days = int(getattr(settings, "REPORTS_RETENTION_DAYS", 0) or 0)
    if days <= 0:
        return 0
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    with (
        unscoped(reason="report sweeper: files past retention in every tenant"),
        transaction.atomic(),
    ):
        rows = [
            (job.pk, job.tenant_id)
            for job in ReportJob.objects.filter(content__isnull=False, finished_at__lt=cutoff)
            .only("pk", "tenant_id")
            .order_by("finished_at", "pk")
            .select_for_update(skip_locked=True)[:limit]
        ]
        if not rows:
            return 0
        ReportJob.objects.filter(pk__in=[pk for pk, _t in rows]).update(content=None, purged_at=now)
        by_tenant: dict[int | None, list[int]] = {}
        for pk, tenant_id in rows:
            by_tenant.setdefault(tenant_id, []).append(pk)
        for tenant_id, ids in by_tenant.items():
            audit_event_record(
                action="report.files_purged",
                tenant=tenant_id,
                use_current_tenant=False,
                target_type="reports.reportjob",
                target_id=ids[0] if len(ids) == 1 else "",
                details={"reports": ids, "retention_days": days},
            )
    return len(rows)


def report_download_record(*, actor: Any, job: ReportJob) -> None:
    """Each download of a report file is on the audit log of the report's tenant."""
    if job.tenant_id is None:
        with unscoped(reason="platform report downloaded"):
            audit_event_record(
                action="report.downloaded",
                actor=actor,
                target=job,
                use_current_tenant=False,
                details={"kind": job.kind, "format": job.file_format},
            )
        return
    tenant = Tenant.objects.get(pk=job.tenant_id)
    with tenant_context(tenant):
        audit_event_record(
            action="report.downloaded",
            actor=actor,
            tenant=tenant,
            target=job,
            details={"kind": job.kind, "format": job.file_format},
        )


# --- schedules ----------------------------------------------------------------------------------


def next_run_after(frequency: str, now: datetime, tz_name: str) -> datetime:
    """06:00 local time on the first day of the next month or quarter."""
    tz = zoneinfo.ZoneInfo(tz_name)
    local = now.astimezone(tz).date()
    month_index = local.year * 12 + local.month  # the next month, 0-based months + 1
    if frequency == ScheduleFrequency.QUARTERLY:
        quarter_first = 3 * ((local.month - 1) // 3) + 1
        month_index = local.year * 12 + quarter_first - 1 + 3
    day = date(month_index // 12, month_index % 12 + 1, 1)
    return datetime.combine(day, time(6, 0), tzinfo=tz)


@transaction.atomic
def report_schedule_create(
    *,
    actor: Any,
    tenant: Tenant,
    kind: str,
    frequency: str,
    file_format: str = ReportFormat.PDF,
    scope: str = ReportScope.TENANT,
    language: str = "en",
) -> ReportSchedule:
    if not can_report(actor=actor, tenant=tenant):
        raise PermissionDenied(_("You may not schedule reports here."), code="forbidden")
    if frequency not in ScheduleFrequency.values:
        raise DomainError(_("Choose monthly or quarterly."), code="frequency")
    spec = kind_get(kind)
    if spec is None or scope not in spec.scopes or kind == "campaign_results":
        raise DomainError(_("This report cannot be scheduled."), code="unknown_kind")
    if scope not in (ReportScope.TENANT, ReportScope.PORTFOLIO):
        raise DomainError(_("This scope is not available here."), code="scope")
    if scope == ReportScope.PORTFOLIO and not selectors.has_portfolio(tenant):
        raise DomainError(_("This tenant has no subsidiaries."), code="scope")
    if file_format not in ReportFormat.values:
        raise DomainError(_("Choose PDF or CSV."), code="format")
    tz_name = _check_time_zone(tenant.time_zone)
    with tenant_context(tenant):
        schedule = ReportSchedule.objects.create(
            tenant=tenant,
            kind=kind,
            frequency=frequency,
            file_format=file_format,
            scope=scope,
            language=language if language in _languages() else settings.LANGUAGE_CODE,
            time_zone=tz_name,
            next_run_at=next_run_after(frequency, timezone.now(), tz_name),
            created_by=actor,
        )
        audit_event_record(
            action="report.schedule_created",
            actor=actor,
            target=schedule,
            after={"kind": kind, "frequency": frequency, "format": file_format, "scope": scope},
        )
    return schedule


@transaction.atomic
def report_schedule_cancel(*, actor: Any, tenant: Tenant, schedule_id: int) -> None:
    if not can_report(actor=actor, tenant=tenant):
        raise PermissionDenied(_("You may not schedule reports here."), code="forbidden")
    with tenant_context(tenant):
        changed = ReportSchedule.objects.filter(pk=schedule_id, is_active=True).update(
            is_active=False
        )
        if not changed:
            raise NotFound(_("No such schedule."), code="not_found")
        audit_event_record(
            action="report.schedule_cancelled",
            actor=actor,
            target_type="reports.reportschedule",
            target_id=schedule_id,
        )


def report_schedules_run_due(*, now: datetime | None = None, limit: int = 50) -> int:
    """Beat sweeper: claim each due schedule with a conditional UPDATE of its due column (two
    sweepers cannot both take it), then queue the report for the period just ended."""
    now = now or timezone.now()
    with unscoped(reason="report schedule sweeper: due schedules of every tenant"):
        due = list(
            ReportSchedule.objects.filter(is_active=True, next_run_at__lte=now)
            .select_related("tenant", "created_by")
            .order_by("next_run_at")[:limit]
        )
    queued = 0
    for schedule in due:
        with tenant_context(schedule.tenant):
            claimed = ReportSchedule.objects.filter(
                pk=schedule.pk, next_run_at=schedule.next_run_at, is_active=True
            ).update(
                next_run_at=next_run_after(schedule.frequency, now, schedule.time_zone),
                last_run_at=now,
            )
        if not claimed:
            continue
        unit = "quarter" if schedule.frequency == ScheduleFrequency.QUARTERLY else "month"
        first, _end = previous_period(unit, now, schedule.time_zone)
        parameters: dict[str, Any] = {"period": unit, "start": first.isoformat()}
        try:
            report_job_request(
                actor=None,
                tenant=schedule.tenant,
                kind=schedule.kind,
                file_format=schedule.file_format,
                scope=schedule.scope,
                parameters=parameters,
                language=schedule.language,
                time_zone=schedule.time_zone,
                schedule=schedule,
            )
            queued += 1
        except DomainError as exc:  # e.g. the tenant lost its subsidiaries: noted, not fatal
            logger.warning("schedule %s not run: %s", schedule.pk, exc.message)
    return queued
