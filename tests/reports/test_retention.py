"""Generated report files are deleted after REPORTS_RETENTION_DAYS by the reports sweeper: the
row and its audit trail stay, the page says what happened, the download answers 410."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.reports import services, tasks
from apps.reports.models import ReportJob

pytestmark = pytest.mark.django_db


def _done_job(client, tenant) -> ReportJob:
    response = client.post(
        "/t/acme/reports/new/",
        {"kind": "inventory", "file_format": "csv", "scope": "tenant", "state": "all"},
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        pk = ReportJob.objects.order_by("-pk").values_list("pk", flat=True).first()
    services.report_job_run(job_id=pk)
    with tenant_context(tenant):
        return ReportJob.objects.get(pk=pk)


def test_files_past_retention_are_deleted_and_the_page_says_so(
    client_for, admin_a, tenant_a, grants, settings
):
    settings.REPORTS_RETENTION_DAYS = 30
    client = client_for(admin_a)
    old = _done_job(client, tenant_a)
    recent = _done_job(client, tenant_a)
    with tenant_context(tenant_a):
        ReportJob.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=31))

    result = tasks.reports_sweep_task()

    assert result["files_purged"] == 1
    with tenant_context(tenant_a):
        old, recent = ReportJob.objects.get(pk=old.pk), ReportJob.objects.get(pk=recent.pk)
        events = list(AuditEvent.objects.filter(action="report.files_purged"))
    assert old.content is None
    assert old.purged_at is not None
    assert (old.rows, old.status) == (3, "done")  # the record of what was made stays
    assert recent.content is not None
    assert recent.purged_at is None
    assert [e.personal["details"]["reports"] for e in events] == [[old.pk]]

    download = client.get(f"/t/acme/reports/{old.pk}/download/")
    assert download.status_code == 410
    assert b"deleted on" in download.content
    page = client.get(f"/t/acme/reports/{old.pk}/")
    assert b"Ask for the report again" in page.content
    listing = client.get("/t/acme/reports/")
    assert b"deleted (retention)" in listing.content
    assert client.get(f"/t/acme/reports/{recent.pk}/download/").status_code == 200

    assert tasks.reports_sweep_task()["files_purged"] == 0  # idempotent


def test_retention_zero_keeps_every_file(client_for, admin_a, tenant_a, grants, settings):
    settings.REPORTS_RETENTION_DAYS = 0
    client = client_for(admin_a)
    job = _done_job(client, tenant_a)
    with tenant_context(tenant_a):
        ReportJob.objects.filter(pk=job.pk).update(
            finished_at=timezone.now() - timedelta(days=3650)
        )
    assert services.report_files_purge() == 0
    assert client.get(f"/t/acme/reports/{job.pk}/download/").status_code == 200


def _purged_job(client, tenant, settings) -> ReportJob:
    """A report made two days ago under a one-day retention, swept."""
    settings.REPORTS_RETENTION_DAYS = 1
    job = _done_job(client, tenant)
    with tenant_context(tenant):
        ReportJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=2))
    assert services.report_files_purge() == 1
    return job


def test_the_purge_page_speaks_german(client_for, admin_a, tenant_a, grants, settings):
    client = client_for(admin_a)
    job = _purged_job(client, tenant_a, settings)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "de"
    page = client.get(f"/t/acme/reports/{job.pk}/")
    assert b"Aufbewahrungsfrist" in page.content


def test_the_audit_log_names_the_purge(client_for, admin_a, tenant_a, grants, settings):
    client = client_for(admin_a)
    _purged_job(client, tenant_a, settings)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "fr"
    body = client.get("/t/acme/audit/").content.decode()
    assert "Fichiers de rapport supprimés (durée de conservation)" in body
