"""apps.access `grants_suspend_bulk(audit="per_batch")`, the mode the emergency suspension uses:
the same suspension as the default, one `access.grants.suspended` event per batch listing the
ids instead of one event per grant. (Kept with the incident tests: the incident is its caller.)"""

from __future__ import annotations

from typing import Any

import pytest

from apps.access import services as access
from apps.access.models import Grant, PolicyVersion
from apps.access.services import bulk
from apps.core.audit.verify import audit_verify
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.identity.models import User

pytestmark = pytest.mark.django_db


def _version(world: Any) -> int:
    with tenant_context(world.tenant_a):
        row = PolicyVersion.objects.first()
    return row.counter if row else 0


def _actions(world: Any) -> list[str]:
    with tenant_context(world.tenant_a):
        return list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))


def test_per_batch_suspends_like_the_default_and_audits_one_event_per_batch(
    world: Any, admin_a: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "AUDIT_BATCH", 2)
    grants = (world.member_grant, world.member_wiki_grant, world.approver_grant, world.key_grant)
    ids = sorted(g.pk for g in grants)
    before = _version(world)
    with tenant_context(world.tenant_a):
        done = access.grants_suspend_bulk(
            actor=admin_a,
            tenant=world.tenant_a,
            grant_ids=Grant.objects.filter(pk__in=ids),
            reason="leak",
            audit="per_batch",
            audit_details={"incident": "INC-1"},
        )
        assert done == ids
        assert _version(world) == before + 1
        rows = Grant.objects.filter(pk__in=ids)
        assert {(g.suspend_reason, g.suspended_by_id) for g in rows} == {("leak", admin_a.pk)}
        assert Grant.objects.get(pk=world.admin_grant.pk).suspended_at is None
        events = list(AuditEvent.objects.filter(action="access.grants.suspended").order_by("seq"))
    assert "access.grant.suspended" not in _actions(world)
    assert [e.personal["details"] for e in events] == [
        {
            "incident": "INC-1",
            "reason": "leak",
            "count": 2,
            "ids": ids[:2],
            "batch": 1,
            "batches": 2,
            "total": 4,
        },
        {
            "incident": "INC-1",
            "reason": "leak",
            "count": 2,
            "ids": ids[2:],
            "batch": 2,
            "batches": 2,
            "total": 4,
        },
    ]
    assert {(e.target_type, e.target_id, e.personal["target"]) for e in events} == {
        ("access.grant", "", "2 grants")
    }
    # Idempotent: nothing left to suspend, nothing audited.
    assert (
        access.grants_suspend_bulk(
            actor=admin_a, tenant=world.tenant_a, grant_ids=ids, reason="x", audit="per_batch"
        )
        == []
    )
    assert len(events) == _actions(world).count("access.grants.suspended")
    assert audit_verify(use_checkpoint=False).ok
    # Restorable like any suspended grant.
    with tenant_context(world.tenant_a):
        grant = Grant.objects.get(pk=ids[0])
        access.grant_restore(actor=admin_a, grant=grant, reason="over")
        assert Grant.objects.get(pk=ids[0]).suspended_at is None


def test_the_default_stays_one_event_per_grant(world: Any, admin_a: User) -> None:
    ids = [world.member_grant.pk, world.approver_grant.pk]
    access.grants_suspend_bulk(actor=admin_a, tenant=world.tenant_a, grant_ids=ids, reason="r")
    actions = _actions(world)
    assert actions.count("access.grant.suspended") == 2
    assert "access.grants.suspended" not in actions


def test_an_unknown_audit_mode_is_refused(world: Any, admin_a: User) -> None:
    with pytest.raises(ValueError, match="audit mode"):
        access.grants_suspend_bulk(
            actor=admin_a,
            tenant=world.tenant_a,
            grant_ids=[world.member_grant.pk],
            reason="r",
            audit="none",
        )
    with tenant_context(world.tenant_a):
        assert Grant.objects.get(pk=world.member_grant.pk).suspended_at is None
