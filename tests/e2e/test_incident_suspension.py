"""Browser journey of incident response: a security officer opens the incident page, runs the
dry run (counts and lists), adds isolation, confirms with the reference, and the page shows the
suspension done; the customer admin then sees the incident in the portal."""

from __future__ import annotations

import re
import struct
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.access import services as access
from apps.access.models import Grant, GrantSource
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import StaffRole, UserKind
from apps.incidents import services
from apps.incidents.models import TenantScope
from apps.tenants import services as tenant_services
from apps.tenants.models import TenantStatus
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_dry_run_then_suspend_now(
    page: Any,
    sign_in: Any,
    totp_device_for: Any,
    screenshot_dir: Path,
    tenant_a: Any,
    operator: Any,
    admin_a: Any,
    member_a: Any,
    approver_a: Any,
    staff_engineer: Any,
) -> None:
    officer = make_user(
        "sid@vendor.test",
        full_name="Sid Security",
        kind=UserKind.STAFF,
        staff_role=StaffRole.SECURITY,
    )
    crm = tenant_services.environment_create(
        actor=operator, tenant=tenant_a, slug="crm", name="CRM"
    )
    read = access.entitlement_create(
        actor=operator, tenant=tenant_a, environment=crm, level="read", risk="low"
    )
    until = timezone.now() + timedelta(days=3)
    for person in (member_a, approver_a):
        access.grant_create(
            actor=operator,
            tenant=tenant_a,
            user=person,
            entitlement=read,
            source=GrantSource.MANUAL,
            expires_at=until,
        )
    access.grant_create(
        actor=operator,
        tenant=tenant_a,
        user=staff_engineer,
        entitlement=read,
        source=GrantSource.REQUEST,
        duration=timedelta(hours=2),
        ticket_ref="SUP-9",
    )
    incident = services.incident_open(
        actor=officer,
        title="Leaked CI token",
        severity="critical",
        tenants=[tenant_a],
        scope=TenantScope.WHOLE_TENANT,
    )

    sign_in(page, email=officer.email, device=totp_device_for(officer))
    page.goto(f"/staff/incidents/{incident.pk}/")
    page.get_by_role("link", name="Emergency suspension (dry run first)").click()
    expect(page.get_by_text("Nothing has changed yet.")).to_be_visible()
    totals = page.locator("#suspension-totals")
    expect(totals).to_contain_text("3")  # grants suspended
    expect(page.get_by_text("mia@acme.test")).to_be_visible()
    expect(page.get_by_text("sam@vendor.test").first).to_be_visible()
    page.get_by_role("checkbox", name=re.compile("ACME Corp")).check()
    page.get_by_role("button", name="Update preview").click()
    expect(page.get_by_text("will be isolated")).to_be_visible()
    page.get_by_label("Reason").fill("CI token found in a public log")
    page.get_by_label("Type the incident reference to confirm").fill(incident.reference)
    page.get_by_role("button", name="Suspend now").click()
    expect(page.get_by_text(re.compile(r"Suspended in 1 tenant\(s\)"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"3 grants suspended")).first).to_be_visible()

    shot = screenshot_dir / "incident-suspended.png"
    page.screenshot(path=str(shot), full_page=True)
    width, height = _png_size(shot)
    assert width == 1280
    assert height >= 800

    with tenant_context(tenant_a):
        assert not Grant.objects.filter(suspended_at__isnull=True).exists()
    member_a.refresh_from_db()
    assert not member_a.is_active
    with unscoped(reason="test"):
        tenant_a.refresh_from_db()
    assert tenant_a.status == TenantStatus.ISOLATED
