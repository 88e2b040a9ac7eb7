"""API endpoints of onboarding and licences (registered in apps/integrations/api.py).

`POST /tenants/{t}/users` onboards one person through the joiner. With an `Idempotency-Key`
header the same key and body return the first response again (`Idempotent-Replayed: true`),
the same key with another body answers 422 `idempotency_key_reused`, and while the first
request still runs 409 `idempotency_in_flight`. Over the tenant's (or the global) provisioning
rate the request is queued: 202 with the job id to poll.

`POST /tenants/{t}/users/batch` onboards up to 200 people in one request (each all or nothing,
every item answering for itself), with the same Idempotency-Key rules for the whole batch; over
the rate it answers 429 with Retry-After (a batch takes one token, like an import batch).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from django.http import Http404, HttpRequest, JsonResponse
from ninja import Router, Schema, Status
from pydantic import Field

from apps.core.exceptions import Conflict, DomainError
from apps.core.tenancy import tenant_context
from apps.integrations.auth import api_tenant
from apps.integrations.scopes import LICENSES_READ, USERS_READ, USERS_WRITE
from apps.licenses import selectors
from apps.licenses.models import ProvisioningJob, SeatSource
from apps.licenses.services.idempotency import (
    idempotency_abandon,
    idempotency_begin,
    idempotency_complete,
    request_hash,
)
from apps.licenses.services.risk import SignupInput
from apps.lifecycle.joiner import (
    JoinerRequest,
    Throttled,
    joiner_batch_run,
    joiner_submit,
    signup_submit,
)

router = Router(tags=["onboarding"])


class UserIn(Schema):
    email: str = Field(..., max_length=254)
    full_name: str = Field("", max_length=200)
    role: str = Field("member", max_length=20)
    department: str = Field("", max_length=100)
    title: str = Field("", max_length=100)
    country: str = Field("", max_length=2)
    language: str = Field("", max_length=10)
    location: str = Field("", max_length=100, description="Picks the licence pool")
    products: list[str] = Field(default_factory=list, max_length=20)
    attributes: dict[str, str] = Field(
        default_factory=dict, description="Extra attributes for provisioning templates"
    )
    when_full: Literal["reject", "wait"] = Field(
        "reject", description="A full pool: refuse (409) or put the person on its waiting list"
    )


class SeatOut(Schema):
    id: int
    product: str
    pool: str


class OnboardedOut(Schema):
    id: int
    email: str
    full_name: str
    role: str
    created_user: bool
    grants: list[int | None]
    seats: list[SeatOut]
    waiting: list[SeatOut]


class QueuedOut(Schema):
    status: str
    job_id: int
    retry_after: float


def _replay(status: int, body: Any) -> JsonResponse:
    response = JsonResponse(body, status=status, safe=False)
    response["Idempotent-Replayed"] = "true"
    return response


def _error_body(exc: DomainError) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.message}}


@router.post(
    "/tenants/{tenant_slug}/users",
    response={201: OnboardedOut, 202: QueuedOut},
    summary="Onboard a user: account, template roles, licences (scope users:write)",
)
def user_onboard(request: HttpRequest, tenant_slug: str, payload: UserIn) -> Any:
    tenant = api_tenant(request, tenant_slug, scope=USERS_WRITE)
    actor = request.auth  # type: ignore[attr-defined]
    key = request.headers.get("Idempotency-Key", "")
    data = payload.dict()
    with tenant_context(tenant):
        record = None
        if key:
            begun = idempotency_begin(
                tenant=tenant, scope="users.create", key=key, digest=request_hash(data)
            )
            if begun.replay:
                return _replay(begun.record.response_status or 200, begun.record.response_body)
            record = begun.record
        try:
            submitted = joiner_submit(
                actor=actor,
                tenant=tenant,
                request=JoinerRequest.from_payload(data),
                source=SeatSource.API,
                idempotency_key=key,
                idempotency_record=record,
            )
        except DomainError as exc:
            if record is not None:
                if isinstance(exc, Conflict):
                    # Worth retrying with the same key later (a seat may free up).
                    idempotency_abandon(record=record)
                else:
                    idempotency_complete(
                        record=record, status=exc.status_code, body=_error_body(exc)
                    )
            raise
        except BaseException:
            if record is not None:
                idempotency_abandon(record=record)
            raise
    status, body = submitted.as_response()
    return Status(status, body)


class UsersBatchIn(Schema):
    users: list[UserIn] = Field(..., min_length=1, max_length=200)


class BatchErrorOut(Schema):
    code: str
    message: str


class BatchItemOut(Schema):
    index: int = Field(..., description="Position of the person in the request")
    status: int = Field(..., description="201 onboarded, 409 conflict, 422 refused")
    id: int | None
    email: str
    seats: list[str] = Field(..., description="Products a seat was allocated for")
    error: BatchErrorOut | None


class BatchOut(Schema):
    created: int
    failed: int
    items: list[BatchItemOut]


@router.post(
    "/tenants/{tenant_slug}/users/batch",
    response={200: BatchOut},
    summary="Onboard up to 200 users in one request, each all or nothing (scope users:write)",
)
def users_onboard_batch(request: HttpRequest, tenant_slug: str, payload: UsersBatchIn) -> Any:
    tenant = api_tenant(request, tenant_slug, scope=USERS_WRITE)
    actor = request.auth  # type: ignore[attr-defined]
    key = request.headers.get("Idempotency-Key", "")
    data = payload.dict()
    with tenant_context(tenant):
        record = None
        if key:
            begun = idempotency_begin(
                tenant=tenant, scope="users.batch", key=key, digest=request_hash(data)
            )
            if begun.replay:
                return _replay(begun.record.response_status or 200, begun.record.response_body)
            record = begun.record
        try:
            result = joiner_batch_run(
                actor=actor,
                tenant=tenant,
                payloads=data["users"],
                source=SeatSource.API,
                idempotency_record=record,
            )
        except Throttled as exc:
            if record is not None:
                idempotency_abandon(record=record)
            response = JsonResponse(_error_body(exc), status=429)
            response["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
            return response
        except BaseException:
            if record is not None:
                idempotency_abandon(record=record)
            raise
    return Status(200, result.as_response())


class JobOut(Schema):
    id: int
    status: str
    attempts: int
    last_error: str
    user_id: int | None
    created_at: datetime
    finished_at: datetime | None


@router.get(
    "/tenants/{tenant_slug}/onboarding-jobs/{job_id}",
    response=JobOut,
    summary="A queued onboarding's state (scope users:read)",
)
def onboarding_job(request: HttpRequest, tenant_slug: str, job_id: int) -> Any:
    tenant = api_tenant(request, tenant_slug, scope=USERS_READ)
    with tenant_context(tenant):
        job = ProvisioningJob.objects.filter(pk=job_id).first()
    if job is None:
        raise Http404
    return job


class SignupIn(Schema):
    email: str = Field(..., max_length=254)
    full_name: str = Field("", max_length=200)
    ip: str = Field("", max_length=45, description="The applicant's IP address")
    declared_location: str = Field("", max_length=100)
    declared_at: datetime | None = None
    device_fingerprint: str = Field("", max_length=128)
    payment_ref: str = Field("", max_length=128)
    location: str = Field("", max_length=100)
    products: list[str] = Field(default_factory=list, max_length=20)


class SignalOut(Schema):
    code: str
    weight: int
    detail: str


class SignupOut(Schema):
    case_id: int
    decision: str
    score: int
    signals: list[SignalOut]
    user_id: int | None
    review_due_at: datetime | None


@router.post(
    "/tenants/{tenant_slug}/signups",
    response={201: SignupOut, 202: SignupOut},
    summary="A self-service signup: risk checks, then onboarding or the review queue "
    "(scope users:write)",
)
def signup_create(request: HttpRequest, tenant_slug: str, payload: SignupIn) -> Any:
    tenant = api_tenant(request, tenant_slug, scope=USERS_WRITE)
    import ipaddress

    if payload.ip:
        try:
            ipaddress.ip_address(payload.ip)
        except ValueError as exc:
            raise DomainError("ip is not an IP address.", code="invalid_ip") from exc
    case, result = signup_submit(
        actor=request.auth,  # type: ignore[attr-defined]
        tenant=tenant,
        data=SignupInput(
            email=payload.email,
            full_name=payload.full_name,
            ip=payload.ip,
            declared_location=payload.declared_location,
            declared_at=payload.declared_at,
            device_fingerprint=payload.device_fingerprint,
            payment_ref=payload.payment_ref,
        ),
        request=JoinerRequest(
            email=payload.email,
            full_name=payload.full_name,
            location=payload.location,
            products=payload.products,
        ),
    )
    body = {
        "case_id": case.pk,
        "decision": case.decision,
        "score": case.score,
        "signals": case.signals,
        "user_id": result.user.pk if result else None,
        "review_due_at": case.due_at,
    }
    return Status(201 if result else 202, body)


class PoolOut(Schema):
    id: int
    product: str
    name: str
    location: str
    region: str
    capacity: int
    used: int
    utilisation_percent: float
    utilisation_cap_percent: int
    hard_stop: bool
    is_reserve: bool
    waiting: int
    forecast_exhausted_at: datetime | None


@router.get(
    "/tenants/{tenant_slug}/license-pools",
    response=list[PoolOut],
    summary="Licence pools with utilisation and exhaustion forecast (scope licenses:read)",
    tags=["licenses"],
)
def license_pools(request: HttpRequest, tenant_slug: str) -> Any:
    tenant = api_tenant(request, tenant_slug, scope=LICENSES_READ)
    return [
        {
            "id": r.pool.pk,
            "product": r.pool.product.key,
            "name": r.pool.name,
            "location": r.pool.location,
            "region": r.pool.region,
            "capacity": r.pool.capacity,
            "used": r.pool.used,
            "utilisation_percent": r.pool.utilisation_percent,
            "utilisation_cap_percent": r.pool.utilisation_cap_percent,
            "hard_stop": r.pool.hard_stop,
            "is_reserve": r.pool.is_reserve,
            "waiting": r.waiting,
            "forecast_exhausted_at": r.forecast.exhausted_at,
        }
        for r in selectors.pool_rows(tenant=tenant)
    ]
