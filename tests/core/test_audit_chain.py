"""The audit chain: appended in the caller's transaction, gapless, one chain per tenant, and
unforkable under concurrent writers (PostgreSQL)."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections, transaction

from apps.core.audit.hashing import GENESIS_HASH, hash_of_row, personal_digest
from apps.core.audit.services import audit_event_record
from apps.core.audit.verify import audit_verify
from apps.core.models import PLATFORM_CHAIN, AuditChainHead, AuditEvent, chain_key
from apps.core.tenancy import tenant_context, unscoped
from apps.tenants.models import Environment
from apps.tenants.services import environment_create
from tests._ci import require_postgres


def chain_rows(chain: str) -> list[AuditEvent]:
    with unscoped(reason="test"):
        return list(AuditEvent.objects.all().for_chain(chain))


def verify_output(**options: object) -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def assert_chain_sound(chain: str) -> list[AuditEvent]:
    rows = chain_rows(chain)
    assert [e.seq for e in rows] == list(range(1, len(rows) + 1))
    prev = GENESIS_HASH
    for event in rows:
        assert event.prev_hash == prev
        assert hash_of_row(event, prev) == event.hash
        assert personal_digest(event.personal_salt, event.personal) == event.personal_digest
        prev = event.hash
    with unscoped(reason="test"):
        head = AuditChainHead.objects.get(chain=chain)
    assert (head.last_seq, head.last_hash) == (len(rows), prev)
    return rows


@pytest.mark.django_db
def test_rolled_back_change_leaves_no_event(tenant_a, operator):
    chain = chain_key(tenant_a.pk)
    before = chain_rows(chain)

    def change_that_fails() -> None:
        with transaction.atomic():
            environment_create(actor=operator, tenant=tenant_a, slug="crm", name="CRM")
            raise RuntimeError("the surrounding change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()

    with tenant_context(tenant_a):
        assert not Environment.objects.filter(slug="crm").exists()
    after = chain_rows(chain)
    assert [e.hash for e in after] == [e.hash for e in before]
    # The next event continues the chain without a gap.
    environment_create(actor=operator, tenant=tenant_a, slug="crm", name="CRM")
    rows = assert_chain_sound(chain)
    assert len(rows) == len(before) + 1


@pytest.mark.django_db
def test_each_tenant_has_its_own_gapless_chain(tenant_a, tenant_b, operator):
    for i in range(3):
        audit_event_record(action="test.a", actor=operator, tenant=tenant_a, details={"i": i})
        audit_event_record(action="test.b", actor=operator, tenant=tenant_b, details={"i": i})
    audit_event_record(action="test.platform", actor=operator, use_current_tenant=False)

    rows_a = assert_chain_sound(chain_key(tenant_a.pk))
    rows_b = assert_chain_sound(chain_key(tenant_b.pk))
    platform = assert_chain_sound(PLATFORM_CHAIN)
    assert {e.tenant_id for e in rows_a} == {tenant_a.pk}
    assert {e.tenant_id for e in rows_b} == {tenant_b.pk}
    assert {e.tenant_id for e in platform} == {None}
    assert [e.action for e in rows_a][-3:] == ["test.a"] * 3
    # A customer admin's scope sees their own chain only.
    with tenant_context(tenant_a):
        assert set(AuditEvent.objects.values_list("chain", flat=True)) == {chain_key(tenant_a.pk)}
    assert "Audit log verified: OK" in verify_output()


@pytest.mark.django_db
def test_current_tenant_context_picks_the_chain(tenant_a, operator):
    with tenant_context(tenant_a):
        event = audit_event_record(action="test.in_context", actor=operator)
    assert event.chain == chain_key(tenant_a.pk)
    assert event.seq == chain_rows(event.chain)[-1].seq


@pytest.mark.django_db
def test_details_that_json_columns_change_still_verify(tenant_a, operator):
    """Floats PostgreSQL's jsonb would print differently, NaN (which it refuses), tuples and
    non-JSON objects are normalised before hashing, so the stored row verifies."""
    event = audit_event_record(
        action="test.odd_values",
        actor=operator,
        tenant=tenant_a,
        details={"big": 1e20, "tiny": 1.5e-7, "nan": float("nan"), "pair": (1, 2), "obj": object},
        target_type="docs.file",
        target_id='Zoë "q" \\ 東京\t',
    )
    assert_chain_sound(event.chain)
    with unscoped(reason="test"):
        stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.personal["details"]["big"] == 10**20
    assert stored.personal["details"]["nan"] == "nan"
    assert personal_digest(stored.personal_salt, stored.personal) == stored.personal_digest
    assert "Audit log verified: OK" in verify_output(chain=[event.chain])


def _run_writers(targets: list[object], per_writer: int, actor: object) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(len(targets))

    def writer(tenant: object, number: int) -> None:
        try:
            start.wait()
            for i in range(per_writer):
                with transaction.atomic():
                    audit_event_record(
                        action="test.concurrent",
                        actor=actor,
                        tenant=tenant,
                        use_current_tenant=False,
                        details={"writer": number, "i": i},
                    )
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=writer, args=(tenant, n)) for n, tenant in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("layout", ["one_chain", "four_chains"])
def test_concurrent_writers_never_fork_the_chain(layout, operator, tenant_a, tenant_b):
    require_postgres()  # row locks under real concurrency need PostgreSQL
    per_writer = 40
    from apps.tenants.services import tenant_create

    others = [
        tenant_create(actor=operator, slug=f"extra{i}", name=f"Extra {i}", tier="standard")
        for i in range(2)
    ]
    tenants = [tenant_a, tenant_b, *others]
    targets = [tenant_a] * 4 if layout == "one_chain" else tenants
    before = {chain_key(t.pk): len(chain_rows(chain_key(t.pk))) for t in tenants}

    errors = _run_writers(targets, per_writer, operator)

    assert errors == []
    for tenant in tenants:
        chain = chain_key(tenant.pk)
        rows = assert_chain_sound(chain)
        added = len(rows) - before[chain]
        assert added == per_writer * targets.count(tenant)
        writers = {e.personal["details"]["writer"] for e in rows[before[chain] :]}
        assert len(writers) == targets.count(tenant)
    assert "Audit log verified: OK" in verify_output()
    # The same check split over worker processes (what a big log gets) agrees.
    with unscoped(reason="test"):
        total = AuditEvent.objects.count()
    report = audit_verify(jobs=2, parallel_threshold=0)
    assert report.ok, report.problems
    if threading.active_count() == 1:  # otherwise verification stays in-process
        assert report.workers == 2
    assert report.events_checked == total


@pytest.mark.parametrize(
    "values",
    [
        {"chain": "platform", "tenant_id": None, "actor_id": None, "on_behalf_of_id": None},
        {"chain": "tenant:7", "tenant_id": 7, "actor_id": 12, "on_behalf_of_id": 3},
    ],
)
def test_hash_template_gives_the_same_bytes_as_the_hash(values):
    """PostgreSQL hashes inside the locked append from this template; it must be the format
    the verifier recomputes."""
    from datetime import UTC, datetime

    from apps.core.audit.hashing import (
        event_body_from_template,
        event_hash,
        event_hash_template,
        timestamp_text,
    )

    fields = {
        **values,
        "action": 'login.failed "quoted" \\ ünïcode',
        "outcome": "failure",
        "target_type": "identity.user",
        "target_id": "42",
        "request_id": "req-1",
        "personal_digest": "d" * 64,
    }
    at = datetime(2026, 11, 22, 16, 13, 31, 9017, tzinfo=UTC)
    head, tail = event_hash_template(**fields)
    body = event_body_from_template(head, 17, timestamp_text(at), tail, "a" * 64)
    import hashlib

    assert hashlib.sha256(body.encode()).hexdigest() == event_hash(
        **fields, seq=17, occurred_at=at, prev_hash="a" * 64
    )
