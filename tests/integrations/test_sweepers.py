"""Sweepers that keep the timers-as-data promises: alert emails that missed their first chance,
and clean-up of expired replay-cache rows, tokens and old call records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.core.tenancy import tenant_context, unscoped
from apps.integrations.models import (
    ApiCallRecord,
    OAuthAssertionJti,
    OAuthClient,
    SecurityAlert,
)
from apps.integrations.services.alerts import security_alert_raise, security_alerts_notify_due
from apps.integrations.services.housekeeping import integrations_housekeeping

pytestmark = pytest.mark.django_db


def test_alert_email_is_sent_by_the_sweeper_if_not_sent_at_once(tenant_a, admin_a):
    # No on_commit here (the test transaction never commits): the sweeper must catch it.
    alert = security_alert_raise(tenant=tenant_a, kind="test.kind", summary="Something odd")
    assert mail.outbox == []
    assert security_alerts_notify_due() == 1
    assert security_alerts_notify_due() == 0  # claimed once
    assert mail.outbox[0].to == ["alice@acme.test"]
    assert "Something odd" in mail.outbox[0].subject
    with tenant_context(tenant_a):
        assert SecurityAlert.objects.get(pk=alert.pk).notified_at is not None


def test_housekeeping_removes_what_has_expired(tenant_a):
    now = timezone.now()
    with tenant_context(tenant_a):
        client = OAuthClient.objects.create(
            tenant=tenant_a,
            name="c",
            client_id="cuc_x",
            public_key_pem="x",
            allowed_scopes=["audit:read"],
            technical_contact_email="c@acme.test",
        )
        OAuthAssertionJti.objects.create(
            tenant=tenant_a, client=client, jti="old", expires_at=now - timedelta(minutes=1)
        )
        OAuthAssertionJti.objects.create(
            tenant=tenant_a, client=client, jti="live", expires_at=now + timedelta(minutes=1)
        )
    with unscoped(reason="test"):
        for age in (91, 1):
            ApiCallRecord.objects.create(
                occurred_at=now - timedelta(days=age),
                tenant=tenant_a,
                principal_kind="api_key",
                method="GET",
                endpoint="api/v1/me",
                status_code=200,
                latency_ms=1.0,
            )
    result = integrations_housekeeping()
    assert result["jti"] == 1
    assert result["calls"] == 1
    with tenant_context(tenant_a):
        assert list(OAuthAssertionJti.objects.values_list("jti", flat=True)) == ["live"]
