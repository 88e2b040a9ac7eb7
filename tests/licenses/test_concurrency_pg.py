"""Real races on PostgreSQL: threads with their own connections fight for the last seats of a
pool and onboard the same person at once. Never over capacity, never a duplicate user."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.licenses.models import LicensePool, Seat
from apps.licenses.services import PoolExhausted, seat_allocate
from apps.lifecycle.joiner import JoinerRequest, joiner_run
from apps.tenants import services as tenant_services
from tests._ci import require_postgres
from tests.conftest import make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _require_postgres() -> None:
    require_postgres()  # row locks between real connections


def _race(n: int, work) -> list[object]:
    barrier = threading.Barrier(n)
    outcomes: list[object] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes[i] = work(i)
        except Exception as exc:
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def test_threads_racing_for_the_last_seats_never_over_allocate(
    tenant_a, admin_a, operator, make_pool
):
    _require_postgres()
    pool = make_pool(capacity=5)
    people = []
    for i in range(24):
        user = make_user(f"race{i}@acme.test")
        tenant_services.membership_add(actor=operator, tenant=tenant_a, user=user)
        people.append(user)

    def take(i: int) -> object:
        return seat_allocate(actor=admin_a, tenant=tenant_a, user=people[i], pool=pool)

    outcomes = _race(24, take)
    won = [o for o in outcomes if isinstance(o, Seat)]
    lost = [o for o in outcomes if isinstance(o, PoolExhausted)]
    assert len(won) == 5, outcomes
    assert len(lost) == 19
    with tenant_context(tenant_a):
        assert LicensePool.objects.get(pk=pool.pk).used == 5
        assert Seat.objects.filter(pool=pool, released_at__isnull=True).count() == 5


def test_threads_onboarding_the_same_person_create_one_user(tenant_a, admin_a, make_pool):
    _require_postgres()
    pool = make_pool(capacity=50)

    def onboard(i: int) -> object:
        return joiner_run(
            actor=admin_a,
            tenant=tenant_a,
            request=JoinerRequest(email="twin@acme.test", products=["office"]),
        )

    outcomes = _race(8, onboard)
    assert sum(1 for o in outcomes if getattr(o, "user", None) is not None) == 1, outcomes
    assert all(
        getattr(o, "code", "") == "already_member" for o in outcomes if isinstance(o, Exception)
    )
    assert User.objects.filter(email="twin@acme.test").count() == 1
    with tenant_context(tenant_a):
        assert LicensePool.objects.get(pk=pool.pk).used == 1
