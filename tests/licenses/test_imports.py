"""Bulk onboarding as an admin meets it: a dry run with per-row errors (duplicate rows,
malformed CSV, unknown product, pool exhausted mid-import, disposable email), then the
background run with progress and a downloadable result file; each row all or nothing."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.licenses.models import ImportStatus, LicensePool, OnboardingImport
from apps.licenses.services.imports import import_confirm, import_preview
from apps.lifecycle.joiner import joiner_import_run

pytestmark = pytest.mark.django_db

HEADER = "email,full_name,role,location,products\n"


def _codes(imp):
    return {e["row"]: [p["code"] for p in e["errors"]] for e in imp.preview_errors}


def test_dry_run_reports_every_row_problem_and_creates_nothing(tenant_a, admin_a, make_pool):
    make_pool(capacity=2)
    text = HEADER + (
        "a@acme.test,A,member,,office\n"
        "b@acme.test,B,member,,office\n"
        "a@acme.test,A again,member,,office\n"  # duplicate of row 2
        "c@acme.test,C,member,,office\n"  # pool runs out here
        "d@acme.test,D,member,,nope\n"  # unknown product
        "e@mailinator.com,E,member,,office\n"  # disposable
        "broken,row\n"  # malformed
        "not-an-email,F,member,,\n"
        "g@acme.test,G,wizard,,\n"
    )
    imp = import_preview(actor=admin_a, tenant=tenant_a, filename="people.csv", data=text.encode())
    codes = _codes(imp)
    assert codes[4] == ["duplicate_row"]
    assert codes[5] == ["pool_exhausted"]
    assert codes[6] == ["unknown_product"]
    assert codes[7] == ["disposable_email"]
    assert codes[8] == ["malformed_row"]
    assert codes[9] == ["invalid_email"]
    assert codes[10] == ["unknown_role"]
    assert (imp.total_rows, imp.valid_rows) == (9, 2)
    assert (
        not User.objects.filter(email__endswith="@acme.test")
        .exclude(email="alice@acme.test")
        .exists()
    )


def test_whole_file_problems_are_refused_with_the_reason(tenant_a, admin_a):
    with pytest.raises(Exception) as exc:
        import_preview(actor=admin_a, tenant=tenant_a, filename="x.csv", data=b"name\nBob\n")
    assert exc.value.code == "malformed_file"
    with pytest.raises(Exception) as exc:
        import_preview(actor=admin_a, tenant=tenant_a, filename="x.pdf", data=b"%PDF")
    assert exc.value.code == "unsupported_format"
    with pytest.raises(Exception) as exc:
        import_preview(actor=admin_a, tenant=tenant_a, filename="x.xlsx", data=b"not a zip")
    assert exc.value.code == "malformed_file"
    with pytest.raises(Exception) as exc:
        import_preview(actor=admin_a, tenant=tenant_a, filename="x.csv", data=b"\xff\xfe\x00bad")
    assert exc.value.code == "malformed_file"


def test_run_onboards_valid_rows_and_reports_the_rest(tenant_a, admin_a, make_pool):
    pool = make_pool(capacity=3)
    rows = "".join(f"p{i}@acme.test,P{i},member,,office\n" for i in range(5))
    imp = import_preview(
        actor=admin_a, tenant=tenant_a, filename="p.csv", data=(HEADER + rows).encode()
    )
    assert imp.valid_rows == 3
    import_confirm(actor=admin_a, imp=imp)
    assert joiner_import_run(import_id=imp.pk) == {"created": 3, "failed": 2}
    with tenant_context(tenant_a):
        imp = OnboardingImport.objects.get(pk=imp.pk)
        assert LicensePool.objects.get(pk=pool.pk).used == 3
    assert imp.status == ImportStatus.DONE
    assert imp.progress_percent == 100
    result = list(csv.DictReader(io.StringIO(bytes(imp.result).decode())))
    assert [r["status"] for r in result] == ["created"] * 3 + ["failed"] * 2
    assert result[3]["error_code"] == "pool_exhausted"
    # Nothing half-created for the rows that failed.
    assert not User.objects.filter(email__in=["p3@acme.test", "p4@acme.test"]).exists()
    # A second run of the same import does nothing.
    assert joiner_import_run(import_id=imp.pk) is None


def test_xlsx_is_read_too(tenant_a, admin_a, make_pool):
    make_pool(capacity=5)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["email", "full_name", "products"])
    sheet.append(["x1@acme.test", "X One", "office"])
    sheet.append(["x2@acme.test", "X Two", "office"])
    out = io.BytesIO()
    book.save(out)
    imp = import_preview(actor=admin_a, tenant=tenant_a, filename="p.xlsx", data=out.getvalue())
    assert (imp.total_rows, imp.valid_rows, imp.preview_errors) == (2, 2, [])


def test_portal_flow_preview_start_progress_download(
    tenant_a, admin_a, client_for, make_pool, settings
):
    settings.LICENSES_IMPORT_INLINE = True
    make_pool(capacity=5)
    client = client_for(admin_a)
    upload = io.BytesIO(
        (HEADER + "u1@acme.test,U1,member,,office\nu1@acme.test,dup,member,,office\n").encode()
    )
    upload.name = "team.csv"
    response = client.post("/t/acme/licenses/imports/", {"file": upload})
    assert response.status_code == 302
    detail = client.get(response["Location"])
    page = detail.content.decode()
    assert "duplicate_row" in page
    assert "Start the import" in page
    imp_id = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
    started = client.post(f"/t/acme/licenses/imports/{imp_id}/start/")
    assert started.status_code == 302
    progress = client.get(f"/t/acme/licenses/imports/{imp_id}/", HTTP_HX_REQUEST="true")
    assert progress.status_code == 286  # finished: HTMX stops polling
    result = client.get(f"/t/acme/licenses/imports/{imp_id}/result.csv")
    assert result.status_code == 200
    assert "u1@acme.test,created" in result.content.decode().replace("\r", "").replace("2,u1", "u1")


def test_a_batch_with_an_existing_account_takes_the_careful_path(
    tenant_a, admin_a, outsider_b, make_pool
):
    make_pool(capacity=5)
    text = HEADER + f"{outsider_b.email},Otto,member,,office\nnew1@acme.test,N,member,,office\n"
    imp = import_preview(actor=admin_a, tenant=tenant_a, filename="p.csv", data=text.encode())
    import_confirm(actor=admin_a, imp=imp)
    assert joiner_import_run(import_id=imp.pk) == {"created": 2, "failed": 0}
    assert User.objects.filter(email=outsider_b.email).count() == 1
