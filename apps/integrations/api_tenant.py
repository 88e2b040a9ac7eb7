"""Tenant endpoints the integrations app owns: the tenant's audit events (read-only) and its
webhook endpoints. Each handler checks tenant and scope with `api_tenant`, then enters the
tenant scope."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field

from apps.core.models import AuditEvent, chain_key
from apps.core.tenancy import tenant_context
from apps.integrations.api_schema import ApiOut
from apps.integrations.auth import api_tenant
from apps.integrations.models import WebhookEndpoint
from apps.integrations.scopes import AUDIT_READ, GRANTS_READ, USERS_READ, WEBHOOKS_MANAGE
from apps.tenants.models import Membership

router = Router(tags=["audit", "webhooks", "users", "grants"])


class AuditEventOut(ApiOut):
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


class AuditPageOut(ApiOut):
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
        # A tenant's events are exactly its chain: (chain, seq) is the unique index the page is
        # read from backwards, never a sort of all the tenant's events.
        qs = AuditEvent.objects.filter(tenant=tenant, chain=chain_key(tenant.pk)).order_by("-seq")
        if filters.before_seq:
            qs = qs.filter(seq__lt=filters.before_seq)
        if filters.action:
            qs = qs.filter(action__startswith=filters.action)
        rows = list(
            qs.values_list(
                "seq", "occurred_at", "action", "outcome", "actor_id", "personal",
                "target_type", "target_id", "request_id", "hash",
            )[: filters.limit + 1]
        )  # fmt: skip
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    items = []
    for (
        seq, occurred_at, action, outcome, actor_id, personal,
        target_type, target_id, request_id, hash_,
    ) in rows:  # fmt: skip
        items.append(
            {
                "seq": seq,
                "occurred_at": occurred_at,
                "action": action,
                "outcome": outcome,
                "actor_id": actor_id,
                # AuditEvent.actor_label / target_label, without building the model instance
                "actor": str(personal.get("actor", "")),
                "target_type": target_type,
                "target_id": target_id,
                "target": str(personal.get("target", "")),
                "request_id": request_id,
                "hash": hash_,
            }
        )
    return {"items": items, "next_before_seq": rows[-1][0] if more and rows else None}


class WebhookEndpointOut(ApiOut):
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
def webhook_endpoints(request: HttpRequest, tenant_slug: str) -> list[dict[str, Any]]:
    tenant = api_tenant(request, tenant_slug, scope=WEBHOOKS_MANAGE)
    with tenant_context(tenant):
        # Only the listed columns: the signing secrets are neither shown nor decrypted.
        return list(WebhookEndpoint.objects.order_by("pk").values(*WebhookEndpointOut.model_fields))


# --- users and grants (read) -----------------------------------------------------------------
class PageQuery(Schema):
    after_id: int | None = Field(
        None, ge=0, le=2**63 - 1, description="Items after this id (keyset paging)"
    )
    limit: int = Field(100, ge=1, le=500)


class MemberOut(ApiOut):
    id: int
    user_id: int
    email: str
    name: str
    role: str
    is_active: bool


class MemberPageOut(ApiOut):
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


class GrantOut(ApiOut):
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


class GrantPageOut(ApiOut):
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
    now = timezone.now()
    with tenant_context(tenant):
        qs = Grant.objects.order_by("pk")
        if not page.include_ended:
            qs = qs.filter(revoked_at__isnull=True).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now)
            )
        if page.after_id is not None:
            qs = qs.filter(pk__gt=page.after_id)
        # The columns the page shows, not five related model instances per grant (that was
        # half of this endpoint's CPU time).
        rows = list(
            qs.values_list(
                "pk", "user_id", "user__email", "user__full_name",
                "service_account_id", "service_account__name",
                "api_key_id", "api_key__name", "api_key__prefix",
                "entitlement_id", "entitlement__name", "role__name",
                "source", "starts_at", "expires_at", "revoked_at", "suspended_at", "ticket_ref",
            )[: page.limit + 1]
        )  # fmt: skip
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    items = []
    for (
        pk, user_id, email, full_name, account_id, account_name, key_id, key_name, key_prefix,
        entitlement_id, entitlement_name, role_name,
        source, starts_at, expires_at, revoked_at, suspended_at, ticket_ref,
    ) in rows:  # fmt: skip
        # The labels Grant.subject / Grant.target give (User: email, else its name; service
        # account: its name; API key: ApiKey.__str__; entitlement or role: its name).
        if user_id:
            kind, subject_id, subject = "user", user_id, email or full_name
        elif account_id:
            kind, subject_id, subject = "service_account", account_id, account_name
        else:
            kind, subject_id = "api_key", key_id or 0
            subject = f"{key_name} (cus_{key_prefix}_…)" if key_id else ""
        items.append(
            {
                "id": pk,
                "subject_kind": kind,
                "subject_id": subject_id,
                "subject": subject,
                "target_kind": "entitlement" if entitlement_id else "role",
                "target": _or_unknown(entitlement_name if entitlement_id else role_name),
                "source": source,
                "state": _grant_state(_GrantTimes(revoked_at, suspended_at, starts_at, expires_at)),
                "starts_at": starts_at,
                "expires_at": expires_at,
                "ticket_ref": ticket_ref,
            }
        )
    return {"items": items, "next_after_id": rows[-1][0] if more and rows else None}


def _or_unknown(label: str | None) -> str:
    return "?" if label is None else label


class _GrantTimes(NamedTuple):
    revoked_at: datetime | None
    suspended_at: datetime | None
    starts_at: datetime
    expires_at: datetime | None


def _grant_state(times: _GrantTimes) -> str:
    """Grant.state (the model's one rule) on the four columns it reads, without a model
    instance; tests/integrations/test_api_get_fast.py holds the two together."""
    from apps.access.models import Grant

    return str(Grant.state.fget(times))  # type: ignore[attr-defined]
