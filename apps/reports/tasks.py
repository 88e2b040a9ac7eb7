"""Celery tasks of the reports app: thin wrappers around services (timers are columns: the
sweeper runs due schedules and picks up jobs whose message or worker was lost)."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="apps.reports.tasks.report_job_run_task")
def report_job_run_task(job_id: int) -> str | None:
    from apps.reports.services import report_job_run

    job = report_job_run(job_id=job_id)
    return job.status if job is not None else None


@shared_task(name="apps.reports.tasks.reports_sweep_task")
def reports_sweep_task() -> dict[str, Any]:
    from apps.reports.services import (
        report_files_purge,
        report_job_run,
        report_jobs_due,
        report_jobs_give_up,
        report_schedules_run_due,
    )

    scheduled = report_schedules_run_due()
    ran = 0
    for job_id in report_jobs_due():
        if report_job_run(job_id=job_id) is not None:
            ran += 1
    return {
        "scheduled": scheduled,
        "ran": ran,
        "abandoned": report_jobs_give_up(),
        "files_purged": report_files_purge(),
    }
