"""Browser journeys: sign in with password and a real TOTP code, then do what the persona came
for. Driven through headless Debian Chromium against the live server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.identity.models import User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_customer_admin_signs_in_with_totp_and_switches_to_german(
    page, sign_in, totp_device_for, admin_a, member_a
):
    sign_in(page, email=admin_a.email, device=totp_device_for(admin_a))

    # The only tenant of the admin: straight to its dashboard, in English.
    expect(page).to_have_url(re.compile(r"/t/acme/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("ACME Corp — dashboard")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.get_by_role("link", name="Members")).to_be_visible()

    # The language switcher in the top bar.
    page.get_by_label("Language").select_option("de")
    page.get_by_role("button", name="Switch").click()

    expect(page).to_have_url(re.compile(r"/t/acme/$"))
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", level=1)).to_have_text("ACME Corp \u2013 Übersicht")
    expect(page.get_by_text("Willkommen, Alice.")).to_be_visible()
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    expect(nav.get_by_role("link", name="Umgebungen")).to_be_visible()
    expect(nav.get_by_role("link", name="Mitglieder")).to_be_visible()
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()

    # German follows to the next page, and is kept as the person's preference.
    nav.get_by_role("link", name="Mitglieder").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mitglieder")
    expect(page.get_by_role("cell", name="Kundenadministrator")).to_be_visible()
    assert User.objects.get(pk=admin_a.pk).language == "de"


def test_compliance_officer_signs_in_and_searches_the_audit_log(
    page, sign_in, totp_device_for, compliance_officer, admin_a, outsider_b
):
    sign_in(page, email=compliance_officer.email, device=totp_device_for(compliance_officer))

    # Vendor staff land on the staff console, not in a tenant.
    expect(page).to_have_url(re.compile(r"/staff/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff console")
    expect(page.get_by_text("Signed in as Compliance officer.")).to_be_visible()
    expect(page.get_by_text("You hold no standing access to any customer tenant.")).to_be_visible()
    expect(page.get_by_role("heading", name="Tenants by status")).to_be_visible()

    page.get_by_role("navigation", name="Main navigation").get_by_role(
        "link", name="Audit search"
    ).click()
    expect(page).to_have_url(re.compile(r"/staff/audit/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit search (all tenants)")
    results = page.locator("#audit-results")
    # Events of both tenants and the platform chain (this very sign-in).
    expect(results.get_by_role("cell", name="acme", exact=True).first).to_be_visible()
    expect(results.get_by_role("cell", name="globex", exact=True).first).to_be_visible()
    expect(results.get_by_text("login.succeeded").first).to_be_visible()

    # Narrow the search to one tenant's membership changes.
    page.get_by_label("Tenant (slug)").fill("globex")
    page.get_by_label("Action starts with").fill("membership.")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"tenant=globex"))
    expect(results.get_by_text("membership.added").first).to_be_visible()
    expect(results.get_by_text("Otto Outsider").first).to_be_visible()
    expect(results.get_by_role("cell", name="acme", exact=True)).to_have_count(0)
    expect(results.get_by_text("login.succeeded")).to_have_count(0)
