"""Certification campaign services: generation, decisions, the last-admin rule, close."""

from __future__ import annotations

from typing import Any

import pytest

from apps.access.models import Grant
from apps.certification import services
from apps.certification.models import (
    Campaign,
    CampaignStatus,
    EffectState,
    Outcome,
    ReviewDecision,
    ReviewItem,
)
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from tests.certification.test_campaign_support import World, build_world, due

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tenant_a: Any, operator: Any, admin_a: Any, approver_a: Any, member_a: Any) -> World:
    return build_world(
        tenant=tenant_a, operator=operator, admin=admin_a, owner=approver_a, member=member_a
    )


def _items(world: World, campaign: Campaign) -> list[ReviewItem]:
    with tenant_context(world.tenant):
        return list(ReviewItem.objects.filter(campaign=campaign).order_by("pk"))


def _fresh(world: World, obj: Any) -> Any:
    with tenant_context(world.tenant):
        obj.refresh_from_db()
    return obj


def _grant(world: World, key: str) -> Grant:
    with tenant_context(world.tenant):
        return Grant.objects.get(pk=world.grants[key].pk)


def test_create_from_grants_launches_with_one_item_per_grant(world: World) -> None:
    world.grant("mia-read", world.member, "crm-read")
    world.grant("mia-write", world.member, "erp-write")
    campaign = services.campaign_create_from_grants(
        actor=world.admin,
        tenant=world.tenant,
        name="Incident INC-7 access review",
        grant_ids=[world.grants["mia-read"].pk, world.grants["mia-write"].pk],
        due_at=due(),
        origin="incident:INC-7",
    )
    assert campaign.status == CampaignStatus.ACTIVE
    assert campaign.items_total == 2
    items = _items(world, campaign)
    assert {i.grant_id for i in items} == {g.pk for g in world.grants.values()}
    first = items[0]
    assert first.subject_label == "Mia Member"
    assert first.department == "Finance"
    assert first.source == "manual"
    assert first.reviewer_id == world.owner.pk  # no reviewer named: the CRM's owner
    with tenant_context(world.tenant):
        assert AuditEvent.objects.filter(action="certification.campaign.launched").exists()


def test_create_from_grants_refuses_an_empty_set_and_creates_nothing(world: World) -> None:
    with pytest.raises(services.ScopeEmpty):
        services.campaign_create_from_grants(
            actor=world.admin, tenant=world.tenant, name="x", grant_ids=[], due_at=due(), origin=""
        )
    grant = world.grant("mia-read", world.member, "crm-read")
    access_revoke(world, grant)
    with pytest.raises(services.ScopeEmpty, match="nothing to review"):
        services.campaign_create_from_grants(
            actor=world.admin,
            tenant=world.tenant,
            name="x",
            grant_ids=[grant.pk],
            due_at=due(),
            origin="",
        )
    with tenant_context(world.tenant):
        assert not Campaign.objects.exists()


def access_revoke(world: World, grant: Grant) -> None:
    from apps.access.services import grant_revoke

    grant_revoke(actor=world.operator, grant=grant, reason="test")


def _tenant_campaign(world: World, **extra: Any) -> Campaign:
    campaign = services.campaign_create(
        actor=world.admin,
        tenant=world.tenant,
        name="Q4 review",
        scope_kind=extra.pop("scope_kind", "tenant"),
        due_at=due(),
        default_reviewer=extra.pop("default_reviewer", world.admin),
        **extra,
    )
    return services.campaign_launch(actor=world.admin, campaign=campaign)


def test_generation_context_peer_comparison_and_sod(world: World) -> None:
    from apps.access.services import sod_rule_save

    finance = [
        world.person(f"f{i}@acme.test", f"Finance {i}", department="Finance") for i in range(3)
    ]
    world.grant("f0-write", finance[0], "crm-write")
    sod_rule_save(
        actor=world.operator,
        tenant=world.tenant,
        key="crm-erp-write",
        name="CRM and ERP write",
        mode="flag",
        entitlements=[world.ents["crm-write"], world.ents["erp-write"]],
    )
    world.grant("f0-erp", finance[0], "erp-write")
    campaign = _tenant_campaign(world)
    items = {i.grant_id: i for i in _items(world, campaign)}
    crm_write = items[world.grants["f0-write"].pk]
    # 4 people in Finance (3 + Mia): 3 peers, none of whom holds CRM write.
    assert (crm_write.peer_total, crm_write.peer_holders) == (3, 0)
    assert crm_write.peers_without == 3
    assert crm_write.has_sod
    assert "CRM and ERP write" in crm_write.sod_findings[0]
    assert crm_write.reviewer_id == world.owner.pk  # resource owner of the CRM
    assert crm_write.risk == "medium"
    assert crm_write.level == "write"


