"""API of access requests (registered in apps/integrations/api.py).

* `GET  /tenants/{t}/access-requests` (scope requests:read): a person sees the requests they
  made, are the subject of, or may decide; an API key or OAuth client sees the tenant's.
* `POST /tenants/{t}/access-requests` (scope requests:write): submit. A person asks for
  themselves (or `on_behalf_of` a team member); an integration names the person it acts for in
  `requester_email`.
* `POST /tenants/{t}/access-requests/{id}/decision` (scope requests:write): approve or deny —
  people only (an approval is a personal act, never a credential's).
* The ticketing webhook is documented in docs/requests.md (`/webhooks/tickets/{t}/`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from apps.core.exceptions import DomainError, PermissionDenied
from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.integrations.auth import api_tenant
from apps.integrations.principals import ApiPrincipal
from apps.integrations.scopes import REQUESTS_READ, REQUESTS_WRITE
from apps.requests import services
from apps.requests.models import AccessRequest, ApprovalAssignment, RequestStatus
from apps.tenants.models import Membership

router = Router(tags=["access requests"])


class StepOut(Schema):
    order: int
    label: str
    state: str
    due_at: datetime | None
    escalated: bool


class AccessRequestOut(Schema):
    id: int
    status: str
    kind: str
    requester: str
    on_behalf_of: str | None
    entitlement_id: int | None
    role_id: int | None
    target: str
    risk: str
    duration_seconds: int
    requested_duration_seconds: int
    justification: str
    ticket_ref: str
    ticket_bound: bool
    submitted_at: datetime
    first_decision_at: datetime | None
    granted_at: datetime | None
    access_until: datetime | None
    expires_unanswered_at: datetime | None
    steps: list[StepOut]


class PageOut(Schema):
    items: list[AccessRequestOut]
    next_before_id: int | None


class ListQuery(Schema):
    status: str = Field("", max_length=20)
    before_id: int | None = Field(None, ge=1)
    limit: int = Field(50, ge=1, le=200)


class RequestIn(Schema):
    entitlement_id: int | None = None
    role_id: int | None = None
    duration_hours: int = Field(..., ge=1, le=24 * 90)
    justification: str = Field(..., min_length=1, max_length=4000)
    ticket_ref: str = Field("", max_length=100)
    ticket_bound: bool = False
    start_after: datetime | None = None
    start_before: datetime | None = None
    on_behalf_of: str = Field("", max_length=254, description="Email of a team member")
    requester_email: str = Field(
        "", max_length=254, description="API keys / OAuth clients: the person acting"
    )


class DecisionIn(Schema):
    decision: Literal["approve", "deny"]
    reason: str = Field("", max_length=2000)
    duration_hours: int | None = Field(None, ge=1, description="Shorten to (approve only)")
    entitlement_id: int | None = Field(None, description="Narrow to a lower level (approve only)")


def _out(req: AccessRequest) -> dict[str, Any]:
    return {
        "id": req.pk,
        "status": req.status,
        "kind": req.kind,
        "requester": req.requester.email,
        "on_behalf_of": req.on_behalf_of.email if req.on_behalf_of is not None else None,
        "entitlement_id": req.entitlement_id,
        "role_id": req.role_id,
        "target": req.target_label,
        "risk": req.risk,
        "duration_seconds": int(req.duration.total_seconds()),
        "requested_duration_seconds": int(req.requested_duration.total_seconds()),
        "justification": req.justification,
        "ticket_ref": req.ticket_ref,
        "ticket_bound": req.ticket_bound,
        "submitted_at": req.submitted_at,
        "first_decision_at": req.first_decision_at,
        "granted_at": req.granted_at,
        "access_until": req.access_until,
        "expires_unanswered_at": req.expires_unanswered_at,
        "steps": [
            {
                "order": s.order,
                "label": s.label,
                "state": s.state,
                "due_at": s.due_at,
                "escalated": s.escalated_at is not None,
            }
            for s in req.steps.all()
        ],
    }


def _base_qs() -> Any:
    return AccessRequest.objects.select_related(
        "tenant", "requester", "on_behalf_of", "entitlement__environment", "role"
    ).prefetch_related("steps")


@router.get(
    "/tenants/{tenant_slug}/access-requests",
    response=PageOut,
    summary="Access requests, newest first (scope requests:read)",
)
def access_request_list(
    request: HttpRequest, tenant_slug: str, filters: Query[ListQuery]
) -> dict[str, Any]:
    tenant = api_tenant(request, tenant_slug, scope=REQUESTS_READ)
    principal = request.auth  # type: ignore[attr-defined]
    with tenant_context(tenant):
        qs = _base_qs().order_by("-id")
        if not isinstance(principal, ApiPrincipal):
            mine = ApprovalAssignment.objects.filter(request=OuterRef("pk"), approver=principal)
            qs = qs.filter(Q(requester=principal) | Q(on_behalf_of=principal) | Exists(mine))
        if filters.status in RequestStatus.values:
            qs = qs.filter(status=filters.status)
        if filters.before_id:
            qs = qs.filter(id__lt=filters.before_id)
        rows = list(qs[: filters.limit + 1])
        more = len(rows) > filters.limit
        rows = rows[: filters.limit]
        return {
            "items": [_out(r) for r in rows],
            "next_before_id": rows[-1].pk if more and rows else None,
        }


def _member(tenant: Any, email: str) -> Any:
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None or not Membership.objects.filter(user=user, is_active=True).exists():
        raise DomainError(f"{email} is not a member of this tenant.", code="unknown_user")
    return user


@router.post(
    "/tenants/{tenant_slug}/access-requests",
    response={201: AccessRequestOut, 200: AccessRequestOut},
    summary="Submit an access request (scope requests:write)",
)
def access_request_create(request: HttpRequest, tenant_slug: str, payload: RequestIn) -> Any:
    tenant = api_tenant(request, tenant_slug, scope=REQUESTS_WRITE)
    principal = request.auth  # type: ignore[attr-defined]
    from apps.access.models import Entitlement, Role

    with tenant_context(tenant):
        if isinstance(principal, ApiPrincipal):
            if not payload.requester_email:
                raise DomainError(
                    "requester_email names the person this request is for.",
                    code="requester_required",
                )
            actor = _member(tenant, payload.requester_email)
        else:
            actor = principal
        entitlement = role = None
        if payload.entitlement_id:
            entitlement = Entitlement.objects.filter(pk=payload.entitlement_id).first()
            if entitlement is None:
                raise DomainError("This item is not in your eligible catalog.", code="not_eligible")
        elif payload.role_id:
            role = Role.objects.filter(pk=payload.role_id).first()
            if role is None:
                raise DomainError("This item is not in your eligible catalog.", code="not_eligible")
        on_behalf_of = _member(tenant, payload.on_behalf_of) if payload.on_behalf_of else None
        req = services.access_request_submit(
            actor=actor,
            tenant=tenant,
            entitlement=entitlement,
            role=role,
            duration=timedelta(hours=payload.duration_hours),
            justification=payload.justification,
            ticket_ref=payload.ticket_ref,
            ticket_bound=payload.ticket_bound,
            on_behalf_of=on_behalf_of,
            start_after=payload.start_after,
            start_before=payload.start_before,
        )
        status = 200 if getattr(req, "was_existing", False) else 201
        return Status(status, _out(_base_qs().get(pk=req.pk)))


@router.post(
    "/tenants/{tenant_slug}/access-requests/{request_id}/decision",
    response=AccessRequestOut,
    summary="Approve or deny your step of a request (people only; scope requests:write)",
)
def access_request_decision(
    request: HttpRequest, tenant_slug: str, request_id: int, payload: DecisionIn
) -> dict[str, Any]:
    tenant = api_tenant(request, tenant_slug, scope=REQUESTS_WRITE)
    principal = request.auth  # type: ignore[attr-defined]
    if isinstance(principal, ApiPrincipal):
        raise PermissionDenied(
            "Only a person can approve or deny a request.", code="person_required"
        )
    with tenant_context(tenant):
        req = _base_qs().filter(pk=request_id).first()
        if req is None:
            raise Http404
        narrowed = None
        if payload.entitlement_id:
            from apps.access.models import Entitlement

            narrowed = Entitlement.objects.filter(pk=payload.entitlement_id).first()
            if narrowed is None:
                raise DomainError("No such entitlement.", code="invalid_scope")
        req = services.access_request_decide(
            actor=principal,
            req=req,
            decision=payload.decision,
            reason=payload.reason,
            duration=timedelta(hours=payload.duration_hours) if payload.duration_hours else None,
            entitlement=narrowed,
        )
        return _out(_base_qs().get(pk=req.pk))
