"""Tenant endpoints the integrations app owns: the tenant's audit events (read-only) and its
webhook endpoints. Each handler checks tenant and scope with `api_tenant`, then enters the
tenant scope."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.integrations.auth import api_tenant
from apps.integrations.models import WebhookEndpoint
from apps.integrations.scopes import AUDIT_READ, GRANTS_READ, USERS_READ, WEBHOOKS_MANAGE
from apps.tenants.models import Membership

router = Router(tags=["audit", "webhooks", "users", "grants"])


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


# --- users and grants (read) -----------------------------------------------------------------
class PageQuery(Schema):
    after_id: int | None = Field(
        None, ge=0, le=2**63 - 1, description="Items after this id (keyset paging)"
    )
    limit: int = Field(100, ge=1, le=500)


class MemberOut(Schema):
    id: int
    user_id: int
    email: str
    name: str
    role: str
    is_active: bool


class MemberPageOut(Schema):
    items: list[MemberOut]
    next_after_id: int | None


@router.get(
    "/tenants/{tenant_slug}/members",
    response=MemberPageOut,
    summary="The tenant's users and their roles, by membership id (scope users:read)",
    tags=["users"],
)
def members(request: HttpRequest, tenant_slug: str, page: Query[PageQuery]) -> dict[str, Any]:
    tenant = api_tenant(request, tenant_slug, scope=USERS_READ)
    with tenant_context(tenant):
        qs = Membership.objects.order_by("pk").values_list(
            "pk", "user_id", "user__email", "user__full_name", "role", "is_active"
        )
        if page.after_id is not None:
            qs = qs.filter(pk__gt=page.after_id)
        rows = list(qs[: page.limit + 1])
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return {
        "items": [
            {
                "id": r[0],
                "user_id": r[1],
                "email": r[2],
                "name": r[3],
                "role": r[4],
                "is_active": r[5],
            }
            for r in rows
        ],
        "next_after_id": rows[-1][0] if more and rows else None,
    }


class GrantOut(Schema):
    id: int
    subject_kind: str
    subject_id: int
    subject: str
    target_kind: str
    target: str
    source: str
    state: str
    starts_at: datetime
    expires_at: datetime | None
    ticket_ref: str


class GrantPageOut(Schema):
    items: list[GrantOut]
    next_after_id: int | None


class GrantQuery(PageQuery):
    include_ended: bool = Field(False, description="Also revoked and expired grants")


@router.get(
    "/tenants/{tenant_slug}/grants",
    response=GrantPageOut,
    summary="Who holds what in the tenant, until when, by grant id (scope grants:read)",
    tags=["grants"],
)
def grants(request: HttpRequest, tenant_slug: str, page: Query[GrantQuery]) -> dict[str, Any]:
    from apps.access.models import Grant

    tenant = api_tenant(request, tenant_slug, scope=GRANTS_READ)
    with tenant_context(tenant):
        qs = Grant.objects.select_related(
            "user", "service_account", "api_key", "entitlement", "role"
        ).order_by("pk")
        if not page.include_ended:
            qs = qs.filter(revoked_at__isnull=True).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
            )
        if page.after_id is not None:
            qs = qs.filter(pk__gt=page.after_id)
        rows = list(qs[: page.limit + 1])
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    items = []
    for g in rows:
        subject = g.user or g.service_account or g.api_key
        items.append(
            {
                "id": g.pk,
                "subject_kind": g.subject_kind,
                "subject_id": getattr(subject, "pk", 0) or 0,
                "subject": getattr(subject, "email", "") or str(subject or ""),
                "target_kind": "entitlement" if g.entitlement_id else "role",
                "target": g.target_label,
                "source": g.source,
                "state": g.state,
                "starts_at": g.starts_at,
                "expires_at": g.expires_at,
                "ticket_ref": g.ticket_ref,
            }
        )
    return {"items": items, "next_after_id": rows[-1].pk if more and rows else None}
