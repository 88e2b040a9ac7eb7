"""`POST /api/v1/t/{tenant}/access-events`: the customer's applications report what people did
in them (read, write, export with row counts...), so "last used" and the anomaly rules see the
accesses that happen outside Custos. Up to 1,000 events a call, one bulk INSERT.

Callers: a tenant API key / OAuth client with the `decisions` scope (an application that asks
Custos for decisions also reports their use), or a signed-in admin. People are named by id or
email and looked up inside the tenant only; environments by id or slug.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field, field_validator

from apps.certification.analytics.services.events import EventInvalid, access_events_record_bulk
from apps.core.tenancy import tenant_context
from apps.integrations.auth import api_tenant
from apps.integrations.scopes import DECISIONS

router = Router(tags=["access analytics"])


class EventIn(Schema):
    kind: Literal["login", "read", "write", "admin", "export", "auth_failed"]
    at: datetime | None = None
    user_id: int | None = Field(None, ge=1, le=2**63 - 1)
    email: str = Field("", max_length=254)
    environment: int | str | None = Field(None, description="Environment id or slug")
    level: Literal["read", "write", "admin", "export", "operate"] | None = None
    ip: str = Field("", max_length=45)
    country: str = Field("", max_length=2)
    rows: int | None = Field(None, ge=0, le=2**63 - 1)
    bytes: int | None = Field(None, ge=0, le=2**63 - 1)
    detail: str = Field("", max_length=200)

    @field_validator("ip")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        """An IPv4/IPv6 address or nothing (a malformed one is a 422, not a database error)."""
        if value:
            try:
                return str(ipaddress.ip_address(value.strip()))
            except ValueError as exc:
                raise ValueError("ip must be an IPv4 or IPv6 address") from exc
        return value


class EventsIn(Schema):
    events: list[EventIn] = Field(..., min_length=1, max_length=1000)


class EventsOut(Schema):
    recorded: int


def _resolve(tenant: Any, items: list[EventIn], principal: str) -> list[dict[str, Any]]:
    from apps.access.models import Entitlement
    from apps.identity.models import User
    from apps.tenants.models import Environment, Membership

    members = Membership.objects.for_tenant(tenant).filter(is_active=True)
    ids = {e.user_id for e in items if e.user_id}
    emails = {e.email.lower() for e in items if e.email}
    by_id = set(members.filter(user_id__in=ids).values_list("user_id", flat=True))
    by_email = dict(members.filter(user__email__in=emails).values_list("user__email", "user_id"))
    users = User.objects.in_bulk(list(by_id | set(by_email.values())))
    envs = list(Environment.objects.for_tenant(tenant).values_list("pk", "slug"))
    env_by = {pk: pk for pk, _s in envs} | {slug: pk for pk, slug in envs}
    ents = {
        (env, level): pk
        for pk, env, level in Entitlement.objects.for_tenant(tenant).values_list(
            "pk", "environment_id", "level"
        )
    }
    out = []
    for n, e in enumerate(items):
        uid = e.user_id if e.user_id in by_id else by_email.get(e.email.lower())
        if (e.user_id or e.email) and uid is None:
            raise EventInvalid(f"events[{n}]: unknown person in this tenant", code="unknown_user")
        env_id = env_by.get(e.environment) if e.environment is not None else None
        if e.environment is not None and env_id is None:
            raise EventInvalid(
                f"events[{n}]: unknown environment in this tenant", code="unknown_environment"
            )
        ent_id = ents.get((env_id, e.level or e.kind)) if env_id else None
        out.append(
            {
                "kind": e.kind,
                "at": e.at,
                "user": users.get(uid) if uid else None,
                "principal": principal,
                "channel": "application",
                "ip": e.ip,
                "country": e.country,
                "environment_id": env_id,
                "entitlement_id": ent_id,
                "rows": e.rows,
                "size": e.bytes,
                "detail": e.detail,
            }
        )
    return out


@router.post(
    "/t/{tenant_slug}/access-events",
    response={201: EventsOut},
    summary="Report access events (reads, writes, exports) from an application",
)
def access_events_report(request: HttpRequest, tenant_slug: str, payload: EventsIn) -> Any:
    tenant = api_tenant(request, tenant_slug, scope=DECISIONS)
    auth = getattr(request, "auth", None)
    principal = str(getattr(auth, "credential", "") or "")
    with tenant_context(tenant):
        specs = _resolve(tenant, payload.events, principal)
        count = access_events_record_bulk(tenant=tenant, events=specs)
    return Status(201, {"recorded": count})
