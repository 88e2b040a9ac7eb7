"""Role mining: the algorithm finds planted roles among noise; a run stores candidates with
support, coverage and grants consolidated; accepting creates the role and consolidates the
grants (audited); bad input is refused clearly."""

from __future__ import annotations

import random
from typing import Any

import pytest

from apps.access import services as access_services
from apps.access.models import Grant, Role
from apps.certification.analytics.models import AnalyticsSettings, CandidateStatus, RoleCandidate
from apps.certification.analytics.services import (
    mine,
    role_candidate_accept,
    role_candidate_dismiss,
    role_mining_run,
)
from apps.core.exceptions import Conflict, PermissionDenied
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.tenants import services as tenant_services
from apps.tenants.models import TenantRole
from tests.conftest import make_user


def test_mine_finds_planted_roles_among_noise() -> None:
    rng = random.Random(7)
    role_a, role_b = set(range(6)), set(range(10, 14))
    holdings: dict[int, set[int]] = {}
    for user in range(300):
        held = set(role_a if user % 3 == 0 else role_b if user % 3 == 1 else set())
        held |= {rng.randrange(20, 120) for _ in range(3)}  # noise
        holdings[user] = held
    result = mine(holdings, min_support=5)
    found = [{result.ent_ids[i] for i in t.items} for t, _g in result.tiles]
    assert role_a in found[:2]
    assert role_b in found[:2]
    top = result.tiles[0][0]
    assert top.support == 100


def test_mine_ignores_sets_below_the_minimum_support() -> None:
    holdings = {u: {1, 2, 3} for u in range(3)} | {u: {7} for u in range(3, 50)}
    assert mine(holdings, min_support=5).tiles == []
    assert mine({}, min_support=5).tiles == []


@pytest.fixture
def people(tenant_a: Any, operator: Any) -> list[Any]:
    result = []
    for i in range(6):
        user = make_user(f"p{i}@acme.test", full_name=f"Person {i}")
        tenant_services.membership_add(
            actor=operator, tenant=tenant_a, user=user, role=TenantRole.MEMBER
        )
        result.append(user)
    return result


@pytest.fixture
def mined(
    tenant_a: Any, operator: Any, admin_a: Any, people: list[Any], catalog: Any
) -> RoleCandidate:
    for user in people:
        for ent in (catalog.crm_read, catalog.crm_write, catalog.analytics_read):
            access_services.grant_create(
                actor=operator, tenant=tenant_a, user=user, entitlement=ent, source="request"
            )
    with tenant_context(tenant_a):
        AnalyticsSettings.objects.create(tenant=tenant_a, mining_min_support=3)
    run = role_mining_run(tenant=tenant_a, actor=admin_a)
    assert (run.users, run.entitlements, run.grants) == (6, 3, 18)
    with tenant_context(tenant_a):
        return RoleCandidate.objects.get(run=run, rank=1)


@pytest.mark.django_db
def test_run_stores_candidates_with_metrics(mined: RoleCandidate, catalog: Any, people) -> None:
    assert sorted(mined.entitlement_ids) == sorted(
        [catalog.crm_read.pk, catalog.crm_write.pk, catalog.analytics_read.pk]
    )
    assert mined.support == 6
    assert mined.coverage == 1.0
    assert mined.grants_consolidated == 18
    assert sorted(mined.user_ids) == sorted(u.pk for u in people)


@pytest.mark.django_db
def test_accept_creates_the_role_and_consolidates(
    tenant_a, admin_a, mined: RoleCandidate, people
) -> None:
    result = role_candidate_accept(
        actor=admin_a, candidate=mined, key="crm-worker", name="CRM worker"
    )
    assert (result.people, result.grants_revoked, result.refused) == (6, 18, [])
    with tenant_context(tenant_a):
        role = Role.objects.get(key="crm-worker")
        assert role.entitlements.count() == 3
        active = Grant.objects.filter(revoked_at__isnull=True, user__in=people)
        assert set(active.values_list("role_id", flat=True)) == {role.pk}
        assert active.count() == 6
        mined.refresh_from_db()
        assert mined.status == CandidateStatus.ACCEPTED
        assert mined.role_id == role.pk
        assert AuditEvent.objects.filter(action="analytics.role_candidate.accepted").count() == 1
        assert AuditEvent.objects.filter(action="access.grant.revoked").count() == 18
    with pytest.raises(Conflict):  # a double click changes nothing
        role_candidate_accept(actor=admin_a, candidate=mined, key="crm-worker-2", name="Again")


@pytest.mark.django_db
def test_accept_needs_an_admin_and_a_free_key(
    tenant_a, admin_a, member_a, mined: RoleCandidate, catalog
) -> None:
    with pytest.raises(PermissionDenied):
        role_candidate_accept(actor=member_a, candidate=mined, key="x", name="X")
    from apps.core.exceptions import DomainError

    with pytest.raises(DomainError):
        role_candidate_accept(actor=admin_a, candidate=mined, key="analyst", name="Taken")
    with tenant_context(tenant_a):
        mined.refresh_from_db()
    assert mined.status == CandidateStatus.PROPOSED  # nothing lost


@pytest.mark.django_db
def test_dismiss_is_audited_once(tenant_a, admin_a, mined: RoleCandidate) -> None:
    role_candidate_dismiss(actor=admin_a, candidate=mined, reason="too broad")
    with pytest.raises(Conflict):
        role_candidate_dismiss(actor=admin_a, candidate=mined)
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="analytics.role_candidate.dismissed").count() == 1
