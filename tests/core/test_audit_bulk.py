"""Bulk audit append: many events of one chain under one head lock, gapless and verifiable
like single appends (SQLite and PostgreSQL), mixed with single appends, rolled back whole."""

from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction

from apps.core.audit.services import audit_event_record, audit_events_record_bulk
from apps.core.audit.verify import audit_verify
from apps.core.models import PLATFORM_CHAIN, AuditEvent, chain_key
from apps.core.requestcontext import RequestInfo, reset_request_info, set_request_info
from apps.core.tenancy import tenant_context, unscoped
from apps.tenants.services import environment_create
from tests._ci import require_postgres
from tests.core.test_audit_chain import assert_chain_sound, chain_rows, verify_output


def _events(n: int, actor: object, target: object = None, **extra: object) -> list[dict]:
    return [
        {
            "action": "test.bulk",
            "actor": actor,
            "target": target,
            "before": {"i": i, "odd": 1e20, "nan": float("nan")},
            "after": {"state": "ended"},
            "details": {"i": i, "pair": (i, i + 1), "text": 'Zoë "q" 東京'},
            **extra,
        }
        for i in range(n)
    ]


def _bulk_then_fail(tenant, operator, n: int) -> None:
    with transaction.atomic():
        audit_events_record_bulk(tenant=tenant, events=_events(n, operator))
        raise RuntimeError("the surrounding change failed")


def _mixed_run(tenant, operator) -> None:
    env = environment_create(actor=operator, tenant=tenant, slug="bulk", name="Bulk")
    audit_event_record(action="test.single", actor=operator, tenant=tenant)
    assert audit_events_record_bulk(tenant=tenant, events=_events(7, operator, env)) == 7
    audit_event_record(action="test.single", actor=operator, tenant=tenant, details={"x": 1})
    assert audit_events_record_bulk(tenant=tenant, events=[]) == 0
    audit_events_record_bulk(
        tenant=tenant,
        events=_events(3, None, target_type="access.grant", target_id=9, outcome="flagged"),
    )


def _check_mixed(tenant) -> None:
    rows = assert_chain_sound(chain_key(tenant.pk))
    actions = [e.action for e in rows][-12:]
    assert actions == ["test.single"] + ["test.bulk"] * 7 + ["test.single"] + ["test.bulk"] * 3
    bulk = [e for e in rows if e.action == "test.bulk"]
    assert {e.tenant_id for e in bulk} == {tenant.pk}
    assert bulk[0].personal["before"]["odd"] == 10**20
    assert bulk[0].personal["details"]["text"] == 'Zoë "q" 東京'
    assert bulk[0].target_type == "tenants.environment"
    assert bulk[-1].target_id == "9"
    assert bulk[-1].outcome == "flagged"
    assert bulk[-1].actor_id is None
    # Each call shares one time, taken under the lock; time never goes backwards along seq.
    times = [e.occurred_at for e in rows]
    assert times == sorted(times)
    assert "Audit log verified: OK" in verify_output()


@pytest.mark.django_db
def test_bulk_mixed_with_single_appends_verifies(tenant_a, operator):
    _mixed_run(tenant_a, operator)
    _check_mixed(tenant_a)


@pytest.mark.django_db
def test_bulk_with_a_target_label_instead_of_an_instance(tenant_a):
    plain = {"n": 1, "ok": True, "none": None, "list": ["a", 2], "text": "Zoë → 東京"}
    audit_events_record_bulk(
        tenant=tenant_a,
        events=[
            {
                "action": "test.label",
                "target_type": "access.grant",
                "target_id": 5,
                "target_label": "Mia → crm-read",
                "before": plain,
            },
            {"action": "test.label", "target_type": "access.grant", "target_label": "x" * 250},
        ],
    )
    rows = assert_chain_sound(chain_key(tenant_a.pk))[-2:]
    assert [e.target_id for e in rows] == ["5", ""]
    assert rows[0].personal["target"] == "Mia → crm-read"
    assert rows[0].personal["before"] == plain
    assert rows[1].personal["target"] == "x" * 200
    assert "Audit log verified: OK" in verify_output()


@pytest.mark.django_db
def test_bulk_uses_current_tenant_and_request_info(tenant_a, operator):
    token = set_request_info(RequestInfo(request_id="req-bulk", ip="10.0.0.1", user_agent="ua"))
    try:
        with tenant_context(tenant_a):
            audit_events_record_bulk(tenant=None, events=_events(2, operator))
    finally:
        reset_request_info(token)
    rows = assert_chain_sound(chain_key(tenant_a.pk))
    assert [e.request_id for e in rows[-2:]] == ["req-bulk", "req-bulk"]
    assert rows[-1].personal["ip"] == "10.0.0.1"


@pytest.mark.django_db
def test_bulk_on_the_platform_chain(operator):
    audit_events_record_bulk(tenant=None, use_current_tenant=False, events=_events(4, operator))
    rows = assert_chain_sound(PLATFORM_CHAIN)
    assert [e.action for e in rows][-4:] == ["test.bulk"] * 4


@pytest.mark.django_db
def test_rolled_back_bulk_leaves_no_events(tenant_a, operator):
    chain = chain_key(tenant_a.pk)
    before = [e.hash for e in chain_rows(chain)]
    with pytest.raises(RuntimeError):
        _bulk_then_fail(tenant_a, operator, 50)
    assert [e.hash for e in chain_rows(chain)] == before
    # The chain goes on without a gap.
    audit_events_record_bulk(tenant=tenant_a, events=_events(2, operator))
    rows = assert_chain_sound(chain)
    assert len(rows) == len(before) + 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bulk_on_postgresql_mixed_rolled_back_and_concurrent(tenant_a, tenant_b, operator):
    require_postgres()  # the unnest INSERT and row locks need PostgreSQL
    _mixed_run(tenant_a, operator)
    _check_mixed(tenant_a)

    chain = chain_key(tenant_a.pk)
    before = [e.hash for e in chain_rows(chain)]
    with pytest.raises(RuntimeError):
        _bulk_then_fail(tenant_a, operator, 20)
    assert [e.hash for e in chain_rows(chain)] == before

    # Bulk and single writers on the same chain and another chain at once: never forked.
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def writer(tenant: object, bulk: bool) -> None:
        try:
            barrier.wait()
            for i in range(10):
                with transaction.atomic():
                    if bulk:
                        audit_events_record_bulk(tenant=tenant, events=_events(25, operator))
                    else:
                        audit_event_record(
                            action="test.single", actor=operator, tenant=tenant, details={"i": i}
                        )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    counts = {t.pk: len(chain_rows(chain_key(t.pk))) for t in (tenant_a, tenant_b)}
    threads = [
        threading.Thread(target=writer, args=args)
        for args in ((tenant_a, True), (tenant_a, True), (tenant_a, False), (tenant_b, True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    rows_a = assert_chain_sound(chain_key(tenant_a.pk))
    rows_b = assert_chain_sound(chain_key(tenant_b.pk))
    assert len(rows_a) - counts[tenant_a.pk] == 2 * 10 * 25 + 10
    assert len(rows_b) - counts[tenant_b.pk] == 10 * 25
    report = audit_verify()
    assert report.ok, report.problems
    with unscoped(reason="test"):
        assert report.events_checked == AuditEvent.objects.count()
