"""Report jobs: requested in the portal, generated in the background, downloaded (audited);
the trio of refusals (anonymous, other tenant, insufficient role) and bad input."""

from __future__ import annotations

import csv
import io

import pytest

from apps.core.exceptions import DomainError, PermissionDenied
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.reports import services
from apps.reports.models import ReportJob

pytestmark = pytest.mark.django_db


def _job(tenant, pk):
    with tenant_context(tenant):
        return ReportJob.objects.get(pk=pk)


def test_inventory_csv_job_runs_and_downloads(client_for, admin_a, tenant_a, grants):
    client = client_for(admin_a)
    response = client.post(
        "/t/acme/reports/new/",
        {"kind": "inventory", "file_format": "csv", "scope": "tenant", "state": "all"},
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        job = ReportJob.objects.get()
    assert response["Location"] == f"/t/acme/reports/{job.pk}/"
    assert job.status == "queued"
    page = client.get(f"/t/acme/reports/{job.pk}/")
    assert page.status_code == 200
    assert b'hx-trigger="every 2s"' in page.content  # polls while the report is generated

    services.report_job_run(job_id=job.pk)
    job = _job(tenant_a, job.pk)
    assert job.status == "done", job.error
    assert job.progress == 100
    assert job.rows == 3  # Mia's read, Sam's support role expanded to read + write

    partial = client.get(f"/t/acme/reports/{job.pk}/", headers={"HX-Request": "true"})
    assert partial.status_code == 286  # HTMX stops polling
    assert b"download" in partial.content.lower()

    download = client.get(f"/t/acme/reports/{job.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert {r["subject"] for r in rows} == {"Mia Member", "Sam Support"}
    assert rows[0]["justification"] == "'=HYPERLINK(evil)"  # no formula injection
    assert "SUP-4800" not in download.content.decode()  # tenant B's grant
    with tenant_context(tenant_a):
        actions = list(
            AuditEvent.objects.filter(action__startswith="report.").values_list("action", flat=True)
        )
    assert sorted(actions) == ["report.downloaded", "report.generated", "report.requested"]


def test_report_pages_refuse_outsiders_and_members(
    client, client_for, admin_a, member_a, outsider_b, tenant_a, grants
):
    job = services.report_job_request(actor=admin_a, tenant=tenant_a, kind="inventory")
    services.report_job_run(job_id=job.pk)
    urls = ["/t/acme/reports/", f"/t/acme/reports/{job.pk}/", f"/t/acme/reports/{job.pk}/download/"]
    for url in urls:
        assert client.get(url).status_code == 302  # anonymous: to the login page
        assert client_for(outsider_b).get(url).status_code == 404  # other tenant
        assert client_for(member_a).get(url).status_code == 403  # not a reporting role
    # tenant B's admin in their own tenant, with tenant A's job id: not found
    assert client_for(outsider_b).get(f"/t/globex/reports/{job.pk}/").status_code == 404
    assert client_for(outsider_b).get(f"/t/globex/reports/{job.pk}/download/").status_code == 404


def test_bad_input_is_a_form_error_not_a_500(client_for, admin_a, tenant_a):
    client = client_for(admin_a)
    response = client.post(
        "/t/acme/reports/new/",
        {
            "kind": "vendor_access",
            "file_format": "pdf",
            "scope": "tenant",
            "period": "custom",
            "start": "2026-05-01",
            "end": "2026-04-01",
        },
    )
    assert response.status_code == 400
    assert "ends before it starts" in response.content.decode()
    response = client.post(
        "/t/acme/reports/new/",
        {"kind": "inventory", "file_format": "pdf", "scope": "portfolio"},
    )
    assert response.status_code == 400  # ACME has no subsidiaries: portfolio is not offered
    response = client.post("/t/acme/reports/new/", {"kind": "nope", "file_format": "pdf"})
    assert response.status_code == 400
    with tenant_context(tenant_a):
        assert not ReportJob.objects.exists()


def test_service_refuses_unknown_kinds_and_roles(admin_a, member_a, tenant_a):
    with pytest.raises(DomainError):
        services.report_job_request(actor=admin_a, tenant=tenant_a, kind="nope")
    with pytest.raises(PermissionDenied):
        services.report_job_request(actor=member_a, tenant=tenant_a, kind="inventory")
    with pytest.raises(PermissionDenied):  # platform-wide reports: oversight staff only
        services.report_job_request(actor=admin_a, tenant=None, kind="inventory")


def test_a_job_runs_once_and_a_dead_worker_is_picked_up(admin_a, tenant_a, grants, time_machine):
    from datetime import timedelta

    from django.utils import timezone

    time_machine.move_to(timezone.now(), tick=False)
    job = services.report_job_request(actor=admin_a, tenant=tenant_a, kind="inventory")
    claimed = services._claim(job.pk)
    assert claimed is not None
    assert services.report_job_run(job_id=job.pk) is None  # another worker holds it
    assert services.report_jobs_due() == []
    time_machine.shift(services.LEASE + timedelta(seconds=1))  # that worker died
    assert services.report_jobs_due() == [job.pk]
    assert services.report_job_run(job_id=job.pk) is not None
    assert _job(tenant_a, job.pk).status == "done"


def test_list_polls_while_a_job_is_open(client_for, admin_a, tenant_a, grants):
    services.report_job_request(actor=admin_a, tenant=tenant_a, kind="inventory")
    client = client_for(admin_a)
    page = client.get("/t/acme/reports/")
    assert page.status_code == 200
    assert b'hx-trigger="every 2s"' in page.content
    partial = client.get("/t/acme/reports/", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert b"<h1>" not in partial.content
    form = client.get("/t/acme/reports/new/")
    assert form.status_code == 200
    assert b'name="period"' in form.content
    assert b'value="portfolio"' not in form.content  # ACME has no subsidiaries
