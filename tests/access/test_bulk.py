"""Set-based grant writes (apps.access.services.bulk) and the set-based expiry sweeper: a
constant number of statements per call, one policy bump per tenant, one audit event per grant,
the same checks and refusals as the per-grant services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.access import engine, services
from apps.access.models import Grant, PolicyVersion
from apps.access.services import GrantSpec
from apps.core.models import AuditEvent, chain_key
from apps.core.tenancy import tenant_context, unscoped
from apps.tenants import services as tenant_services
from apps.tenants.models import TenantRole
from tests.conftest import make_user
from tests.core.test_audit_chain import assert_chain_sound, verify_output

pytestmark = pytest.mark.django_db


def _version(tenant: Any) -> int:
    with tenant_context(tenant):
        row = PolicyVersion.objects.first()
    return row.counter if row else 0


def _events(tenant: Any, action: str) -> list[AuditEvent]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def _people(tenant: Any, operator: Any, n: int, prefix: str) -> list[Any]:
    people = []
    for i in range(n):
        user = make_user(f"{prefix}{i}@acme.test", full_name=f"Person {i}")
        tenant_services.membership_add(
            actor=operator, tenant=tenant, user=user, role=TenantRole.MEMBER
        )
        people.append(user)
    return people


def _grants(tenant: Any, admin: Any, users: list[Any], entitlement: Any, **kw: Any) -> list[Grant]:
    return [
        services.grant_create(
            actor=admin, tenant=tenant, user=u, entitlement=entitlement, source="manual", **kw
        )
        for u in users
    ]


def _count_queries(func: Any) -> tuple[Any, int]:
    with CaptureQueriesContext(connection) as ctx:
        value = func()
    return value, len(ctx.captured_queries)


def test_revoke_bulk_is_set_based_idempotent_and_audited(tenant_a, admin_a, operator, catalog):
    few = _grants(tenant_a, admin_a, _people(tenant_a, operator, 3, "f"), catalog.crm_read)
    many = _grants(tenant_a, admin_a, _people(tenant_a, operator, 30, "m"), catalog.crm_read)
    before = _version(tenant_a)

    ids, q_few = _count_queries(
        lambda: services.grants_revoke_bulk(
            actor=admin_a, tenant=tenant_a, grant_ids=[g.pk for g in few], reason="cleanup"
        )
    )
    assert sorted(ids) == sorted(g.pk for g in few)
    assert _version(tenant_a) == before + 1  # one bump for the set
    ids, q_many = _count_queries(
        lambda: services.grants_revoke_bulk(
            actor=admin_a,
            tenant=tenant_a,
            grant_ids=[g.pk for g in many] + [g.pk for g in few],  # few: already revoked
            reason="cleanup",
        )
    )
    assert sorted(ids) == sorted(g.pk for g in many)
    assert q_many == q_few  # constant whatever the number of grants
    # Idempotent: nothing left to revoke, nothing bumped, nothing audited.
    version = _version(tenant_a)
    assert (
        services.grants_revoke_bulk(actor=admin_a, tenant=tenant_a, grant_ids=ids, reason="again")
        == []
    )
    assert _version(tenant_a) == version
    with tenant_context(tenant_a):
        revoked = Grant.objects.filter(pk__in=[g.pk for g in few + many])
        assert all(g.revoked_at and g.revoke_reason == "cleanup" for g in revoked)
        assert {g.revoked_by_id for g in revoked} == {admin_a.pk}
        assert not Grant.objects.filter(pk__in=ids, ends_at_due__isnull=False).exists()
    events = _events(tenant_a, "access.grant.revoked")
    assert sorted(int(e.target_id) for e in events) == sorted(g.pk for g in few + many)
    assert events[0].personal["details"] == {"reason": "cleanup"}
    assert events[0].personal["before"]["subject"]
    assert_chain_sound(chain_key(tenant_a.pk))


def test_revoke_bulk_ignores_other_tenants_grants(
    tenant_a, tenant_b, admin_a, operator, member_a, catalog
):
    outsider = make_user("bo@globex.test")
    tenant_services.membership_add(
        actor=operator, tenant=tenant_b, user=outsider, role=TenantRole.MEMBER
    )
    theirs = services.grant_create(
        actor=operator,
        tenant=tenant_b,
        user=outsider,
        entitlement=catalog.other_read,
        source="manual",
    )
    mine = _grants(tenant_a, admin_a, [member_a], catalog.crm_read)[0]
    ids = services.grants_revoke_bulk(
        actor=admin_a, tenant=tenant_a, grant_ids=[theirs.pk, mine.pk], reason="x"
    )
    assert ids == [mine.pk]
    with tenant_context(tenant_b):
        theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_revoke_bulk_accepts_a_queryset(tenant_a, admin_a, operator, catalog):
    grants = _grants(tenant_a, admin_a, _people(tenant_a, operator, 4, "q"), catalog.crm_read)
    with tenant_context(tenant_a):
        ids = services.grants_revoke_bulk(
            actor=admin_a,
            tenant=tenant_a,
            grant_ids=Grant.objects.filter(pk__in=[g.pk for g in grants[:2]]),
            reason="x",
        )
    assert sorted(ids) == sorted(g.pk for g in grants[:2])


def test_suspend_bulk_pauses_and_restore_lifts(tenant_a, admin_a, operator, catalog):
    people = _people(tenant_a, operator, 3, "s")
    grants = _grants(tenant_a, admin_a, people, catalog.crm_read)
    assert engine.can(people[0], "read", catalog.crm)
    before = _version(tenant_a)
    ids = services.grants_suspend_bulk(
        actor=admin_a, tenant=tenant_a, grant_ids=[g.pk for g in grants], reason="incident 7"
    )
    assert sorted(ids) == sorted(g.pk for g in grants)
    assert _version(tenant_a) == before + 1
    assert not engine.can(people[0], "read", catalog.crm)
    # Already suspended: not suspended again.
    assert (
        services.grants_suspend_bulk(actor=admin_a, tenant=tenant_a, grant_ids=ids, reason="again")
        == []
    )
    with tenant_context(tenant_a):
        first = Grant.objects.get(pk=grants[0].pk)
        assert first.suspended_at is not None
        assert first.revoked_at is None
        assert first.suspend_reason == "incident 7"
    assert len(_events(tenant_a, "access.grant.suspended")) == 3
    services.grant_restore(actor=admin_a, grant=first, reason="over")
    assert engine.can(people[0], "read", catalog.crm)
    assert not engine.can(people[1], "read", catalog.crm)


def test_revoke_for_user_in_every_tenant_is_set_based(
    tenant_a, tenant_b, admin_a, operator, staff_engineer, catalog
):
    def give(n: int) -> None:
        for i in range(n):
            for tenant, ent in ((tenant_a, catalog.crm_read), (tenant_b, catalog.other_read)):
                services.grant_create(
                    actor=operator,
                    tenant=tenant,
                    user=staff_engineer,
                    entitlement=ent,
                    source="request",
                    duration=timedelta(hours=1),
                    approval_ref=f"req-{i}",
                )

    give(2)
    count, q_small = _count_queries(
        lambda: services.grants_revoke_for_user(actor=operator, user=staff_engineer, reason="left")
    )
    assert count == 4
    give(20)
    count, q_big = _count_queries(
        lambda: services.grants_revoke_for_user(actor=operator, user=staff_engineer, reason="left")
    )
    assert count == 40
    assert q_big == q_small
    with unscoped(reason="test"):
        assert not Grant.objects.filter(user=staff_engineer, revoked_at__isnull=True).exists()
    assert len(_events(tenant_a, "access.grant.revoked")) == 22
    assert len(_events(tenant_b, "access.grant.revoked")) == 22
    assert "Audit log verified: OK" in verify_output()
    # One tenant only.
    give(1)
    assert (
        services.grants_revoke_for_user(
            actor=operator, user=staff_engineer, reason="x", tenant=tenant_a
        )
        == 1
    )
    with unscoped(reason="test"):
        assert Grant.objects.filter(user=staff_engineer, revoked_at__isnull=True).count() == 1


def test_create_bulk_refuses_per_spec_with_the_rule_and_creates_the_rest(
    tenant_a, admin_a, member_a, catalog
):
    services.sod_rule_save(
        actor=admin_a,
        tenant=tenant_a,
        key="write-and-export",
        name="Write and export",
        entitlements=[catalog.crm_write, catalog.crm_export],
    )
    specs = [
        GrantSpec(entitlement=catalog.crm_read, key="read"),
        GrantSpec(entitlement=catalog.crm_write, key="write"),
        # SoD with the set's own earlier spec (write), not only with the holdings.
        GrantSpec(entitlement=catalog.crm_export, duration=timedelta(days=1), key="export"),
        # Standing-access policy: critical must be time-bound.
        GrantSpec(entitlement=catalog.crm_admin, key="admin"),
        # Same-tenant rule.
        GrantSpec(entitlement=catalog.other_read, key="other"),
        # A vendor-internal role for a customer user.
        GrantSpec(role=catalog.support, key="support"),
        GrantSpec(role=catalog.analyst, key="analyst"),
        GrantSpec(entitlement=catalog.crm_read, duration=timedelta(hours=-1), key="past"),
    ]
    before = _version(tenant_a)
    result = services.grants_create_bulk(
        actor=admin_a, tenant=tenant_a, user=member_a, specs=specs, source="manual"
    )
    assert [g.entitlement_id or g.role_id for g in result.created] == [
        catalog.crm_read.pk,
        catalog.crm_write.pk,
        catalog.analyst.pk,
    ]
    assert all(g.pk for g in result.created)
    refused = dict(result.refused)
    assert list(refused) == ["export", "admin", "other", "support", "past"]
    assert "Write and export" in refused["export"]
    assert "time-bound" in refused["admin"]
    assert "another tenant" in refused["other"]
    assert "vendor staff only" in refused["support"]
    assert "positive" in refused["past"]
    assert _version(tenant_a) == before + 1
    created = _events(tenant_a, "access.grant.created")[-3:]
    assert [int(e.target_id) for e in created] == [g.pk for g in result.created]
    assert created[0].personal["details"] == {"risk": "low", "vendor_staff": False}
    assert engine.can(member_a, "write", catalog.crm)
    # The same specs again: the identical active grants are returned, nothing new.
    again = services.grants_create_bulk(
        actor=admin_a, tenant=tenant_a, user=member_a, specs=specs[:2], source="manual"
    )
    assert [g.pk for g in again.created] == [g.pk for g in result.created[:2]]
    with tenant_context(tenant_a):
        assert Grant.objects.filter(user=member_a).count() == 3


def test_create_bulk_refuses_every_spec_for_a_set_wide_rule(
    tenant_a, admin_a, operator, member_a, catalog
):
    outsider = make_user("nobody@else.test")
    result = services.grants_create_bulk(
        actor=admin_a,
        tenant=tenant_a,
        user=outsider,
        specs=[GrantSpec(entitlement=catalog.crm_read), GrantSpec(role=catalog.analyst)],
        source="manual",
    )
    assert result.created == []
    assert len(result.refused) == 2
    assert len({message for _key, message in result.refused}) == 1
    assert "not a member" in result.refused[0][1]
    tenant_services.tenant_set_status(
        actor=operator, tenant=tenant_a, status="suspended", reason="unpaid"
    )
    result = services.grants_create_bulk(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        specs=[GrantSpec(entitlement=catalog.crm_read, key="a"), GrantSpec(role=catalog.analyst)],
        source="manual",
    )
    assert result.created == []
    assert [key for key, _message in result.refused] == ["a", "Analyst"]
    assert "Tenant status rule" in result.refused[0][1]


def test_create_bulk_flags_sod_in_flag_mode(tenant_a, admin_a, staff_engineer, catalog):
    services.sod_rule_save(
        actor=admin_a,
        tenant=tenant_a,
        key="support-plus-analyst",
        name="Support plus analyst",
        roles=[catalog.support, catalog.analyst],
        mode="flag",
    )
    result = services.grants_create_bulk(
        actor=admin_a,
        tenant=tenant_a,
        user=staff_engineer,
        specs=[
            GrantSpec(role=catalog.support, duration=timedelta(hours=2)),
            GrantSpec(role=catalog.analyst, duration=timedelta(hours=2)),
        ],
        source="request",
    )
    assert len(result.created) == 2
    assert result.refused == []
    flagged = _events(tenant_a, "access.sod.flagged")
    assert [int(e.target_id) for e in flagged] == [result.created[1].pk]
    assert flagged[0].outcome == "flagged"


def test_reconcile_is_set_based(tenant_a, admin_a, member_a, operator, catalog):
    roles = [
        services.role_create(
            actor=operator,
            tenant=tenant_a,
            key=f"r{i}",
            name=f"R {i}",
            entitlements=[catalog.analytics_read],
        )
        for i in range(20)
    ]

    def reconcile(keys: list[str]) -> Any:
        return services.grants_reconcile_mapped(
            actor=None,
            tenant=tenant_a,
            user=member_a,
            source="idp_mapping",
            desired=keys,
            mapping_prefix="idp:",
        )

    before = _version(tenant_a)
    result, q20 = _count_queries(lambda: reconcile([r.key for r in roles] + ["nope"]))
    assert len(result.created) == 20
    assert result.unknown == ["nope"]
    assert _version(tenant_a) == before + 1
    result, _q = _count_queries(lambda: reconcile([r.key for r in roles[1:]] + ["crm-prod-read"]))
    assert [g.mapping_key for g in result.revoked] == ["idp:r0"]
    assert result.revoked[0].revoked_at is not None
    assert result.revoked[0].revoke_reason == "mapping no longer applies: r0"
    assert [g.mapping_key for g in result.created] == ["idp:crm-prod-read"]
    assert len(result.kept) == 19
    assert _version(tenant_a) == before + 2  # one bump for revoke + create
    assert q20 < 40  # was ~17 per role


def test_sweeper_ends_due_grants_of_many_tenants_in_batches(
    tenant_a, tenant_b, admin_a, operator, catalog
):
    outsider = make_user("bo@globex.test")
    tenant_services.membership_add(
        actor=operator, tenant=tenant_b, user=outsider, role=TenantRole.MEMBER
    )
    people = _people(tenant_a, operator, 5, "e")
    due_a = _grants(tenant_a, admin_a, people, catalog.crm_read, duration=timedelta(hours=1))
    later = _grants(
        tenant_a, admin_a, people[:1], catalog.analytics_read, duration=timedelta(days=2)
    )
    due_b = [
        services.grant_create(
            actor=operator,
            tenant=tenant_b,
            user=outsider,
            entitlement=catalog.other_read,
            source="manual",
            duration=timedelta(hours=1),
        )
    ]
    versions = (_version(tenant_a), _version(tenant_b))
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert not engine.can(people[0], "read", catalog.crm)  # before the sweeper
        assert services.grants_expire_due(limit=3, batch=2) == 3
        assert services.grants_expire_due(batch=2) == 3
        assert services.grants_expire_due() == 0
    with unscoped(reason="test"):
        ended = Grant.objects.filter(pk__in=[g.pk for g in due_a + due_b])
        assert all(g.expired_at and g.ends_at_due is None for g in ended)
        assert Grant.objects.get(pk=later[0].pk).ends_at_due is not None
    assert len(_events(tenant_a, "access.grant.expired")) == 5
    assert len(_events(tenant_b, "access.grant.expired")) == 1
    # One bump per tenant batch: a's five in batches of <= 2, b's one.
    assert _version(tenant_a) - versions[0] in (3, 4)
    assert _version(tenant_b) - versions[1] == 1
    assert "Audit log verified: OK" in verify_output()
