"""Outbound webhooks: per-tenant endpoints, signed deliveries, retries with exponential backoff.

Other apps call `webhook_event_emit(tenant=..., event_type=..., payload=...)` after their change
(inside their transaction: the deliveries are rows, written or rolled back with it). The sweeper
(`webhook_deliveries_send_due`, every WEBHOOK_SWEEP_INTERVAL_SECONDS) sends due deliveries.

Event types (docs/api.md): access_request.created, access_request.decided, grant.started,
grant.ended, alert.raised, user.deprovisioned, and webhook.test (the portal's test button).

Signature: header `Custos-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
(a second v1= during a secret rotation). Receivers recompute it over the raw body and reject
timestamps older than a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables

from apps.core.audit.services import audit_event_record
from apps.core.crypto import field_secret_get, field_secret_set
from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context, unscoped
from apps.integrations.conf import conf
from apps.integrations.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from apps.integrations.netfetch import OutboundError, outbound_request, url_check
from apps.integrations.services.api_keys import _require_admin
from apps.integrations.tokens import OneTimeSecret, random_id

EVENT_TYPES = {
    "access_request.created": gettext_lazy("An access request was created"),
    "access_request.decided": gettext_lazy("An access request was approved or denied"),
    "grant.started": gettext_lazy("A grant became active"),
    "grant.ended": gettext_lazy("A grant ended (expired or revoked)"),
    "alert.raised": gettext_lazy("A security alert was raised"),
    "user.deprovisioned": gettext_lazy("A user was deprovisioned"),
}
TEST_EVENT = "webhook.test"
SIGNATURE_HEADER = "Custos-Signature"
USER_AGENT = "Custos-Webhooks/1"


def _event_types_clean(values: list[str]) -> list[str]:
    wanted = {str(v) for v in values}
    unknown = wanted - set(EVENT_TYPES)
    if unknown:
        raise DomainError(
            _("Unknown event type(s): %(types)s") % {"types": ", ".join(sorted(unknown))},
            code="invalid_event_type",
        )
    if not wanted:
        raise DomainError(_("Choose at least one event type."), code="invalid_event_type")
    return [t for t in EVENT_TYPES if t in wanted]


def _url_clean(url: str) -> str:
    try:
        url_check(url)
    except Exception as exc:  # OutboundError or a resolver failure
        raise DomainError(
            _("This URL cannot receive webhooks: %(error)s") % {"error": exc}, code="invalid_url"
        ) from exc
    return url


@dataclass(frozen=True)
class IssuedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once

    def __repr__(self) -> str:
        return f"IssuedEndpoint({self.endpoint.pk})"


@sensitive_variables("secret")
def webhook_endpoint_create(
    *, actor: Any, tenant: Any, url: str, event_types: list[str], description: str = ""
) -> IssuedEndpoint:
    _require_admin(actor=actor, tenant=tenant)
    url = _url_clean(url.strip())
    types = _event_types_clean(event_types)
    secret = random_id("whsec_", 40)
    with tenant_context(tenant), transaction.atomic():
        endpoint = WebhookEndpoint(
            tenant=tenant,
            url=url,
            description=description.strip()[:200],
            event_types=types,
            created_by=actor,
        )
        field_secret_set(endpoint, "secret", secret)
        endpoint.save()
        audit_event_record(
            action="webhook_endpoint.created",
            actor=actor,
            tenant=tenant,
            target=endpoint,
            after={"url": url, "event_types": types},
        )
    return IssuedEndpoint(endpoint=endpoint, secret=OneTimeSecret(secret))


@sensitive_variables("secret", "old_secret")
def webhook_endpoint_rotate_secret(
    *, actor: Any, endpoint: WebhookEndpoint, overlap_hours: int | None = None
) -> IssuedEndpoint:
    """A new secret; deliveries carry signatures with both for the overlap."""
    tenant = endpoint.tenant
    _require_admin(actor=actor, tenant=tenant)
    hours = int(conf("WEBHOOK_SECRET_OVERLAP_HOURS") if overlap_hours is None else overlap_hours)
    secret = random_id("whsec_", 40)
    with tenant_context(tenant), transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        old_secret = field_secret_get(locked, "secret")
        field_secret_set(locked, "previous_secret", old_secret if hours else "")
        locked.previous_secret_expires_at = (
            timezone.now() + timedelta(hours=hours) if hours else None
        )
        field_secret_set(locked, "secret", secret)
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
        audit_event_record(
            action="webhook_endpoint.secret_rotated",
            actor=actor,
            tenant=tenant,
            target=locked,
            details={"overlap_hours": hours},
        )
        from apps.integrations.models import SharedCredentialKind
        from apps.integrations.services.offboarding import rotation_marks_resolve

        rotation_marks_resolve(
            actor=actor,
            tenant=tenant,
            kind=SharedCredentialKind.WEBHOOK_SECRET,
            object_id=locked.pk,
            how="webhook secret rotated",
        )
    return IssuedEndpoint(endpoint=locked, secret=OneTimeSecret(secret))


def webhook_endpoint_set_active(*, actor: Any, endpoint: WebhookEndpoint, active: bool) -> None:
    tenant = endpoint.tenant
    _require_admin(actor=actor, tenant=tenant)
    with tenant_context(tenant), transaction.atomic():
        changed = WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=not active).update(
            is_active=active, consecutive_failures=0
        )
        if not changed:
            return
        if not active:
            WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
                status=DeliveryStatus.CANCELLED, next_attempt_at=None
            )
        audit_event_record(
            action="webhook_endpoint.enabled" if active else "webhook_endpoint.disabled",
            actor=actor,
            tenant=tenant,
            target=endpoint,
        )


def webhook_event_emit(
    *,
    tenant: Any,
    event_type: str,
    payload: dict[str, Any],
    endpoint: WebhookEndpoint | None = None,
) -> list[WebhookDelivery]:
    """Queue `event_type` for every active endpoint of `tenant` subscribed to it (call it in the
    transaction of the change it reports). Returns the queued deliveries."""
    if event_type not in EVENT_TYPES and event_type != TEST_EVENT:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    now = timezone.now()
    body = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    with tenant_context(tenant):
        if endpoint is not None:
            endpoints = [endpoint]
        else:
            endpoints = [
                e
                for e in WebhookEndpoint.objects.filter(is_active=True).only("pk", "event_types")
                if event_type in e.event_types
            ]
        if not endpoints:
            return []
        return WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    tenant=tenant,
                    endpoint_id=e.pk,
                    event_type=event_type,
                    payload=body,
                    next_attempt_at=now,
                    created_at=now,
                )
                for e in endpoints
            ]
        )


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature_verify(
    *, secret: str, header: str, body: bytes, tolerance_seconds: int = 300, now: float | None = None
) -> bool:
    """What a receiver does (also used by our tests and shown in docs/api.md)."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k.strip() == "t"]
    signatures = [v.strip() for k, v in parts if k.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not signatures:
        return False
    timestamp = int(stamps[0])
    if abs((now or time.time()) - timestamp) > tolerance_seconds:
        return False
    expected = webhook_signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, s) for s in signatures)


