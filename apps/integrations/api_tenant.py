"""Tenant endpoints the integrations app owns: the tenant's audit events (read-only) and its
webhook endpoints. Each handler checks tenant and scope with `api_tenant`, then enters the
tenant scope."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.integrations.auth import api_tenant
from apps.integrations.models import WebhookEndpoint
from apps.integrations.scopes import AUDIT_READ, WEBHOOKS_MANAGE

router = Router(tags=["audit", "webhooks"])


class AuditEventOut(Schema):
    seq: int
    occurred_at: datetime
    action: str
    outcome: str
    actor_id: int | None
    actor: str
    target_type: str
    target_id: str
    target: str
    request_id: str
    hash: str


class AuditPageOut(Schema):
    items: list[AuditEventOut]
    next_before_seq: int | None


class AuditQuery(Schema):
    before_seq: int | None = Field(None, ge=1, description="Events older than this sequence")
    limit: int = Field(50, ge=1, le=200)
    action: str = Field("", max_length=80, description="Action prefix, e.g. `api_key.`")


@router.get(
    "/tenants/{tenant_slug}/audit-events",
    response=AuditPageOut,
    summary="The tenant's audit events, newest first (scope audit:read)",
    tags=["audit"],
)
def audit_events(
    request: HttpRequest, tenant_slug: str, filters: Query[AuditQuery]
) -> dict[str, Any]:
    tenant = api_tenant(request, tenant_slug, scope=AUDIT_READ)
    with tenant_context(tenant):
        qs = AuditEvent.objects.filter(tenant=tenant).order_by("-seq")
        if filters.before_seq:
            qs = qs.filter(seq__lt=filters.before_seq)
        if filters.action:
            qs = qs.filter(action__startswith=filters.action)
        events = list(qs[: filters.limit + 1])
    more = len(events) > filters.limit
    events = events[: filters.limit]
    return {
        "items": [
            {
                "seq": e.seq,
                "occurred_at": e.occurred_at,
                "action": e.action,
                "outcome": e.outcome,
                "actor_id": e.actor_id,
                "actor": e.actor_label,
                "target_type": e.target_type,
                "target_id": e.target_id,
                "target": e.target_label,
                "request_id": e.request_id,
                "hash": e.hash,
            }
            for e in events
        ],
        "next_before_seq": events[-1].seq if more and events else None,
    }


class WebhookEndpointOut(Schema):
    id: int
    url: str
    description: str
    event_types: list[str]
    is_active: bool
    consecutive_failures: int
    last_success_at: datetime | None
    last_failure_at: datetime | None


@router.get(
    "/tenants/{tenant_slug}/webhooks",
    response=list[WebhookEndpointOut],
    summary="The tenant's webhook endpoints (scope webhooks:manage; secrets are never shown)",
    tags=["webhooks"],
)
def webhook_endpoints(request: HttpRequest, tenant_slug: str) -> list[WebhookEndpoint]:
    tenant = api_tenant(request, tenant_slug, scope=WEBHOOKS_MANAGE)
    with tenant_context(tenant):
        return list(WebhookEndpoint.objects.order_by("pk"))