def test_scope_empty_launch_is_refused_and_the_draft_kept(world: World) -> None:
    campaign = services.campaign_create(
        actor=world.admin,
        tenant=world.tenant,
        name="Vendor access",
        scope_kind="vendor_staff",
        due_at=due(),
    )
    with pytest.raises(services.ScopeEmpty, match="no current grants"):
        services.campaign_launch(actor=world.admin, campaign=campaign)
    _fresh(world, campaign)
    assert campaign.status == CampaignStatus.DRAFT


def test_member_cannot_create_a_campaign(world: World) -> None:
    with pytest.raises(services.NotAllowed):
        services.campaign_create(
            actor=world.member, tenant=world.tenant, name="x", scope_kind="tenant", due_at=due()
        )


def test_certify_and_revoke_take_effect(world: World) -> None:
    world.grant("a", world.member, "crm-read")
    world.grant("b", world.member, "crm-write")
    campaign = _tenant_campaign(world)
    by_grant = {i.grant_id: i for i in _items(world, campaign)}
    a, b = by_grant[world.grants["a"].pk], by_grant[world.grants["b"].pk]
    item = services.review_item_decide(actor=world.owner, item=a, decision="certify")
    assert item.outcome == Outcome.CERTIFIED
    item = services.review_item_decide(
        actor=world.owner, item=b, decision="revoke", comment="Left the team"
    )
    assert item.outcome == Outcome.REVOKED
    assert item.effect == EffectState.DONE
    assert _grant(world, "b").revoked_at is not None
    assert _grant(world, "a").revoked_at is None
    with tenant_context(world.tenant):
        assert ReviewDecision.objects.filter(item=b, comment="Left the team").exists()


def test_item_not_assigned_to_you_is_refused_and_unchanged(world: World) -> None:
    world.grant("a", world.member, "crm-read")
    campaign = _tenant_campaign(world)
    (item,) = _items(world, campaign)
    with pytest.raises(services.NotAssigned, match="not assigned to you"):
        services.review_item_decide(actor=world.admin, item=item, decision="revoke")
    _fresh(world, item)
    assert item.outcome == Outcome.PENDING
    assert _grant(world, "a").revoked_at is None


def test_deciding_on_a_closed_campaign_is_refused(world: World) -> None:
    world.grant("a", world.member, "crm-read")
    campaign = _tenant_campaign(world)
    (item,) = _items(world, campaign)
    services.campaign_close(actor=world.admin, campaign=campaign)
    _fresh(world, item)
    assert item.outcome == Outcome.FLAGGED  # keep-and-flag by default
    with pytest.raises(services.CampaignClosed, match="closed"):
        services.review_item_decide(actor=world.owner, item=item, decision="revoke")
    assert _grant(world, "a").revoked_at is None
    with pytest.raises(services.CampaignClosed):
        services.campaign_close(actor=world.admin, campaign=campaign)


def test_last_admin_rule_refuses_the_revoke(world: World) -> None:
    world.grant("admin", world.admin, "crm-admin")
    campaign = services.campaign_create(
        actor=world.admin,
        tenant=world.tenant,
        name="Admins",
        scope_kind="environment",
        scope_environment=world.crm,
        due_at=due(),
    )
    campaign = services.campaign_launch(actor=world.admin, campaign=campaign)
    (item,) = _items(world, campaign)
    assert item.reviewer_id == world.owner.pk
    with pytest.raises(services.LastAdminRule, match="without an admin"):
        services.review_item_decide(actor=world.owner, item=item, decision="revoke")
    _fresh(world, item)
    assert item.outcome == Outcome.PENDING
    assert _grant(world, "admin").revoked_at is None
    # A second customer admin with admin access: now the revoke is allowed.
    second = world.person("ada@acme.test", "Ada Admin", role="customer_admin")
    world.grant("admin2", second, "erp-admin")
    item = services.review_item_decide(actor=world.owner, item=item, decision="revoke")
    assert item.outcome == Outcome.REVOKED
    assert _grant(world, "admin").revoked_at is not None


