"""What the report kinds count: the compliance summary's figures and the vendor-staff
access over a period, the lazy kinds' registration, and the staff console."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.audit.services import audit_event_record
from apps.core.tenancy import tenant_context, unscoped
from apps.reports import services
from apps.reports.kinds import kind_get, kinds_available
from apps.reports.kinds.base import find_model
from apps.reports.models import ReportJob
from apps.tenants import services as tenant_services
from apps.tenants.models import Membership, TenantRole

pytestmark = pytest.mark.django_db


def _done(tenant, job) -> ReportJob:
    services.report_job_run(job_id=job.pk)
    if tenant is None:
        with unscoped(reason="test"):
            done = ReportJob.objects.get(pk=job.pk)
    else:
        with tenant_context(tenant):
            done = ReportJob.objects.get(pk=job.pk)
    assert done.status == "done", done.error
    return done


def _text(content: bytes, tmp_path) -> str:
    path = tmp_path / "r.pdf"
    path.write_bytes(content)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_compliance_summary_figures(admin_a, member_a, operator, tenant_a, grants, tmp_path):
    with tenant_context(tenant_a):
        membership = Membership.objects.get(user=member_a)
    tenant_services.membership_change_role(
        actor=admin_a, membership=membership, role=TenantRole.APPROVER
    )
    with tenant_context(tenant_a):
        audit_event_record(action="break_glass.activated", actor=admin_a, target=tenant_a)
        audit_event_record(action="access_request.denied", actor=admin_a, target=tenant_a)
        audit_event_record(action="access.policy_exception.created", actor=admin_a)
    today = timezone.localdate()
    job = services.report_job_request(
        actor=admin_a,
        tenant=tenant_a,
        kind="compliance_summary",
        parameters={"period": "month", "start": today.replace(day=1).isoformat()},
    )
    text = _text(bytes(_done(tenant_a, job).content), tmp_path)
    assert "Monthly compliance summary" in text
    figures = {
        "Unique persons with access": "2",
        "of whom vendor staff": "1",
        "Role changes": "1",
        "Break-glass uses": "1",
        "Requests denied": "1",
    }
    for label, value in figures.items():
        line = next(line for line in text.splitlines() if label in line)
        assert line.split()[-1] == value, line
    assert "Member's role changed" in text or "membership.role_changed" in text


def test_vendor_access_over_a_period(admin_a, tenant_a, grants, staff_engineer, tmp_path):
    today = timezone.localdate()
    job = services.report_job_request(
        actor=admin_a,
        tenant=tenant_a,
        kind="vendor_access",
        file_format="csv",
        parameters={
            "period": "custom",
            "start": (today - timedelta(days=7)).isoformat(),
            "end": today.isoformat(),
        },
    )
    rows = list(
        csv.DictReader(io.StringIO(bytes(_done(tenant_a, job).content).decode("utf-8-sig")))
    )
    assert [r["person"] for r in rows] == ["Sam Support"]  # not Mia (customer), not Globex
    assert rows[0]["ticket_ref"] == "SUP-4711"
    assert rows[0]["vendor_role"] == "support_engineer"
    old = services.report_job_request(
        actor=admin_a,
        tenant=tenant_a,
        kind="vendor_access",
        file_format="csv",
        parameters={"period": "month", "start": "2020-01-01"},
    )
    assert bytes(_done(tenant_a, old).content).decode("utf-8-sig").count("\n") == 1  # header


def test_lazy_kinds_follow_their_models():
    # analytics and certification ship with Custos: both kinds are offered to tenants
    assert find_model("AnomalyAlert", "Alert") is not None
    assert find_model("Campaign") is not None
    assert find_model("ReviewItem") is not None
    assert kind_get("anomalies") is not None
    assert kind_get("campaign_results") is not None
    assert "inventory" in [k.key for k in kinds_available("tenant")]
    assert "campaign_results" not in [k.key for k in kinds_available("platform")]


def test_anomaly_summary_runs(admin_a, tenant_a, tmp_path):
    job = services.report_job_request(
        actor=admin_a,
        tenant=tenant_a,
        kind="anomalies",
        parameters={"period": "month", "start": timezone.localdate().isoformat()},
    )
    assert "Anomaly summary" in _text(bytes(_done(tenant_a, job).content), tmp_path)


def test_staff_console_platform_report(
    client_for, compliance_officer, staff_engineer, admin_a, grants
):
    client = client_for(compliance_officer)
    assert client.get("/staff/reports/").status_code == 200
    response = client.post(
        "/staff/reports/",
        {
            "tenant": "",
            "kind": "vendor_access",
            "file_format": "csv",
            "period": "month",
            "start": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with unscoped(reason="test"):
        job = ReportJob.objects.get()
    assert job.tenant_id is None
    assert job.scope == "platform"
    assert client.get(f"/staff/reports/{job.pk}/").status_code == 200
    done = _done(None, job)
    progress = client.get(f"/staff/reports/{job.pk}/", headers={"HX-Request": "true"})
    assert progress.status_code == 286
    download = client.get(f"/staff/reports/{job.pk}/download/")
    assert download.status_code == 200
    text = download.content.decode("utf-8-sig")
    assert "SUP-4711" in text  # tenant A
    assert "SUP-4800" in text  # and tenant B: every tenant
    assert done.rows == 2
    assert client_for(staff_engineer).get("/staff/reports/").status_code == 403
    assert client_for(admin_a).get("/staff/reports/").status_code == 403
    assert client_for(admin_a).get(f"/staff/reports/{job.pk}/download/").status_code == 403
