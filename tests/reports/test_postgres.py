"""Reports on PostgreSQL with row-level security on: the runner's cross-tenant reads stay
within the portfolio, a report job row of another tenant is invisible, and the background
download path (staff console) reads the job inside its tenant's scope."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection

from apps.core.tenancy import tenant_context
from apps.reports import selectors, services
from apps.reports.models import ReportJob
from tests._ci import require_postgres

from .test_portfolio import Portfolio

pytestmark = pytest.mark.django_db


def test_portfolio_report_under_rls(operator):
    require_postgres()
    portfolio = Portfolio(operator)
    job = services.report_job_request(
        actor=portfolio.admins["holding"],
        tenant=portfolio.parent,
        kind="inventory",
        scope="portfolio",
        file_format="csv",
        parameters={"state": "all"},
    )
    services.report_job_run(job_id=job.pk)
    with tenant_context(portfolio.parent):
        done = ReportJob.objects.get(pk=job.pk)
    assert done.status == "done", done.error
    rows = list(csv.DictReader(io.StringIO(bytes(done.content).decode("utf-8-sig"))))
    assert sorted({r["tenant"] for r in rows}) == ["holding", "sub-one", "sub-one-a", "sub-two"]
    # RLS: inside a subsidiary's scope the parent's job row does not exist, even by raw SQL
    with tenant_context(portfolio.sub1), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reports_reportjob")
        assert cursor.fetchone()[0] == 0
    assert selectors.report_job_content(tenant=portfolio.sub1, job_id=job.pk) is None
    assert selectors.report_job_content(tenant=portfolio.parent, job_id=job.pk) is not None


def test_pdf_job_under_rls(operator, tmp_path):
    require_postgres()
    portfolio = Portfolio(operator)
    job = services.report_job_request(
        actor=portfolio.admins["sub-one"],
        tenant=portfolio.sub1,
        kind="vendor_access",
        parameters={"period": "quarter", "start": "2026-10-01"},
        language="fr",
    )
    services.report_job_run(job_id=job.pk)
    with tenant_context(portfolio.sub1):
        done = ReportJob.objects.get(pk=job.pk)
    assert done.status == "done", done.error
    assert bytes(done.content).startswith(b"%PDF")