def _backoff(attempts: int) -> timedelta:
    base = int(conf("WEBHOOK_RETRY_BASE_SECONDS"))
    delay = min(base * 2 ** max(0, attempts - 1), int(conf("WEBHOOK_RETRY_MAX_SECONDS")))
    jitter = delay * (secrets.randbelow(21) - 10) / 100  # +-10 %: no thundering herd
    return timedelta(seconds=max(1.0, delay + jitter))


def _body(delivery: WebhookDelivery, tenant: Any) -> bytes:
    envelope = {
        "id": str(delivery.event_id),
        "type": delivery.event_type,
        "created_at": delivery.created_at.isoformat(),
        "tenant": tenant.slug,
        "data": delivery.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


@sensitive_variables("secret", "previous")
def _send(
    delivery: WebhookDelivery, endpoint: WebhookEndpoint, tenant: Any
) -> tuple[int | None, str]:
    body = _body(delivery, tenant)
    timestamp = int(time.time())
    secret = field_secret_get(endpoint, "secret")
    signatures = [f"v1={webhook_signature(secret, timestamp, body)}"]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > timezone.now():
        previous = field_secret_get(endpoint, "previous_secret")
        signatures.append(f"v1={webhook_signature(previous, timestamp, body)}")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: f"t={timestamp}," + ",".join(signatures),
        "Custos-Event": delivery.event_type,
        "Custos-Delivery": str(delivery.event_id),
    }
    try:
        response = outbound_request(
            "POST", endpoint.url, body=body, headers=headers, max_bytes=4096
        )
    except OutboundError as exc:
        return None, str(exc)[:300]
    except Exception as exc:  # e.g. a body over the size limit: a failed attempt
        return None, type(exc).__name__
    if 200 <= response.status < 300:
        return response.status, ""
    return response.status, f"HTTP {response.status}"


def webhook_delivery_attempt(*, delivery_id: int, tenant: Any) -> str:
    """Claim and send one due delivery; returns its new status ("" when not claimed)."""
    now = timezone.now()
    lease = timedelta(seconds=int(conf("WEBHOOK_LEASE_SECONDS")))
    with tenant_context(tenant):
        claimed = WebhookDelivery.objects.filter(
            pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        ).update(next_attempt_at=now + lease, attempts=F("attempts") + 1, last_attempt_at=now)
        if not claimed:
            return ""
        delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
        endpoint = delivery.endpoint
        if not endpoint.is_active:
            WebhookDelivery.objects.filter(pk=delivery_id).update(
                status=DeliveryStatus.CANCELLED, next_attempt_at=None
            )
            return DeliveryStatus.CANCELLED
        status_code, error = _send(delivery, endpoint, tenant)
        done = timezone.now()
        if not error:
            WebhookDelivery.objects.filter(pk=delivery_id).update(
                status=DeliveryStatus.SUCCEEDED,
                next_attempt_at=None,
                delivered_at=done,
                last_status_code=status_code,
                last_error="",
            )
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                consecutive_failures=0, last_success_at=done
            )
            return DeliveryStatus.SUCCEEDED
        gave_up = delivery.attempts >= int(conf("WEBHOOK_MAX_ATTEMPTS"))
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=DeliveryStatus.FAILED if gave_up else DeliveryStatus.PENDING,
            next_attempt_at=None if gave_up else done + _backoff(delivery.attempts),
            last_status_code=status_code,
            last_error=error,
        )
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            consecutive_failures=F("consecutive_failures") + 1, last_failure_at=done
        )
        return DeliveryStatus.FAILED if gave_up else DeliveryStatus.PENDING


def webhook_deliveries_send_due(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Sweeper: send every due delivery (each in its tenant's scope). Returns how many were
    attempted."""
    now = now or timezone.now()
    limit = limit or int(conf("WEBHOOK_BATCH"))
    with unscoped(reason="webhook sweeper: due deliveries of every tenant"):
        due = list(
            WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .select_related("tenant")
            .order_by("next_attempt_at")[:limit]
        )
    attempted = 0
    for delivery in due:
        if webhook_delivery_attempt(delivery_id=delivery.pk, tenant=delivery.tenant):
            attempted += 1
    return attempted
