"""Report tests reuse the access catalog (tenant_a ACME with CRM and Analytics environments)
and add grants through the services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from apps.access import services as access_services
from tests.access.conftest import Catalog, catalog  # noqa: F401 - the fixture, re-exported


@pytest.fixture
def grants(
    tenant_a,
    tenant_b,
    operator,
    admin_a,
    member_a,
    staff_engineer,
    catalog: Catalog,  # noqa: F811 - the fixture imported above
) -> Any:
    access_services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        entitlement=catalog.crm_read,
        source="manual",
        justification="=HYPERLINK(evil)",
    )
    access_services.grant_create(
        actor=admin_a,
        tenant=tenant_a,
        user=staff_engineer,
        role=catalog.support,
        source="request",
        duration=timedelta(hours=4),
        ticket_ref="SUP-4711",
        approval_ref="request:17",
    )
    access_services.grant_create(
        actor=operator,
        tenant=tenant_b,
        user=staff_engineer,
        entitlement=catalog.other_read,
        source="request",
        duration=timedelta(hours=2),
        ticket_ref="SUP-4800",
    )
