"""Ticket-bound access: the signed inbound webhook of a ticketing system.

POST /webhooks/tickets/<tenant>/ with
  X-Custos-Delivery:  a unique id per delivery (a replay is refused)
  X-Custos-Timestamp: Unix seconds (refused when more than 5 minutes off)
  X-Custos-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
and a JSON body {"event": "ticket.updated", "ticket": {"ref", "status": "open"|"closed",
"severity", "title"}}. A closed ticket ends every access bound to it. See docs/requests.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.crypto import field_secret_get
from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context
from apps.requests.models import (
    AccessRequest,
    RequestStatus,
    TicketBinding,
    TicketStatus,
    TicketWebhookDelivery,
    TicketWebhookSecret,
)
from apps.requests.services.common import audit
from apps.tenants.models import Tenant

TOLERANCE_SECONDS = 300


class WebhookRejected(DomainError):
    status_code = 401


@dataclass(frozen=True)
class TicketResult:
    ticket_ref: str
    status: str
    ended: int


def ticket_secret_rotate(*, actor: Any, tenant: Tenant) -> str:
    """A new signing secret (shown once); older ones stop working."""
    with tenant_context(tenant), transaction.atomic():
        TicketWebhookSecret.objects.filter(active=True).update(active=False)
        value = "tws_" + secrets.token_urlsafe(32)
        TicketWebhookSecret.objects.create(tenant=tenant, secret=value, active=True)
        audit("ticket_webhook.secret_rotated", actor=actor, target=tenant)
    return value


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def _verify(tenant: Tenant, *, body: bytes, timestamp: str, signature: str, now: float) -> None:
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        raise WebhookRejected(_("Missing or malformed timestamp."), code="bad_timestamp") from None
    if abs(now - sent) > TOLERANCE_SECONDS:
        raise WebhookRejected(_("The timestamp is too old or in the future."), code="stale")
    secrets_ = [
        field_secret_get(row, "secret") for row in TicketWebhookSecret.objects.filter(active=True)
    ]
    if not secrets_ or not any(
        hmac.compare_digest(sign(s, timestamp, body), signature or "") for s in secrets_
    ):
        raise WebhookRejected(_("The signature does not match."), code="bad_signature")


def ticket_webhook_receive(
    *, tenant: Tenant, body: bytes, delivery_id: str, timestamp: str, signature: str
) -> TicketResult:
    with tenant_context(tenant):
        _verify(tenant, body=body, timestamp=timestamp, signature=signature, now=time.time())
        try:
            payload = json.loads(body.decode("utf-8"))
            ticket = payload["ticket"]
            ref = str(ticket["ref"]).strip()[:100]
            status = str(ticket.get("status", "open")).lower()
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise DomainError(_("The body is not a ticket event."), code="bad_payload") from None
        if not ref or status not in TicketStatus.values:
            raise DomainError(
                _("The ticket needs a ref and a status open or closed."), code="bad_payload"
            )
        if not delivery_id or len(delivery_id) > 100:
            raise DomainError(_("Missing delivery id."), code="bad_delivery")
        with transaction.atomic():
            try:
                with transaction.atomic():
                    TicketWebhookDelivery.objects.create(tenant=tenant, delivery_id=delivery_id)
            except IntegrityError:
                raise WebhookRejected(
                    _("This delivery was received already."), code="replayed"
                ) from None
            now = timezone.now()
            binding, _created = TicketBinding.objects.update_or_create(
                tenant=tenant,
                ticket_ref=ref,
                defaults={
                    "status": status,
                    "severity": str(ticket.get("severity", ""))[:20],
                    "title": str(ticket.get("title", ""))[:200],
                    "system": str(payload.get("system", "default"))[:50],
                    "last_event_at": now,
                    "closed_at": now if status == TicketStatus.CLOSED else None,
                },
            )
            audit(
                "ticket.event_received",
                actor=None,
                target=binding,
                after={"status": status, "severity": binding.severity},
                details={"delivery_id": delivery_id},
            )
            ended = 0
            if status == TicketStatus.CLOSED:
                ended = _end_bound(tenant=tenant, ref=ref)
        return TicketResult(ticket_ref=ref, status=status, ended=ended)


def _end_bound(*, tenant: Tenant, ref: str) -> int:
    from apps.requests.services.lifecycle import _end

    ended = 0
    live = AccessRequest.objects.filter(
        ticket_ref=ref, ticket_bound=True, status__in=(RequestStatus.ACTIVE, RequestStatus.APPROVED)
    ).select_for_update(of=("self",))
    for req in live.select_related("tenant", "requester", "on_behalf_of", "grant"):
        _end(
            actor=None,
            row=req,
            reason=f"ticket {ref} closed",
            event="ended",
            audit_action="access_request.ticket_closed",
        )
        ended += 1
    return ended
