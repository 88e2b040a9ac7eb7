"""`POST /api/v1/decisions`: the policy engine for the customer's own applications; and
`GET /api/v1/tenants/{slug}/attestations`: the tenant's compliance attestations (users:read).

Callers: a tenant API key / OAuth client with the `decisions` scope (the tenant is the
credential's), or a signed-in member (session; the tenant is named in the body or follows from
the environment id). Subjects and environments are looked up inside that tenant only: another
tenant's ids are "unknown", never a hint that they exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from pydantic import Field

from apps.access import engine
from apps.access.models import Grant, ServiceAccount
from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context, unscoped
from apps.integrations.auth import api_tenant
from apps.integrations.principals import ApiPrincipal
from apps.integrations.scopes import DECISIONS, USERS_READ
from apps.tenants.models import Environment, Membership, Tenant

router = Router(tags=["decisions"])


class UnknownReference(DomainError):
    status_code = 422


class SubjectIn(Schema):
    type: Literal["user", "service_account", "api_key"] = "user"
    id: int | None = Field(None, ge=1)
    email: str = Field("", max_length=254)


class ContextIn(Schema):
    now: datetime | None = None
    mfa_level: Literal["none", "backup_code", "totp", "webauthn"] = "none"
    location_region: str = Field("", max_length=10)
    location_country: str = Field("", max_length=2)
    risk_score: float = Field(0.0, ge=0, le=100)
    attested: list[str] = Field(default_factory=list, max_length=20)
    ip: str = Field("", max_length=45)
    purpose: str = Field("", max_length=40)


class DecisionIn(Schema):
    tenant: str = Field("", max_length=50, description="Tenant slug (session callers)")
    subject: SubjectIn
    action: Literal["read", "write", "admin", "export", "operate"]
    environment: int | str = Field(..., description="Environment id or slug")
    context: ContextIn | None = None


class ReasonOut(Schema):
    kind: str
    ref: str
    message: str


class DecisionOut(Schema):
    allowed: bool
    reasons: list[ReasonOut]


def _tenant_for(request: HttpRequest, body: DecisionIn) -> Tenant:
    principal = getattr(request, "auth", None)
    if isinstance(principal, ApiPrincipal):
        return api_tenant(request, principal.tenant.slug, scope=DECISIONS)  # type: ignore[no-any-return]
    slug = body.tenant
    if not slug and isinstance(body.environment, int):
        with unscoped(reason="decision API: which tenant owns the environment"):
            env = Environment.objects.filter(pk=body.environment).select_related("tenant").first()
        slug = env.tenant.slug if env is not None else ""
    if not slug:
        raise UnknownReference(
            _("Name the tenant (or give the environment by id)."), code="unknown_tenant"
        )
    return api_tenant(request, slug, scope=DECISIONS)  # type: ignore[no-any-return]


def _environment(tenant: Tenant, ref: int | str) -> Environment:
    qs = Environment.objects.for_tenant(tenant)
    env = qs.filter(pk=ref).first() if isinstance(ref, int) else qs.filter(slug=ref).first()
    if env is None:
        raise UnknownReference(
            _("Unknown environment %(ref)s in this tenant.") % {"ref": ref},
            code="unknown_environment",
        )
    return env


def _subject(tenant: Tenant, subject: SubjectIn) -> Any:
    from django.contrib.auth import get_user_model

    from apps.integrations.models import ApiKey

    found: Any = None
    if subject.type == "user":
        User = get_user_model()
        users = User.objects.all()
        user = (
            users.filter(pk=subject.id).first()
            if subject.id
            else users.filter(email__iexact=subject.email.strip()).first()
            if subject.email
            else None
        )
        # A user is known here when they belong to the tenant or hold a grant in it (staff).
        if user is not None and (
            Membership.objects.for_tenant(tenant).filter(user=user).exists()
            or Grant.objects.for_tenant(tenant).filter(user=user).exists()
        ):
            found = user
    elif subject.type == "service_account" and subject.id:
        found = ServiceAccount.objects.for_tenant(tenant).filter(pk=subject.id).first()
    elif subject.type == "api_key" and subject.id:
        found = ApiKey.objects.for_tenant(tenant).filter(pk=subject.id).first()
    if found is None:
        raise UnknownReference(_("Unknown subject in this tenant."), code="unknown_subject")
    return found


@router.post(
    "/decisions",
    response=DecisionOut,
    summary="Ask the policy engine: may this subject do this on this environment? (decisions)",
)
def decisions(request: HttpRequest, body: DecisionIn) -> dict[str, Any]:
    """Allowed or not, with the reasons: the grant that allows it, or the ABAC / SoD rule or
    missing grant that denies it."""
    tenant = _tenant_for(request, body)
    with tenant_context(tenant):
        environment = _environment(tenant, body.environment)
        subject = _subject(tenant, body.subject)
        c = body.context or ContextIn.model_validate({})
        context = engine.Context(
            now=c.now,
            mfa_level=c.mfa_level,
            location_region=c.location_region.lower(),
            location_country=c.location_country.upper(),
            risk_score=c.risk_score,
            attested=frozenset(a.lower() for a in c.attested),
            ip=c.ip,
            purpose=c.purpose,
        )
        decision = engine.decide(subject, body.action, environment, context)
    return {"allowed": decision.allowed, "reasons": [r.as_dict() for r in decision.reasons]}


class AttestationQuery(Schema):
    flag: str = Field(
        "",
        max_length=40,
        pattern=r"^([a-z0-9][a-z0-9_-]*)?$",
        description="Only this compliance flag (e.g. hipaa)",
    )
    state: Literal["", "active", "expiring", "expired", "revoked"] = Field(
        "",
        description='"" every unrevoked attestation; "expiring" within 30 days; '
        '"revoked" the history',
    )
    after_id: int | None = Field(None, ge=0, le=2**63 - 1, description="Keyset paging")
    limit: int = Field(100, ge=1, le=500)


class AttestationOut(Schema):
    id: int
    user_id: int
    user_email: str
    flag: str
    state: str
    attested_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    evidence: str


class AttestationPageOut(Schema):
    items: list[AttestationOut]
    next_after_id: int | None


@router.get(
    "/tenants/{tenant_slug}/attestations",
    response=AttestationPageOut,
    summary="The tenant's compliance attestations, by id (scope users:read)",
    tags=["attestations"],
)
def attestations(
    request: HttpRequest, tenant_slug: str, page: Query[AttestationQuery]
) -> dict[str, Any]:
    """Who attested which compliance flag, until when: what the ABAC rules'
    `context.attested` sees for each person."""
    from apps.access.selectors import AttestationFilter, attestation_list

    tenant = api_tenant(request, tenant_slug, scope=USERS_READ)
    filters = AttestationFilter.parse({"flag": page.flag, "state": page.state})
    with tenant_context(tenant):
        qs = attestation_list(tenant=tenant, filters=filters).order_by("pk")
        if page.after_id is not None:
            qs = qs.filter(pk__gt=page.after_id)
        rows = list(qs[: page.limit + 1])
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    items = [
        {
            "id": a.pk,
            "user_id": a.user_id,
            "user_email": a.user.email,
            "flag": a.flag,
            "state": a.state,
            "attested_at": a.attested_at,
            "expires_at": a.expires_at,
            "revoked_at": a.revoked_at,
            "evidence": a.evidence,
        }
        for a in rows
    ]
    return {"items": items, "next_after_id": rows[-1].pk if more and rows else None}
