"""The signed ticket webhook: closing a ticket ends the access bound to it; bad signatures,
stale timestamps and replays are refused."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import Client

from apps.access.models import Grant
from apps.core.tenancy import tenant_context
from apps.requests import services
from apps.requests.models import RequestStatus
from apps.requests.services.tickets import sign

from .conftest import GOOD_REASON

pytestmark = pytest.mark.django_db


def post(client, tenant, secret, payload, *, delivery="d1", ts=None, signature=None):
    body = json.dumps(payload).encode()
    ts = str(int(ts if ts is not None else time.time()))
    return client.post(
        f"/webhooks/tickets/{tenant.slug}/",
        data=body,
        content_type="application/json",
        headers={
            "X-Custos-Delivery": delivery,
            "X-Custos-Timestamp": ts,
            "X-Custos-Signature": signature or sign(secret, ts, body),
        },
    )


def test_closing_the_ticket_ends_bound_access(tenant_a, operator, member_a, approver_a, crm_read):
    secret = services.ticket_secret_rotate(actor=operator, tenant=tenant_a)
    req = services.access_request_submit(
        actor=member_a,
        tenant=tenant_a,
        entitlement=crm_read,
        duration=timedelta(hours=4),
        justification=GOOD_REASON,
        ticket_ref="SUP-42",
        ticket_bound=True,
    )
    req = services.access_request_decide(actor=approver_a, req=req, decision="approve")
    client = Client()
    opened = {
        "event": "ticket.updated",
        "ticket": {"ref": "SUP-42", "status": "open", "severity": "sev2"},
    }
    assert post(client, tenant_a, secret, opened, delivery="a").status_code == 200

    closed = {"event": "ticket.updated", "ticket": {"ref": "SUP-42", "status": "closed"}}
    response = post(client, tenant_a, secret, closed, delivery="b")
    assert response.status_code == 200
    assert response.json()["access_ended"] == 1
    with tenant_context(tenant_a):
        req.refresh_from_db()
        assert req.status == RequestStatus.ENDED
        assert Grant.objects.get(pk=req.grant_id).revoked_at is not None

    # The same delivery again: refused as a replay.
    replay = post(client, tenant_a, secret, closed, delivery="b")
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "replayed"


def test_bad_signature_and_stale_timestamp_are_refused(tenant_a, operator):
    secret = services.ticket_secret_rotate(actor=operator, tenant=tenant_a)
    client = Client()
    payload = {"ticket": {"ref": "X-1", "status": "closed"}}
    bad = post(client, tenant_a, secret, payload, signature="v1=" + "0" * 64)
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "bad_signature"
    stale = post(client, tenant_a, secret, payload, ts=time.time() - 3600, delivery="old")
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "stale"
    garbage = client.post(
        f"/webhooks/tickets/{tenant_a.slug}/", data=b"x", content_type="application/json"
    )
    assert garbage.status_code in (400, 401)
