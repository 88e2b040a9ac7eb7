"""Report schedules: a due column claimed by the beat sweeper (conditional UPDATE), each run
queueing the report for the month or quarter just ended, in the tenant's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context
from apps.reports import services
from apps.reports.models import ReportJob, ReportSchedule
from apps.reports.tasks import reports_sweep_task

pytestmark = pytest.mark.django_db


def test_monthly_schedule_queues_last_months_report_once(admin_a, tenant_a, time_machine):
    time_machine.move_to(datetime(2026, 11, 20, 12, 0, tzinfo=UTC), tick=False)
    schedule = services.report_schedule_create(
        actor=admin_a, tenant=tenant_a, kind="compliance_summary", frequency="monthly"
    )
    # 06:00 in Berlin on the first of next month
    assert schedule.next_run_at == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert services.report_schedules_run_due() == 0

    time_machine.move_to(datetime(2026, 12, 1, 5, 1, tzinfo=UTC), tick=False)
    assert services.report_schedules_run_due() == 1
    assert services.report_schedules_run_due() == 0  # claimed: not twice
    with tenant_context(tenant_a):
        job = ReportJob.objects.get()
        schedule = ReportSchedule.objects.get(pk=schedule.pk)
    assert job.schedule_id == schedule.pk
    assert job.requested_by is None
    assert job.parameters == {"period": "month", "start": "2026-11-01"}
    assert job.time_zone == "Europe/Berlin"
    assert schedule.next_run_at == datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
    services.report_job_run(job_id=job.pk)
    with tenant_context(tenant_a):
        assert ReportJob.objects.get(pk=job.pk).status == "done"


def test_quarterly_schedule_covers_the_quarter_just_ended(admin_a, tenant_a, time_machine):
    time_machine.move_to(datetime(2026, 11, 20, 12, 0, tzinfo=UTC), tick=False)
    services.report_schedule_create(
        actor=admin_a, tenant=tenant_a, kind="vendor_access", frequency="quarterly"
    )
    time_machine.move_to(datetime(2027, 1, 1, 6, 0, tzinfo=UTC), tick=False)
    result = reports_sweep_task()
    assert result["scheduled"] == 1
    with tenant_context(tenant_a):
        job = ReportJob.objects.get()
    assert job.parameters == {"period": "quarter", "start": "2026-10-01"}


def test_cancelled_schedules_do_not_run(client_for, admin_a, tenant_a, time_machine):
    time_machine.move_to(datetime(2026, 11, 20, 12, 0, tzinfo=UTC), tick=False)
    client = client_for(admin_a)
    response = client.post(
        "/t/acme/reports/schedules/new/",
        {"kind": "inventory", "frequency": "monthly", "file_format": "csv", "scope": "tenant"},
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        schedule = ReportSchedule.objects.get()
    assert client.post(f"/t/acme/reports/schedules/{schedule.pk}/cancel/").status_code == 302
    time_machine.move_to(datetime(2027, 2, 1, tzinfo=UTC), tick=False)
    assert services.report_schedules_run_due() == 0


def test_campaign_results_cannot_be_scheduled(admin_a, tenant_a):
    with pytest.raises(DomainError):
        services.report_schedule_create(
            actor=admin_a, tenant=tenant_a, kind="campaign_results", frequency="monthly"
        )
