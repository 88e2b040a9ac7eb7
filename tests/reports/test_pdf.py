"""The PDFs themselves, read back as text (pdftotext): branded, the table header repeated on
every page, dates in the reader's language and time zone, and the chunked path for large
reports (rendered on worker processes, merged, numbered)."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import UTC, datetime

import pytest

from apps.access import services as access_services
from apps.core.tenancy import tenant_context
from apps.reports import render, services
from apps.reports.models import ReportJob
from apps.tenants import services as tenant_services
from apps.tenants.models import TenantRole
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _pages(content: bytes, tmp_path) -> list[str]:
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


@pytest.fixture
def many_grants(tenant_a, operator, admin_a, catalog):
    """45 grants (15 people, 3 entitlements each): more than one page."""
    starts = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # 12:00 in Berlin (summer time)
    for i in range(15):
        user = make_user(f"person{i:02d}@acme.test", full_name=f"Person {i:02d}")
        tenant_services.membership_add(
            actor=operator, tenant=tenant_a, user=user, role=TenantRole.MEMBER
        )
        for ent in (catalog.crm_read, catalog.analytics_read, catalog.crm_write):
            access_services.grant_create(
                actor=admin_a,
                tenant=tenant_a,
                user=user,
                entitlement=ent,
                source="manual",
                starts_at=starts,
            )


def _run(tenant, job) -> ReportJob:
    services.report_job_run(job_id=job.pk)
    with tenant_context(tenant):
        done = ReportJob.objects.get(pk=job.pk)
    assert done.status == "done", done.error
    return done


def test_header_repeats_and_dates_are_german(admin_a, tenant_a, many_grants, tmp_path):
    job = services.report_job_request(
        actor=admin_a,
        tenant=tenant_a,
        kind="inventory",
        parameters={"state": "all"},
        language="de",
        time_zone="Europe/Berlin",
    )
    done = _run(tenant_a, job)
    pages = _pages(bytes(done.content), tmp_path)
    assert len(pages) >= 2
    assert done.pages == len(pages)
    first, second = pages[0], pages[1]
    assert "Custos" in first  # branded
    assert "ACME Corp" in first
    for page in (first, second):
        # the table header (German) is on every page, not only the first
        assert re.search(r"#\s+Wer\s+", page), page[:600]
        assert "ACME Corp" in page  # running title
    assert f"Seite 2 / {len(pages)}" in second
    assert "01.07.2026 12:00" in first  # 10:00 UTC, read in Berlin, German format
    assert "07/01/2026" not in first


def test_english_reader_in_new_york(admin_a, tenant_a, many_grants, tmp_path):
    job = services.report_job_request(
        actor=admin_a,
        tenant=tenant_a,
        kind="inventory",
        parameters={"state": "all"},
        language="en",
        time_zone="America/New_York",
    )
    pages = _pages(bytes(_run(tenant_a, job).content), tmp_path)
    assert "07/01/2026 6 a.m." in pages[0]
    assert "Page 1 / " in pages[0]


def test_large_reports_are_rendered_in_chunks_and_numbered(
    admin_a, tenant_a, many_grants, tmp_path, monkeypatch, settings
):
    monkeypatch.setattr(render, "CHUNK_ROWS", 20)  # 45 rows: three chunks
    settings.REPORTS_PDF_WORKERS = 2
    job = services.report_job_request(
        actor=admin_a,
        tenant=tenant_a,
        kind="inventory",
        parameters={"state": "all"},
        language="de",
        time_zone="Europe/Berlin",
    )
    done = _run(tenant_a, job)
    pages = _pages(bytes(done.content), tmp_path)
    assert done.rows == 45
    assert done.pages == len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        assert f"Seite {number} / {len(pages)}" in page  # stamped after the merge
        assert re.search(r"#\s+Wer\s+Zugriff", page)  # compact listing header on each page
    text = "\n".join(pages)
    assert all(f"Person {i:02d}" in text for i in range(15))
    assert "01.07.2026 12:00" in text


def test_a_hostile_tenant_name_cannot_break_the_pdf(operator, tmp_path):
    tenant = tenant_services.tenant_create(
        actor=operator, slug="evil", name='Evil "Corp" </style><img src="http://x/">'
    )
    admin = make_user("eve@evil.test", full_name="Eve")
    tenant_services.membership_add(
        actor=operator, tenant=tenant, user=admin, role=TenantRole.CUSTOMER_ADMIN
    )
    job = services.report_job_request(actor=admin, tenant=tenant, kind="inventory")
    pages = _pages(bytes(_run(tenant, job).content), tmp_path)
    assert 'Evil "Corp"' in pages[0]


def test_listing_chunks_after_the_first_fill_whole_pages():
    """CHUNK_ROWS is a whole number of listing pages, so the merged report has no part-filled
    page where one chunk ends and the next begins."""
    from pypdf import PdfReader

    from apps.reports.kinds.base import Column, ReportData
    from apps.reports.pdfworker import render_html

    per_page = render.BLOCKS_PER_PAGE * render.LINES_PER_BLOCK
    assert render.CHUNK_ROWS % per_page == 0
    columns = [Column("id", "#", 7, "right"), Column("who", "Who", 24), Column("n", "N", 130)]
    data = ReportData(
        title="Inventory",
        columns=columns,
        count=0,
        records=lambda: iter(()),
        pdf_row=lambda record: record,
        csv_header=[],
        csv_row=lambda record: [],
    )
    frame = render.Frame(
        title="Inventory", owner_name="Acme", facts=[], generated_label="now", language="en"
    )
    for rows, pages in ((2 * per_page, 2), (2 * per_page + render.LINES_PER_BLOCK, 3)):
        html = render._chunk_html(
            frame,
            data,
            rows=[[str(i), f"Person {i}", "x" * 130] for i in range(rows)],
            first=False,
            compact=True,
            numbered=False,
        )
        assert len(PdfReader(io.BytesIO(render_html(html))).pages) == pages
