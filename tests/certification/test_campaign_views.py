"""Certification pages: the reviewer page (context, HTMX decisions, bulk, constant queries),
the dashboard, reports, the staff console, and the trio anonymous / other tenant / role."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.certification import services
from apps.certification.models import Campaign, CampaignStatus, Outcome, ReviewItem
from apps.core.tenancy import tenant_context
from apps.identity.models import StaffRole, UserKind
from tests.certification.test_campaign_support import World, build_world, due
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def world(tenant_a: Any, operator: Any, admin_a: Any, approver_a: Any, member_a: Any) -> World:
    return build_world(
        tenant=tenant_a, operator=operator, admin=admin_a, owner=approver_a, member=member_a
    )


def _campaign(world: World, **extra: Any) -> Campaign:
    campaign = services.campaign_create(
        actor=world.admin,
        tenant=world.tenant,
        name="Q4 review",
        scope_kind="tenant",
        due_at=due(),
        default_reviewer=extra.pop("default_reviewer", world.admin),
        **extra,
    )
    return services.campaign_launch(actor=world.admin, campaign=campaign)


def _items(world: World, campaign: Campaign) -> list[ReviewItem]:
    with tenant_context(world.tenant):
        return list(ReviewItem.objects.filter(campaign=campaign).order_by("pk"))


def _base(campaign: Campaign) -> str:
    return f"/t/acme/certification/campaigns/{campaign.pk}/"


def test_anonymous_other_tenant_and_member(
    world: World, client: Any, client_for: Any, outsider_b: Any
) -> None:
    world.grant("a", world.member, "crm-read")
    campaign = _campaign(world)
    url = _base(campaign) + "review/"
    response = client.get(url)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert client_for(outsider_b).get(url).status_code == 404
    assert (
        client_for(outsider_b)
        .get(f"/t/globex/certification/campaigns/{campaign.pk}/review/")
        .status_code
        == 404
    )
    member = client_for(world.member)
    assert member.get(url).status_code == 404  # no item of theirs
    assert member.get(_base(campaign)).status_code == 404
    reviewer = client_for(world.owner)
    assert reviewer.get(url).status_code == 200
    assert reviewer.get(_base(campaign)).status_code == 403  # sees items, not the dashboard
    assert member.get("/t/acme/certification/new/").status_code == 403


def test_admin_creates_and_launches_a_campaign(world: World, client_for: Any) -> None:
    world.grant("a", world.member, "crm-read")
    admin = client_for(world.admin)
    assert admin.get("/t/acme/certification/new/").status_code == 200
    response = admin.post(
        "/t/acme/certification/new/",
        {
            "name": "CRM owners review",
            "scope_kind": "environment",
            "scope_environment": world.crm.pk,
            "reviewer_policy": "resource_owner",
            "joint_mode": "both",
            "recurrence": "quarterly",
            "effect_timing": "on_decision",
            "auto_decision": "keep_flag",
            "due_at": due().strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302
    with tenant_context(world.tenant):
        campaign = Campaign.objects.get(name="CRM owners review")
    assert campaign.status == CampaignStatus.DRAFT
    response = admin.post(_base(campaign) + "launch/", follow=True)
    assert b"Campaign launched with 1 items." in response.content
    with tenant_context(world.tenant):
        campaign.refresh_from_db()
    assert campaign.items_total == 1
    # an empty scope is a clear message, the draft stays
    response = admin.post(
        "/t/acme/certification/new/",
        {
            "name": "Vendor review",
            "scope_kind": "vendor_staff",
            "reviewer_policy": "resource_owner",
            "joint_mode": "both",
            "recurrence": "once",
            "effect_timing": "on_decision",
            "auto_decision": "keep_flag",
            "due_at": due().strftime("%Y-%m-%dT%H:%M"),
        },
    )
    with tenant_context(world.tenant):
        empty = Campaign.objects.get(name="Vendor review")
    response = admin.post(_base(empty) + "launch/", follow=True)
    assert b"nothing to review" in response.content
    with tenant_context(world.tenant):
        empty.refresh_from_db()
    assert empty.status == CampaignStatus.DRAFT


def test_review_page_shows_the_context(world: World, client_for: Any) -> None:
    peers = [world.person(f"p{i}@acme.test", f"Peer {i}", department="Finance") for i in range(8)]
    world.grant("a", world.member, "crm-write")
    world.grant("p", peers[0], "crm-write")
    campaign = _campaign(world)
    response = client_for(world.owner).get(_base(campaign) + "review/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Mia Member" in body
    assert "7 of 8 peers in Finance do not have this" in body
    assert "Manual" in body  # how it was obtained
    assert "never" in body  # last used
    assert 'aria-keyshortcuts="c"' in body
    assert "Keyboard shortcuts" in body


def test_review_page_has_a_constant_number_of_queries(world: World, client_for: Any) -> None:
    people = [world.person(f"q{i}@acme.test", f"Q {i}", department="Ops") for i in range(30)]
    for i, person in enumerate(people):
        world.grant(f"r{i}", person, "crm-read")
    campaign = _campaign(world)
    reviewer = client_for(world.owner)
    url = _base(campaign) + "review/"
    reviewer.get(url)
    with CaptureQueriesContext(connection) as small:
        reviewer.get(url + "?q=Q%201")  # 11 items
    with CaptureQueriesContext(connection) as large:
        assert reviewer.get(url + "?q=Q").status_code == 200  # all 30 items
    with CaptureQueriesContext(connection) as default:
        assert reviewer.get(url).status_code == 200
    assert len(large) == len(small)
    # The default view (open items, no filter) counts its items once, not twice.
    assert len(default) == len(small) - 1
    assert len(large) <= 20


def test_htmx_decide_returns_the_row_and_revokes(world: World, client_for: Any) -> None:
    world.grant("a", world.member, "crm-write")
    campaign = _campaign(world)
    (item,) = _items(world, campaign)
    reviewer = client_for(world.owner)
    response = reviewer.post(
        _base(campaign) + f"items/{item.pk}/decide/",
        {"decision": "revoke", "comment": "Moved to sales"},
        **HX,
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "review-item-decided"
    body = response.content.decode()
    assert body.strip().startswith(f'<tr id="item-{item.pk}"')
    assert "Revoked" in body
    with tenant_context(world.tenant):
        item.refresh_from_db()
    assert item.outcome == Outcome.REVOKED


def test_deciding_someone_elses_item_is_refused_with_a_message(
    world: World, client_for: Any
) -> None:
    world.grant("a", world.member, "crm-write")
    campaign = _campaign(world)
    (item,) = _items(world, campaign)
    other = client_for(world.admin)
    response = other.post(
        _base(campaign) + f"items/{item.pk}/decide/", {"decision": "revoke"}, **HX
    )
    assert "not assigned to you" in response.content.decode()
    with tenant_context(world.tenant):
        item.refresh_from_db()
    assert item.outcome == Outcome.PENDING


def test_deciding_on_a_closed_campaign_is_a_message(world: World, client_for: Any) -> None:
    world.grant("a", world.member, "crm-write")
    campaign = _campaign(world)
    (item,) = _items(world, campaign)
    services.campaign_close(actor=world.admin, campaign=campaign)
    response = client_for(world.owner).post(
        _base(campaign) + f"items/{item.pk}/decide/", {"decision": "revoke"}, follow=True
    )
    assert "This campaign is closed" in response.content.decode()


def test_bulk_over_the_filtered_selection(world: World, client_for: Any) -> None:
    world.grant("a", world.member, "crm-read")
    world.grant("b", world.member, "crm-write")
    world.grant("c", world.member, "erp-read")
    campaign = _campaign(world)
    reviewer = client_for(world.owner)
    response = reviewer.post(
        _base(campaign) + "review/bulk/",
        {"decision": "certify", "all_matching": "1", "state": "open", "q": "crm"},
        **HX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="review-region"' in body
    assert "2 items decided." in body
    outcomes = {i.target_label: i.outcome for i in _items(world, campaign)}
    assert outcomes == {
        "crm-read": Outcome.CERTIFIED,
        "crm-write": Outcome.CERTIFIED,
        "erp-read": Outcome.PENDING,
    }


def test_dashboard_and_reports(world: World, client_for: Any) -> None:
    world.grant("a", world.member, "crm-read")
    world.grant("b", world.member, "crm-write")
    campaign = _campaign(world)
    items = _items(world, campaign)
    services.review_item_decide(actor=world.owner, item=items[0], decision="revoke", comment="gone")
    admin = client_for(world.admin)
    body = admin.get(_base(campaign)).content.decode()
    assert "Progress per reviewer" in body
    assert "Arno Approver" in body
    csv = admin.get(_base(campaign) + "report.csv")
    text = b"".join(csv.streaming_content).decode()
    assert "gone" in text
    assert text.count("\n") == 3
    pdf = admin.get(_base(campaign) + "report.pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    response = admin.post(_base(campaign) + "close/", follow=True)
    assert b"Campaign closed" in response.content
    response = admin.post(_base(campaign) + "sign-off/", {"note": "Reviewed"}, follow=True)
    assert b"Campaign signed off." in response.content


def test_staff_console(world: World, client_for: Any, staff_engineer: Any) -> None:
    ivan = make_user(
        "ivan@vendor.test",
        full_name="Ivan Internal",
        kind=UserKind.STAFF,
        staff_role=StaffRole.INTERNAL_REVIEWER,
    )
    world.grant("a", world.member, "crm-read")
    campaign = _campaign(world, reviewer_policy="internal", default_reviewer=ivan)
    (item,) = _items(world, campaign)
    staff = client_for(ivan)
    assert campaign.name in staff.get("/staff/certification/").content.decode()
    url = f"/staff/certification/campaigns/{campaign.pk}/"
    assert staff.get(url + "review/").status_code == 200
    response = staff.post(url + f"items/{item.pk}/decide/", {"decision": "certify"}, **HX)
    assert "Certified" in response.content.decode()
    assert staff.get(url).status_code == 200  # internal reviewers manage campaigns
    assert client_for(staff_engineer).get(url + "review/").status_code == 404
    assert client_for(world.admin).get(url + "review/").status_code == 403
