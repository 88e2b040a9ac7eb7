"""On PostgreSQL: the detector works across tenants under FORCE ROW LEVEL SECURITY (its
explicit crossing), one detector at a time (advisory lock), and a query without a tenant
context sees no access event."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.db import connection

from apps.certification.analytics.models import AccessEvent, AnomalyAlert
from apps.certification.analytics.services import access_event_record, anomalies_detect
from apps.certification.analytics.services.detection import ADVISORY_LOCK_KEY
from apps.core.tenancy import tenant_context
from tests._ci import require_postgres
from tests.analytics.conftest import IP_BERLIN, IP_NEW_YORK, berlin

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _other_connection() -> Any:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=True,
    )


def test_detection_across_tenants_under_rls(tenant_a, tenant_b, member_a, outsider_b) -> None:
    require_postgres()
    access_event_record(tenant=tenant_a, kind="read", user=member_a, ip=IP_BERLIN, at=berlin(1, 10))
    access_event_record(
        tenant=tenant_a, kind="read", user=member_a, ip=IP_NEW_YORK, at=berlin(1, 10, 5)
    )
    access_event_record(
        tenant=tenant_b, kind="read", user=outsider_b, ip=IP_BERLIN, at=berlin(1, 3)
    )
    result = anomalies_detect()
    assert result.events >= 3
    with tenant_context(tenant_a):
        kinds_a = set(AnomalyAlert.objects.values_list("kind", flat=True))
    with tenant_context(tenant_b):
        kinds_b = set(AnomalyAlert.objects.values_list("kind", flat=True))
    assert "impossible_travel" in kinds_a
    assert kinds_b == {"off_hours"}
    with connection.cursor() as cursor:  # no tenant context: row-level security hides all
        cursor.execute("SELECT count(*) FROM analytics_accessevent")
        assert cursor.fetchone()[0] == 0


def test_one_detector_at_a_time(tenant_a, member_a) -> None:
    require_postgres()
    access_event_record(tenant=tenant_a, kind="read", user=member_a, ip=IP_BERLIN)
    with _other_connection() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        busy = anomalies_detect()
        other.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
    assert busy.busy
    assert busy.events == 0
    assert anomalies_detect().events == 1
    with tenant_context(tenant_a):
        assert not AccessEvent.objects.filter(detected_at__isnull=True).exists()
