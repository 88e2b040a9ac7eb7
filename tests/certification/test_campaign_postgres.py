"""PostgreSQL-only: generation through the set-based insert, and row-level security on the
certification tables (a query without tenant context sees nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from apps.certification import services
from apps.certification.models import ReviewItem
from apps.core.tenancy import tenant_context
from tests._ci import require_postgres
from tests.certification.test_campaign_support import build_world, due

pytestmark = pytest.mark.django_db


def test_generation_on_postgresql_and_rls(
    tenant_a: Any, tenant_b: Any, operator: Any, admin_a: Any, approver_a: Any, member_a: Any
) -> None:
    require_postgres()
    world = build_world(
        tenant=tenant_a, operator=operator, admin=admin_a, owner=approver_a, member=member_a
    )
    peers = [world.person(f"p{i}@acme.test", f"P {i}", department="Finance") for i in range(3)]
    world.grant("a", member_a, "crm-write")
    world.grant("b", peers[0], "crm-write")
    world.grant("c", peers[1], "erp-read")
    campaign = services.campaign_create(
        actor=admin_a, tenant=tenant_a, name="PG review", scope_kind="tenant", due_at=due()
    )
    campaign = services.campaign_launch(actor=admin_a, campaign=campaign)
    assert campaign.items_total == 3
    with tenant_context(tenant_a):
        item = ReviewItem.objects.get(campaign=campaign, grant_id=world.grants["a"].pk)
        assert item.outcome == "pending"
        assert item.reviewer_decision == ""
        assert (item.peer_total, item.peer_holders) == (3, 1)
        assert item.granted_at is not None
        assert item.sod_findings == []
    # Row-level security: without a tenant setting the table shows nothing, in another
    # tenant's scope nothing either.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM certification_reviewitem")
        assert cursor.fetchone()[0] == 0
    with tenant_context(tenant_b):
        assert ReviewItem.objects.count() == 0
