"""Anomaly rules over recorded events: impossible travel (> 2,000 km within 10 minutes), new
country, outside business hours in the tenant's time zone, bulk export, repeated failed
authentication; batching, alerting side effects (audit, webhook, email), grant usage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import translation

from apps.certification.analytics.models import (
    AccessEvent,
    AlertKind,
    AnalyticsSettings,
    AnomalyAlert,
)
from apps.certification.analytics.services import (
    alerts_notify_due,
    anomalies_detect,
    haversine_km,
)
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context, unscoped
from tests.analytics.conftest import (
    IP_BERLIN,
    IP_MUNICH,
    IP_NEW_YORK,
    IP_PARIS,
    IP_SYDNEY,
    berlin,
)

pytestmark = pytest.mark.django_db


def alerts(tenant: Any, kind: str | None = None) -> list[AnomalyAlert]:
    with tenant_context(tenant):
        qs = AnomalyAlert.objects.order_by("id")
        if kind:
            qs = qs.filter(kind=kind)
        return list(qs)


def test_haversine_matches_known_distances() -> None:
    assert haversine_km(52.52, 13.405, 40.7128, -74.006) == pytest.approx(6385, rel=0.01)
    assert haversine_km(52.52, 13.405, 48.1351, 11.582) == pytest.approx(504, rel=0.01)
    assert haversine_km(10, 20, 10, 20) == 0


def test_impossible_travel_over_2000_km_within_10_minutes(tenant_a, member_a, record) -> None:
    record(member_a, at=berlin(1, 10, 0), ip=IP_BERLIN)
    record(member_a, at=berlin(1, 10, 9), ip=IP_NEW_YORK)  # 6,385 km in 9 minutes
    anomalies_detect()
    [alert] = alerts(tenant_a, AlertKind.IMPOSSIBLE_TRAVEL)
    assert alert.severity == "critical"  # more than twice the threshold
    assert alert.details["km"] == pytest.approx(6385, rel=0.01)
    assert alert.details["from"] == "Berlin"
    assert alert.details["to"] == "New York"
    assert alert.user_id == member_a.pk
    assert "Berlin" in alert.summary
    assert "New York" in alert.summary


def test_no_impossible_travel_after_10_minutes_or_below_2000_km(
    tenant_a, member_a, approver_a, record
) -> None:
    record(member_a, at=berlin(1, 10, 0), ip=IP_BERLIN)
    record(
        member_a, at=berlin(1, 10, 11), ip=IP_NEW_YORK
    )  # 11 minutes later: possible by plane? no, but outside the window
    record(approver_a, at=berlin(1, 10, 0), ip=IP_BERLIN)
    record(approver_a, at=berlin(1, 10, 2), ip=IP_MUNICH)  # 504 km
    anomalies_detect()
    assert alerts(tenant_a, AlertKind.IMPOSSIBLE_TRAVEL) == []


def test_travel_threshold_is_per_tenant(tenant_a, member_a, record) -> None:
    with tenant_context(tenant_a):
        AnalyticsSettings.objects.create(tenant=tenant_a, travel_km=400, travel_minutes=5)
    record(member_a, at=berlin(1, 10, 0), ip=IP_BERLIN)
    record(member_a, at=berlin(1, 10, 3), ip=IP_MUNICH)
    anomalies_detect()
    [alert] = alerts(tenant_a, AlertKind.IMPOSSIBLE_TRAVEL)
    assert alert.severity == "high"


def test_new_country_after_a_baseline(tenant_a, member_a, record) -> None:
    record(member_a, at=berlin(1, 9), ip=IP_BERLIN)  # DE: the baseline, no alert
    record(member_a, at=berlin(1, 12), ip=IP_MUNICH)  # DE again
    record(member_a, at=berlin(1, 15), ip=IP_PARIS)  # FR: new
    record(member_a, at=berlin(2, 15), ip=IP_PARIS)  # FR: known now
    anomalies_detect()
    [alert] = alerts(tenant_a, AlertKind.NEW_COUNTRY)
    assert alert.details["country"] == "FR"
    assert alert.details["known"] == ["DE"]


def test_outside_business_hours_in_the_tenant_time_zone(tenant_a, member_a, record) -> None:
    # 02:30 UTC on a Tuesday is 03:30 in Berlin: outside 07:00-20:00
    record(member_a, at=berlin(1, 3, 30), ip=IP_BERLIN)
    record(member_a, at=berlin(1, 4, 0), ip=IP_BERLIN)  # same local day: no second alert
    record(member_a, at=berlin(1, 11, 0), ip=IP_BERLIN)  # within hours
    record(member_a, "export", at=berlin(5, 11, 0), ip=IP_BERLIN, rows=1)  # Saturday
    anomalies_detect()
    found = alerts(tenant_a, AlertKind.OFF_HOURS)
    assert [a.details["local_at"][-5:] for a in found] == ["03:30", "11:00"]
    assert [a.severity for a in found] == ["low", "medium"]  # an export is riskier
    # The sentence is written in the reader's language, weekday and event kind included.
    with translation.override("fr"):
        assert "Lecture à mar 03:30 heure locale" in found[0].summary
    with translation.override("en"):
        assert "Read at Tue 03:30 local time" in found[0].summary


def test_bulk_export_over_the_window(tenant_a, member_a, record) -> None:
    record(member_a, "export", at=berlin(1, 10, 0), rows=6_000)
    record(member_a, "export", at=berlin(1, 10, 20), rows=5_000)  # 11,000 within 60 minutes
    record(member_a, "export", at=berlin(1, 10, 30), rows=5_000)  # same window: no second alert
    record(member_a, "export", at=berlin(1, 14, 0), size=200 * 1024 * 1024)  # bytes, new window
    anomalies_detect()
    found = alerts(tenant_a, AlertKind.BULK_EXPORT)
    assert [a.details["rows"] for a in found] == [11_000, 0]
    assert found[1].details["mb"] == 200.0


def test_repeated_failed_authentication(tenant_a, member_a, record) -> None:
    for minute in range(6):
        record(member_a, "auth_failed", at=berlin(1, 10, minute), ip=IP_SYDNEY)
    anomalies_detect()
    [alert] = alerts(tenant_a, AlertKind.AUTH_FAILURES)
    assert alert.details["count"] == 5
    assert alert.severity == "high"


def test_events_are_looked_at_once_in_batches(tenant_a, member_a, record) -> None:
    for minute in range(7):
        record(member_a, at=berlin(1, 10, minute), ip=IP_BERLIN)
    assert anomalies_detect(limit=5).events == 5
    assert anomalies_detect(limit=5).events == 2
    assert anomalies_detect(limit=5).events == 0
    with tenant_context(tenant_a):
        assert not AccessEvent.objects.filter(detected_at__isnull=True).exists()


def test_events_of_two_tenants_stay_apart(tenant_a, tenant_b, member_a, outsider_b) -> None:
    from apps.certification.analytics.services import access_event_record

    access_event_record(tenant=tenant_a, kind="read", user=member_a, ip=IP_BERLIN, at=berlin(1, 10))
    access_event_record(
        tenant=tenant_b, kind="read", user=outsider_b, ip=IP_NEW_YORK, at=berlin(1, 10, 1)
    )
    anomalies_detect()
    assert alerts(tenant_a, AlertKind.IMPOSSIBLE_TRAVEL) == []
    assert alerts(tenant_b, AlertKind.IMPOSSIBLE_TRAVEL) == []


def test_alert_is_audited_sent_as_webhook_and_emailed(
    tenant_a, admin_a, member_a, record, settings
) -> None:
    from apps.integrations.models import WebhookDelivery
    from apps.integrations.services.webhooks import webhook_endpoint_create

    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = True
    webhook_endpoint_create(
        actor=admin_a, tenant=tenant_a, url="http://127.0.0.1:9/hook", event_types=["alert.raised"]
    )
    admin_a.language = "de"
    admin_a.save(update_fields=["language"])
    record(member_a, at=berlin(1, 10, 0), ip=IP_BERLIN)
    record(member_a, at=berlin(1, 10, 5), ip=IP_SYDNEY)
    result = anomalies_detect()
    assert result.alerts == 2  # a new country (AU) and impossible travel
    travel = alerts(tenant_a, AlertKind.IMPOSSIBLE_TRAVEL)[0]
    with tenant_context(tenant_a):
        audited = set(
            AuditEvent.objects.filter(action="analytics.alert.raised").values_list(
                "target_id", flat=True
            )
        )
        deliveries = list(WebhookDelivery.objects.order_by("id"))
    assert audited == {str(a.pk) for a in alerts(tenant_a)}
    assert [d.event_type for d in deliveries] == ["alert.raised", "alert.raised"]
    assert {d.payload["kind"] for d in deliveries} == {
        "anomaly.impossible_travel",
        "anomaly.new_country",
    }
    assert travel.pk in {d.payload["alert_id"] for d in deliveries}
    # high and above are emailed (default), once, in the admin's language
    assert alerts_notify_due() == 1
    assert alerts_notify_due() == 0
    [message] = mail.outbox
    assert message.to == [admin_a.email]
    assert "Berlin" in message.body
    assert "Sydney" in message.body


def test_low_severity_is_not_emailed(tenant_a, admin_a, member_a, record) -> None:
    record(member_a, at=berlin(1, 3, 0), ip=IP_BERLIN)
    anomalies_detect()
    assert alerts(tenant_a, AlertKind.OFF_HOURS)
    assert alerts_notify_due() == 0
    assert mail.outbox == []


def test_use_reported_for_an_entitlement_touches_the_grant(
    tenant_a, operator, member_a, catalog, record
) -> None:
    from apps.access import services as access_services
    from apps.access.models import Grant

    grant = access_services.grant_create(
        actor=operator, tenant=tenant_a, user=member_a, role=catalog.analyst, source="manual"
    )
    record(member_a, at=berlin(1, 10), entitlement=catalog.analytics_read)
    anomalies_detect()
    with unscoped(reason="test"):
        assert Grant.objects.get(pk=grant.pk).last_used_at is not None


def test_a_late_event_is_compared_by_absolute_gap(tenant_a, member_a, record) -> None:
    record(member_a, at=berlin(1, 10, 10), ip=IP_NEW_YORK)
    anomalies_detect()
    record(member_a, at=berlin(1, 10, 5), ip=IP_BERLIN)  # arrives later, happened earlier
    anomalies_detect()
    assert len(alerts(tenant_a, AlertKind.IMPOSSIBLE_TRAVEL)) == 1


def test_detection_window_survives_batches(tenant_a, member_a, record) -> None:
    record(member_a, at=berlin(1, 10, 0), ip=IP_BERLIN)
    anomalies_detect()
    record(member_a, at=berlin(1, 10, 0) + timedelta(minutes=4), ip=IP_SYDNEY)
    anomalies_detect()
    assert len(alerts(tenant_a, AlertKind.IMPOSSIBLE_TRAVEL)) == 1
