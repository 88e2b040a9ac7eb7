"""The access inventory downloads: a streaming CSV with one line per grant and entitlement it
gives, and a PDF report whose text holds the grant rows."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import timedelta

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from apps.access import services
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context

from .conftest import Catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def grants(tenant_a, tenant_b, operator, admin_a, member_a, staff_engineer, catalog: Catalog):
    services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        entitlement=catalog.crm_read,
        source="manual",
        justification="=HYPERLINK(evil)",
    )
    services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=staff_engineer,
        role=catalog.support,
        source="request",
        duration=timedelta(hours=4),
        ticket_ref="SUP-4711",
        approval_ref="request:17",
    )
    services.grant_create(
        actor=operator,
        tenant=tenant_b,
        user=staff_engineer,
        entitlement=catalog.other_read,
        source="request",
        duration=timedelta(hours=2),
        ticket_ref="SUP-4800",
    )


def _csv(response) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_one_line_per_grant_and_entitlement(client_for, admin_a, catalog, grants):
    response = client_for(admin_a).get("/t/acme/access/inventory.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = _csv(response)
    by_ent = {(r["subject"], r["entitlement"]): r for r in rows}
    assert set(by_ent) == {
        ("Mia Member", catalog.crm_read.name),
        ("Sam Support", catalog.crm_read.name),  # Support role expands to read + write
        ("Sam Support", catalog.crm_write.name),
    }
    sam = by_ent[("Sam Support", catalog.crm_write.name)]
    assert sam["via_role"] == "support"
    assert sam["vendor_staff"] == "yes"
    assert sam["vendor_role"] == "Support engineer"
    assert sam["subject_email"] == ""  # name and vendor role only
    assert sam["ticket_ref"] == "SUP-4711"
    assert sam["approval_ref"] == "request:17"
    assert sam["environment"] == "crm-prod"
    assert sam["level"] == "write"
    assert sam["state"] == "active"
    assert sam["expires_at"]
    mia = by_ent[("Mia Member", catalog.crm_read.name)]
    assert mia["justification"] == "'=HYPERLINK(evil)"  # no formula injection
    assert mia["expires_at"] == ""
    assert "SUP-4800" not in str(rows)  # other tenant
    with tenant_context(catalog.crm.tenant):
        assert AuditEvent.objects.filter(action="access.inventory.exported").count() == 1


def test_csv_marks_expired_grants_as_ended(
    client_for, admin_a, member_a, tenant_a, catalog, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        entitlement=catalog.crm_admin,
        source="manual",
        duration=timedelta(hours=1),
    )
    time_machine.shift(timedelta(hours=3))
    rows = _csv(client_for(admin_a).get("/t/acme/access/inventory.csv"))
    assert [r["state"] for r in rows] == ["expired"]
    current = _csv(client_for(admin_a).get("/t/acme/access/inventory.csv", {"state": "current"}))
    assert current == []


def test_csv_streams_in_batches(client_for, admin_a, member_a, tenant_a, catalog, settings):
    from apps.access import selectors_explain

    original = selectors_explain.INVENTORY_BATCH
    selectors_explain.INVENTORY_BATCH = 2
    try:
        for env_ent in (catalog.crm_read, catalog.crm_write, catalog.analytics_read):
            services.grant_create(
                actor=admin_a, tenant=tenant_a, user=member_a, entitlement=env_ent, source="manual"
            )
        rows = _csv(client_for(admin_a).get("/t/acme/access/inventory.csv"))
    finally:
        selectors_explain.INVENTORY_BATCH = original
    assert len(rows) == 3
    assert [int(r["grant_id"]) for r in rows] == sorted(int(r["grant_id"]) for r in rows)


def test_pdf_is_a_pdf_with_the_grant_rows(client_for, admin_a, catalog, grants, tmp_path):
    response = client_for(admin_a).get("/t/acme/access/inventory.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    path = tmp_path / "inventory.pdf"
    path.write_bytes(response.content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "Access inventory" in text
    assert "ACME Corp" in text
    assert "Mia Member" in text
    assert "Sam Support" in text
    assert "SUP-4711" in text
    assert "SUP-4800" not in text
    assert "Page 1 / 1" in text


def test_inventory_downloads_are_for_admin_like_roles(client_for, member_a, outsider_b, tenant_a):
    assert client_for(member_a).get("/t/acme/access/inventory.csv").status_code == 403
    assert client_for(member_a).get("/t/acme/access/inventory.pdf").status_code == 403
    assert client_for(outsider_b).get("/t/acme/access/inventory.csv").status_code == 404