def test_joint_review_both_must_certify(world: World) -> None:
    rep = world.person("cara@acme.test", "Cara Customer", role="reviewer")
    staff = _internal_reviewer()
    world.grant("a", world.member, "crm-read")
    world.grant("b", world.member, "erp-read")
    campaign = _tenant_campaign(
        world,
        reviewer_policy="internal",
        default_reviewer=staff,
        customer_reviewer=rep,
        co_managed_environment_ids=[world.crm.pk],
        joint_mode="both",
    )
    by_grant = {i.grant_id: i for i in _items(world, campaign)}
    a, b = by_grant[world.grants["a"].pk], by_grant[world.grants["b"].pk]
    assert a.customer_reviewer_id == rep.pk
    assert b.customer_reviewer_id is None
    a = services.review_item_decide(actor=staff, item=a, decision="certify")
    assert a.outcome == Outcome.PENDING
    assert a.reviewer_decision == "certify"
    a = services.review_item_decide(actor=rep, item=a, decision="certify")
    assert a.outcome == Outcome.CERTIFIED
    b = services.review_item_decide(actor=staff, item=b, decision="certify")
    assert b.outcome == Outcome.CERTIFIED


def test_joint_review_either_may_and_customer_revoke_wins(world: World) -> None:
    rep = world.person("cara@acme.test", "Cara Customer", role="reviewer")
    staff = _internal_reviewer()
    world.grant("a", world.member, "crm-read")
    world.grant("b", world.member, "crm-write")
    campaign = _tenant_campaign(
        world,
        reviewer_policy="internal",
        default_reviewer=staff,
        customer_reviewer=rep,
        joint_mode="either",
    )
    by_grant = {i.grant_id: i for i in _items(world, campaign)}
    a, b = by_grant[world.grants["a"].pk], by_grant[world.grants["b"].pk]
    assert services.review_item_decide(actor=rep, item=a, decision="certify").outcome == (
        Outcome.CERTIFIED
    )
    with pytest.raises(services.AlreadyDecided):
        services.review_item_decide(actor=staff, item=a, decision="revoke")
    assert services.review_item_decide(actor=rep, item=b, decision="revoke").outcome == (
        Outcome.REVOKED
    )


def _internal_reviewer() -> Any:
    from apps.identity.models import StaffRole, UserKind
    from tests.conftest import make_user

    return make_user(
        "ivan@vendor.test",
        full_name="Ivan Internal",
        kind=UserKind.STAFF,
        staff_role=StaffRole.INTERNAL_REVIEWER,
    )


def test_reduce_replaces_by_a_narrower_entitlement(world: World) -> None:
    world.grant("w", world.member, "crm-write")
    campaign = _tenant_campaign(world)
    (item,) = _items(world, campaign)
    options = services.narrower_entitlements(item)
    assert [e.name for e in options] == ["crm-read"]
    with pytest.raises(services.CertificationError, match="narrower"):
        services.review_item_decide(
            actor=world.owner, item=item, decision="reduce", reduce_to=world.ents["erp-read"]
        )
    item = services.review_item_decide(
        actor=world.owner, item=item, decision="reduce", reduce_to=options[0], comment="Reads only"
    )
    assert item.outcome == Outcome.REDUCED
    assert item.effect == EffectState.DONE
    assert _grant(world, "w").revoked_at is not None
    with tenant_context(world.tenant):
        new = Grant.objects.get(pk=item.replacement_grant_id)
    assert new.entitlement_id == world.ents["crm-read"].pk
    assert new.user_id == world.member.pk
    assert new.revoked_at is None


def test_delegate_moves_the_item(world: World) -> None:
    world.grant("a", world.member, "crm-read")
    campaign = _tenant_campaign(world)
    (item,) = _items(world, campaign)
    with pytest.raises(services.CertificationError, match="own access"):
        services.review_item_decide(
            actor=world.owner, item=item, decision="delegate", delegate_to=world.member
        )
    item = services.review_item_decide(
        actor=world.owner, item=item, decision="delegate", delegate_to=world.admin
    )
    assert item.reviewer_id == world.admin.pk
    assert item.outcome == Outcome.PENDING
    assert services.review_item_decide(
        actor=world.admin, item=item, decision="certify"
    ).outcome == (Outcome.CERTIFIED)


def test_bulk_revoke_skips_foreign_items_and_the_last_admin(world: World) -> None:
    world.grant("admin", world.admin, "crm-admin")
    world.grant("a", world.member, "crm-read")
    world.grant("b", world.member, "crm-write")
    other = world.person("oleg@acme.test", "Oleg Other")
    world.grant("c", other, "erp-read")
    with tenant_context(world.tenant):
        world.erp.owner = world.admin
        world.erp.save()
    campaign = _tenant_campaign(world)
    items = _items(world, campaign)
    result = services.review_items_decide_bulk(
        actor=world.owner,
        campaign=campaign,
        item_ids=[i.pk for i in items],
        decision="revoke",
        comment="Clean-up",
    )
    assert result.decided == 2
    assert any("without an admin" in m for m in result.messages)
    assert any("not yours" in m for m in result.messages)
    assert _grant(world, "a").revoked_at is not None
    assert _grant(world, "b").revoked_at is not None
    assert _grant(world, "admin").revoked_at is None
    assert _grant(world, "c").revoked_at is None


