"""Seat allocation as an admin meets it: one seat per person and product, never over the
capacity or a hard-stop cap, alerts at the cap, waiting lists served in priority order, the
reserve drawn by the controlled job, seats reclaimed on leaving, role change, contract end."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.licenses.models import AlertKind, LicenseAlert, LicensePool, Seat, WaitingListEntry
from apps.licenses.services import (
    PoolExhausted,
    pool_set_capacity,
    reserve_draw,
    seat_allocate,
    seat_release,
    seats_reclaim_contract_ended,
    seats_reclaim_for_user,
    seats_reclaim_on_role_change,
    waitlist_enqueue,
)
from apps.licenses.services.seats import reserve_draw_due
from apps.tenants import services as tenant_services
from apps.tenants.models import TenantRole
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _people(tenant, operator, n, role=TenantRole.MEMBER, prefix="p"):
    people = []
    for i in range(n):
        user = make_user(f"{prefix}{i}@acme.test")
        tenant_services.membership_add(actor=operator, tenant=tenant, user=user, role=role)
        people.append(user)
    return people


def _fresh(obj):
    with tenant_context(obj.tenant):
        obj.refresh_from_db()
    return obj


def _used(pool):
    with tenant_context(pool.tenant):
        return LicensePool.objects.get(pk=pool.pk).used


def test_one_seat_per_person_and_product_and_never_over_capacity(
    tenant_a, admin_a, operator, make_pool
):
    pool = make_pool(capacity=2)
    a, b, c = _people(tenant_a, operator, 3)
    first = seat_allocate(actor=admin_a, tenant=tenant_a, user=a, pool=pool)
    again = seat_allocate(actor=admin_a, tenant=tenant_a, user=a, pool=pool)
    assert again.pk == first.pk
    seat_allocate(actor=admin_a, tenant=tenant_a, user=b, pool=pool)
    with pytest.raises(PoolExhausted) as exc:
        seat_allocate(actor=admin_a, tenant=tenant_a, user=c, pool=pool)
    assert "2 of 2" in exc.value.message
    assert _used(pool) == 2
    with tenant_context(tenant_a):
        assert Seat.objects.filter(released_at__isnull=True).count() == 2


def test_database_refuses_a_second_active_seat_and_over_capacity(
    tenant_a, admin_a, operator, make_pool
):
    pool = make_pool(capacity=1)
    (a,) = _people(tenant_a, operator, 1)
    seat_allocate(actor=admin_a, tenant=tenant_a, user=a, pool=pool)
    with tenant_context(tenant_a):
        with pytest.raises(IntegrityError), transaction.atomic():
            Seat.objects.create(
                tenant=tenant_a, pool=pool, product=pool.product, user=a, source="manual"
            )
        with pytest.raises(IntegrityError), transaction.atomic():
            LicensePool.objects.filter(pk=pool.pk).update(used=2)


def test_idempotency_key_returns_the_same_seat(tenant_a, admin_a, operator, make_pool):
    pool = make_pool(capacity=5)
    a, b = _people(tenant_a, operator, 2)
    seat = seat_allocate(actor=admin_a, tenant=tenant_a, user=a, pool=pool, idempotency_key="k1")
    assert (
        seat_allocate(actor=admin_a, tenant=tenant_a, user=a, pool=pool, idempotency_key="k1").pk
        == seat.pk
    )
    with pytest.raises(Exception) as exc:
        seat_allocate(actor=admin_a, tenant=tenant_a, user=b, pool=pool, idempotency_key="k1")
    assert getattr(exc.value, "code", "") == "idempotency_conflict"
    assert _used(pool) == 1


def test_members_cannot_allocate(tenant_a, member_a, operator, make_pool):
    pool = make_pool(capacity=5)
    with pytest.raises(Exception) as exc:
        seat_allocate(actor=member_a, tenant=tenant_a, user=member_a, pool=pool)
    assert getattr(exc.value, "status_code", 0) == 403


def test_cap_alert_once_and_hard_stop(
    tenant_a, admin_a, operator, make_pool, django_capture_on_commit_callbacks
):
    pool = make_pool(capacity=10, utilisation_cap_percent=90, name="Berlin office")
    people = _people(tenant_a, operator, 10)
    for user in people[:8]:
        seat_allocate(actor=admin_a, tenant=tenant_a, user=user, pool=pool)
    with tenant_context(tenant_a):
        assert not LicenseAlert.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        seat_allocate(actor=admin_a, tenant=tenant_a, user=people[8], pool=pool)  # 90 %
    with tenant_context(tenant_a):
        alert = LicenseAlert.objects.get(kind=AlertKind.POOL_CAP)
    assert "Berlin office" in alert.message
    assert any("Licence alert" in m.subject for m in mail.outbox)
    # The hard stop refuses the 10th seat although the pool has capacity left.
    with tenant_context(tenant_a):
        LicensePool.objects.filter(pk=pool.pk).update(hard_stop=True)
    _fresh(pool)
    with pytest.raises(PoolExhausted):
        seat_allocate(actor=admin_a, tenant=tenant_a, user=people[9], pool=pool)
    # Releasing below the cap resolves the alert.
    with tenant_context(tenant_a):
        seat = Seat.objects.filter(user=people[0]).get()
    seat_release(actor=admin_a, seat=seat, reason="test")
    with tenant_context(tenant_a):
        assert not LicenseAlert.objects.filter(
            resolved_at__isnull=True, kind=AlertKind.POOL_CAP
        ).exists()


def test_waiting_list_is_served_by_priority_when_a_seat_frees(
    tenant_a, admin_a, operator, make_pool
):
    pool = make_pool(capacity=1, role_priorities={"approver": 0, "member": 50})
    (holder,) = _people(tenant_a, operator, 1, prefix="holder")
    (early_member,) = _people(tenant_a, operator, 1, prefix="member")
    (late_approver,) = _people(tenant_a, operator, 1, role=TenantRole.APPROVER, prefix="appr")
    seat = seat_allocate(actor=admin_a, tenant=tenant_a, user=holder, pool=pool)
    waitlist_enqueue(actor=admin_a, tenant=tenant_a, user=early_member, pool=pool)
    waitlist_enqueue(actor=admin_a, tenant=tenant_a, user=late_approver, pool=pool)
    seat_release(actor=admin_a, seat=seat, reason="moved on")
    with tenant_context(tenant_a):
        active = Seat.objects.get(released_at__isnull=True)
        assert active.user == late_approver  # priority beats arrival
        assert WaitingListEntry.objects.get(user=late_approver).status == "served"
        assert WaitingListEntry.objects.get(user=early_member).status == "waiting"
    assert _used(pool) == 1


def test_reserve_job_draws_seats_for_people_waiting(tenant_a, admin_a, operator, make_pool):
    pool = make_pool(capacity=1)
    reserve = make_pool(capacity=3, is_reserve=True)
    a, b, c = _people(tenant_a, operator, 3)
    seat_allocate(actor=admin_a, tenant=tenant_a, user=a, pool=pool)
    waitlist_enqueue(actor=admin_a, tenant=tenant_a, user=b, pool=pool)
    waitlist_enqueue(actor=admin_a, tenant=tenant_a, user=c, pool=pool)
    assert reserve_draw_due() == 2
    _fresh(pool)
    _fresh(reserve)
    assert (pool.capacity, pool.used, reserve.capacity) == (3, 3, 1)
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="license_pool.reserve_drawn").exists()
    # Nothing waiting: the job does nothing; reserves are never allocated directly.
    assert reserve_draw_due() == 0
    assert reserve_draw(actor=admin_a, pool=pool, seats=0, reason="") == 0
    with pytest.raises(PoolExhausted):
        seat_allocate(actor=admin_a, tenant=tenant_a, user=make_user("x@acme.test"), pool=reserve)


def test_reclaim_on_leaving_role_change_and_contract_end(
    tenant_a, admin_a, operator, make_pool, office
):
    from apps.licenses.services import pool_create, product_create

    pool = make_pool(capacity=5, eligible_roles=["member", "customer_admin"])
    crm = product_create(actor=operator, tenant=tenant_a, key="crm", name="CRM")
    contract = tenant_services.contract_create(
        actor=operator,
        tenant=tenant_a,
        reference="C-1",
        starts_on=date(2025, 1, 1),
        ends_on=date(2026, 1, 1),
    )
    crm_pool = pool_create(
        actor=operator, tenant=tenant_a, product=crm, name="CRM", capacity=5, contract=contract
    )
    a, b = _people(tenant_a, operator, 2)
    seat_allocate(actor=admin_a, tenant=tenant_a, user=a, pool=pool)
    seat_allocate(actor=admin_a, tenant=tenant_a, user=a, pool=crm_pool)
    seat_allocate(actor=admin_a, tenant=tenant_a, user=b, pool=pool)
    seat_allocate(actor=admin_a, tenant=tenant_a, user=b, pool=crm_pool)
    assert seats_reclaim_for_user(actor=operator, user=a, reason="left") == 2
    assert seats_reclaim_for_user(actor=operator, user=a, reason="left") == 0  # idempotent
    assert (
        seats_reclaim_on_role_change(actor=admin_a, tenant=tenant_a, user=b, role="approver") == 1
    )
    assert seats_reclaim_contract_ended(today=date(2026, 2, 1)) == 1
    assert (_used(pool), _used(crm_pool)) == (0, 0)
    _fresh(crm_pool)
    assert crm_pool.closed_at is not None


def test_capacity_increase_serves_waiting_list(tenant_a, admin_a, operator, make_pool):
    pool = make_pool(capacity=1)
    a, b = _people(tenant_a, operator, 2)
    seat_allocate(actor=admin_a, tenant=tenant_a, user=a, pool=pool)
    waitlist_enqueue(actor=admin_a, tenant=tenant_a, user=b, pool=pool)
    pool_set_capacity(actor=admin_a, pool=pool, capacity=2, reason="bought more")
    assert _used(pool) == 2
    with pytest.raises(Exception) as exc:
        pool_set_capacity(actor=admin_a, pool=pool, capacity=1, reason="")
    assert exc.value.code == "capacity_below_use"


def test_forecast_from_recent_allocations(tenant_a, admin_a, operator, make_pool):
    from apps.licenses.selectors import pool_rows

    pool = make_pool(capacity=10)
    for user in _people(tenant_a, operator, 4):
        seat_allocate(actor=admin_a, tenant=tenant_a, user=user, pool=pool)
    (row,) = pool_rows(tenant=tenant_a)
    assert row.forecast.net_per_hour == pytest.approx(4 / 24)
    assert row.forecast.hours_left == pytest.approx(6 / (4 / 24), rel=0.01)
    assert row.forecast.exhausted_at is not None
    assert row.forecast.exhausted_at - row.pool.created_at < timedelta(hours=37)
