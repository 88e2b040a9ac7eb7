"""Browser journey of the lockbox: a support engineer asks for access to a customer tenant, the
support manager approves, the customer's approver approves in the customer portal, and the
engineer sees the access running."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.identity.models import StaffRole, UserKind
from apps.tenants import services as tenant_services
from tests.conftest import make_user
from tests.requests.conftest import GOOD_REASON, entitlement_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_engineer_manager_customer_lockbox(
    playwright_browser,
    live_server,
    page,
    sign_in,
    totp_device_for,
    tenant_a,
    operator,
    approver_a,
    admin_a,
    staff_engineer,
):
    support_manager = make_user(
        "maya@vendor.test",
        full_name="Maya Manager",
        kind=UserKind.STAFF,
        staff_role=StaffRole.SUPPORT_MANAGER,
    )
    crm = tenant_services.environment_create(
        actor=operator, tenant=tenant_a, slug="crm", name="CRM", owner=approver_a
    )
    entitlement_make(tenant_a, crm, "read", "low")
    engineer_device = totp_device_for(staff_engineer)
    manager_device = totp_device_for(support_manager)
    customer_device = totp_device_for(approver_a)

    # 1. The support engineer asks for read access to ACME's CRM for a ticket.
    sign_in(page, email=staff_engineer.email, device=engineer_device)
    page.goto("/staff/requests/new/")
    page.get_by_label("Customer tenant").select_option("acme")
    page.wait_for_url(re.compile(r"tenant=acme"))
    page.get_by_label("Entitlement").select_option(label="CRM · read (low)")
    page.get_by_label("Duration (hours)").fill("2")
    page.get_by_label("Support ticket").fill("SUP-4711")
    page.get_by_label("Business justification").fill(GOOD_REASON)
    page.get_by_role("button", name="Send request").click()
    expect(
        page.get_by_text("Request sent to the support manager, then to the customer.")
    ).to_be_visible()
    expect(page.get_by_text("Support manager — Awaiting decision")).to_be_visible()
    detail_url = page.url

    # 2. The support manager approves the vendor step (in their own browser).
    manager_context = playwright_browser.new_context(base_url=live_server.url, locale="en-US")
    manager = manager_context.new_page()
    sign_in(manager, email=support_manager.email, device=manager_device)
    manager.goto("/staff/requests/inbox/")
    row = manager.get_by_role("row", name=re.compile("SUP-4711"))
    row.get_by_role("button", name="Approve").click()
    expect(manager.get_by_text("Decision recorded.")).to_be_visible()
    manager_context.close()

    # 3. The customer's approver decides in the customer portal (inline, HTMX).
    customer_context = playwright_browser.new_context(base_url=live_server.url, locale="en-US")
    customer = customer_context.new_page()
    sign_in(customer, email=approver_a.email, device=customer_device)
    customer.goto("/t/acme/requests/inbox/")
    row = customer.get_by_role("row", name=re.compile("Sam Support"))
    expect(row.get_by_text("Customer approver")).to_be_visible()
    row.get_by_role("button", name="Approve").click()
    expect(customer.get_by_text("Decision recorded.")).to_be_visible()
    customer.goto("/t/acme/requests/vendor-access/")
    expect(customer.get_by_role("row", name=re.compile("Sam Support"))).to_be_visible()
    customer_context.close()

    # 4. The engineer sees the access running, with its end.
    page.goto(detail_url)
    expect(page.locator("dl.facts").get_by_text("Active")).to_be_visible()
    expect(page.get_by_text("Access until")).to_be_visible()