def test_bulk_certify_in_joint_mode(world: World) -> None:
    rep = world.person("cara@acme.test", "Cara Customer", role="reviewer")
    world.grant("a", world.member, "crm-read")
    world.grant("b", world.member, "crm-write")
    campaign = _tenant_campaign(world, customer_reviewer=rep, joint_mode="both")
    ids = [i.pk for i in _items(world, campaign)]
    assert (
        services.review_items_decide_bulk(
            actor=world.owner, campaign=campaign, item_ids=ids, decision="certify"
        ).decided
        == 2
    )
    assert {i.outcome for i in _items(world, campaign)} == {Outcome.PENDING}
    services.review_items_decide_bulk(
        actor=rep, campaign=campaign, item_ids=ids, decision="certify"
    )
    assert {i.outcome for i in _items(world, campaign)} == {Outcome.CERTIFIED}


def test_revocations_at_close_and_auto_revoke(world: World) -> None:
    world.grant("a", world.member, "crm-read")
    world.grant("b", world.member, "crm-write")
    campaign = _tenant_campaign(world, effect_timing="at_close", auto_decision="revoke")
    by_grant = {i.grant_id: i for i in _items(world, campaign)}
    item = services.review_item_decide(
        actor=world.owner, item=by_grant[world.grants["a"].pk], decision="revoke"
    )
    assert item.effect == EffectState.WAITING
    assert _grant(world, "a").revoked_at is None  # waits for the close
    result = services.campaign_close(actor=world.admin, campaign=campaign)
    assert result.auto_revoked == 1
    assert result.revoked == 2
    assert _grant(world, "a").revoked_at is not None
    assert _grant(world, "b").revoked_at is not None
    with tenant_context(world.tenant):
        assert ReviewDecision.objects.filter(side="system", decision="revoke").count() == 1


def test_recurring_campaign_spawns_the_next_run(world: World) -> None:
    world.grant("a", world.member, "crm-read")
    campaign = _tenant_campaign(world, recurrence="quarterly")
    result = services.campaign_close(actor=world.admin, campaign=campaign)
    nxt = result.next_campaign
    assert nxt is not None
    assert nxt.status == CampaignStatus.DRAFT
    assert nxt.previous_id == campaign.pk
    assert nxt.launch_at is not None
    assert (nxt.due_at - campaign.due_at).days in range(89, 93)
    counts = services.campaigns_sweep(now=nxt.launch_at)
    assert counts["launched"] == 1
    _fresh(world, nxt)
    assert nxt.status == CampaignStatus.ACTIVE
    assert nxt.items_total == 1


def test_sweeper_reminds_escalates_and_closes(
    world: World, mailoutbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    world.grant("a", world.member, "crm-read")
    boss = world.person("bob@acme.test", "Bob Boss")
    campaign = _tenant_campaign(world, fallback_reviewer=boss)
    with django_capture_on_commit_callbacks(execute=True):
        counts = services.campaigns_sweep(now=campaign.remind_at)
    assert counts["reminded"] == 1
    assert any(world.owner.email in m.to for m in mailoutbox)
    with django_capture_on_commit_callbacks(execute=True):
        counts = services.campaigns_sweep(now=campaign.escalate_at)
    assert counts["escalated"] == 1
    (item,) = _items(world, campaign)
    assert item.reviewer_id == boss.pk
    assert any(boss.email in m.to and "escalated" in m.subject for m in mailoutbox)
    # the same timer is never handled twice
    assert services.campaigns_sweep(now=campaign.escalate_at)["escalated"] == 0
    counts = services.campaigns_sweep(now=campaign.due_at)
    assert counts["closed"] == 1
    _fresh(world, campaign)
    assert campaign.status == CampaignStatus.CLOSED


def test_sign_off_only_after_close(world: World) -> None:
    world.grant("a", world.member, "crm-read")
    campaign = _tenant_campaign(world)
    with pytest.raises(services.CampaignClosed, match="Close the campaign"):
        services.campaign_sign_off(actor=world.admin, campaign=campaign)
    services.campaign_close(actor=world.admin, campaign=campaign)
    _fresh(world, campaign)
    campaign = services.campaign_sign_off(actor=world.admin, campaign=campaign, note="OK")
    assert campaign.signed_off_by_id == world.admin.pk
