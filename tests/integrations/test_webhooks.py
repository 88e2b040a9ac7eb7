"""Outbound webhooks against a real local HTTP server: signed, retried with backoff, secret
encrypted at rest, rotated with an overlap, never sent to private addresses by default."""

from __future__ import annotations

import json

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from apps.core.crypto import secret_is_encrypted
from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context, unscoped
from apps.integrations.models import DeliveryStatus, WebhookDelivery
from apps.integrations.services.webhooks import (
    webhook_deliveries_send_due,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_set_active,
    webhook_event_emit,
    webhook_signature_verify,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(admin_a, tenant_a, local_server):
    return webhook_endpoint_create(
        actor=admin_a,
        tenant=tenant_a,
        url=f"{local_server.url}/hooks/custos",
        event_types=["access_request.created", "grant.ended"],
    )


def test_delivery_is_signed_and_verifiable(endpoint, tenant_a, local_server):
    webhook_event_emit(
        tenant=tenant_a,
        event_type="access_request.created",
        payload={"request_id": 7, "requester": "mia@acme.test"},
    )
    assert webhook_deliveries_send_due() == 1
    (received,) = local_server.received
    assert received.path == "/hooks/custos"
    assert received.headers["Custos-Event"] == "access_request.created"
    header = received.headers["Custos-Signature"]
    assert webhook_signature_verify(secret=endpoint.secret, header=header, body=received.body)
    assert not webhook_signature_verify(secret="whsec_wrong", header=header, body=received.body)
    tampered = received.body.replace(b"mia", b"eve")
    assert not webhook_signature_verify(secret=endpoint.secret, header=header, body=tampered)
    event = json.loads(received.body)
    assert event["type"] == "access_request.created"
    assert event["tenant"] == "acme"
    assert event["data"] == {"request_id": 7, "requester": "mia@acme.test"}
    assert received.headers["Custos-Delivery"] == event["id"]


def test_only_subscribed_events_are_queued(endpoint, tenant_a):
    assert webhook_event_emit(tenant=tenant_a, event_type="grant.started", payload={}) == []
    assert len(webhook_event_emit(tenant=tenant_a, event_type="grant.ended", payload={})) == 1
    with pytest.raises(ValueError):
        webhook_event_emit(tenant=tenant_a, event_type="made.up", payload={})


def test_failures_are_retried_with_exponential_backoff(endpoint, tenant_a, local_server, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    local_server.statuses = [500, 503, 500, 500]
    (delivery,) = webhook_event_emit(tenant=tenant_a, event_type="grant.ended", payload={"n": 1})
    delays = []
    now = timezone.now()
    for attempt in range(1, 5):
        with time_machine.travel(now):
            assert webhook_deliveries_send_due(now=now) == 1
            assert webhook_deliveries_send_due(now=now) == 0  # not due again right away
        with tenant_context(tenant_a):
            row = WebhookDelivery.objects.get(pk=delivery.pk)
        assert row.attempts == attempt
        if attempt < 4:
            assert row.status == DeliveryStatus.PENDING
            delays.append((row.next_attempt_at - now).total_seconds())
            now = row.next_attempt_at
        else:
            assert row.status == DeliveryStatus.FAILED
            assert row.next_attempt_at is None
    assert len(local_server.received) == 4
    assert delays[0] == pytest.approx(30, rel=0.15)
    assert delays[1] == pytest.approx(60, rel=0.15)
    assert delays[2] == pytest.approx(120, rel=0.15)
    # Same event id on every attempt: receivers can de-duplicate.
    ids = {json.loads(r.body)["id"] for r in local_server.received}
    assert len(ids) == 1


def test_a_retry_that_succeeds_marks_the_delivery_done(endpoint, tenant_a, local_server):
    local_server.statuses = [502]
    (delivery,) = webhook_event_emit(tenant=tenant_a, event_type="grant.ended", payload={})
    webhook_deliveries_send_due()
    with tenant_context(tenant_a):
        row = WebhookDelivery.objects.get(pk=delivery.pk)
    assert webhook_deliveries_send_due() == 0  # not due yet
    with time_machine.travel(row.next_attempt_at):
        webhook_deliveries_send_due()
    with tenant_context(tenant_a):
        row = WebhookDelivery.objects.get(pk=delivery.pk)
    assert row.status == DeliveryStatus.SUCCEEDED
    assert row.attempts == 2


def test_secret_is_encrypted_at_rest(endpoint):
    with unscoped(reason="test: raw row"), connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM integrations_webhookendpoint")
        (stored,) = cursor.fetchone()
    assert secret_is_encrypted(stored)
    assert endpoint.secret not in stored


def test_secret_rotation_signs_with_both_during_the_overlap(
    endpoint, admin_a, tenant_a, local_server
):
    rotated = webhook_endpoint_rotate_secret(actor=admin_a, endpoint=endpoint.endpoint)
    webhook_event_emit(tenant=tenant_a, event_type="grant.ended", payload={})
    webhook_deliveries_send_due()
    (received,) = local_server.received
    header = received.headers["Custos-Signature"]
    assert header.count("v1=") == 2
    for secret in (endpoint.secret, rotated.secret):
        assert webhook_signature_verify(secret=secret, header=header, body=received.body)


def test_disabled_endpoint_gets_nothing(endpoint, admin_a, tenant_a, local_server):
    webhook_event_emit(tenant=tenant_a, event_type="grant.ended", payload={})
    webhook_endpoint_set_active(actor=admin_a, endpoint=endpoint.endpoint, active=False)
    assert webhook_deliveries_send_due() == 0
    assert webhook_event_emit(tenant=tenant_a, event_type="grant.ended", payload={}) == []
    assert local_server.received == []


def test_private_addresses_are_refused_by_default(admin_a, tenant_a, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = False
    for url in ("http://127.0.0.1:8080/x", "https://10.0.0.1/x", "https://169.254.169.254/x"):
        with pytest.raises(DomainError):
            webhook_endpoint_create(
                actor=admin_a, tenant=tenant_a, url=url, event_types=["grant.ended"]
            )


def test_signature_older_than_tolerance_is_rejected(endpoint, tenant_a, local_server):
    webhook_event_emit(tenant=tenant_a, event_type="grant.ended", payload={})
    webhook_deliveries_send_due()
    (received,) = local_server.received
    header = received.headers["Custos-Signature"]
    later = timezone.now().timestamp() + 600
    assert not webhook_signature_verify(
        secret=endpoint.secret, header=header, body=received.body, now=later
    )
