"""Browser journey of a reviewer: the CRM owner opens an access review, moves with j/k,
certifies with c, revokes with r (HTMX swaps the row in place), then selects the rest with x
and decides them in bulk (HTMX refreshes the list)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.access.models import Grant
from apps.certification import services
from apps.certification.models import Outcome, ReviewItem
from apps.core.tenancy import tenant_context
from tests.certification.test_campaign_support import build_world, due

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reviewer_decides_with_the_keyboard_and_in_bulk(
    page, sign_in, totp_device_for, tenant_a, operator, admin_a, approver_a, member_a
):
    world = build_world(
        tenant=tenant_a, operator=operator, admin=admin_a, owner=approver_a, member=member_a
    )
    people = [
        world.person(f"p{i}@acme.test", f"Person {i}", department="Finance") for i in range(4)
    ]
    world.grant("mia", member_a, "crm-write")
    for i, person in enumerate(people):
        world.grant(f"p{i}", person, "crm-read")
    campaign = services.campaign_create(
        actor=admin_a, tenant=tenant_a, name="Q4 CRM review", scope_kind="tenant", due_at=due()
    )
    campaign = services.campaign_launch(actor=admin_a, campaign=campaign)
    device = totp_device_for(approver_a)

    sign_in(page, email=approver_a.email, device=device)
    page.goto(f"/t/acme/certification/campaigns/{campaign.pk}/review/")
    expect(page.get_by_text("5 items wait for your decision.")).to_be_visible()
    expect(page.get_by_text("Keyboard shortcuts")).to_be_visible()
    rows = page.locator("tr.review-row")
    expect(rows).to_have_count(5)
    expect(rows.nth(0)).to_have_class("review-row is-current")

    # c certifies the current (first) row in place; the focus moves on to the next row.
    page.keyboard.press("c")
    expect(rows.nth(0).get_by_text("Certified")).to_be_visible()
    expect(rows.nth(1)).to_have_class("review-row is-current")
    # k goes back, j forward twice; r revokes the third row.
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class("review-row is-done is-current")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("r")
    expect(rows.nth(2).get_by_text("Revoked")).to_be_visible()
    expect(rows.nth(3)).to_have_class("review-row is-current")

    # x selects the current row (the fourth), then the fifth; bulk certify through HTMX.
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.get_by_label("Bulk decision").select_option("certify")
    page.get_by_role("button", name="Apply to selected").click()
    expect(page.locator("#review-region .message-success")).to_have_text("2 items decided.")
    expect(page.get_by_text("1 item waits for your decision.")).to_be_visible()

    with tenant_context(tenant_a):
        outcomes = sorted(
            ReviewItem.objects.filter(campaign=campaign).values_list("outcome", flat=True)
        )
        revoked = Grant.objects.filter(revoked_at__isnull=False).count()
    assert outcomes.count(Outcome.CERTIFIED) == 3
    assert outcomes.count(Outcome.REVOKED) == 1
    assert outcomes.count(Outcome.PENDING) == 1
    assert revoked == 1
