"""What an incident touches in one tenant, as querysets (never Python loops over rows): the
accounts to disable, the sessions to end, the keys, OAuth clients and grants to switch off.
The dry-run preview, the suspension and the grant snapshot all read this one definition."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.access.models import Grant
from apps.identity.models import User, UserKind
from apps.incidents.models import IncidentSubject, IncidentTenant, SubjectKind, TenantScope
from apps.integrations.models import ApiKey, CredentialState, OAuthAccessToken, OAuthClient
from apps.tenants.models import ADMIN_ROLES, Membership, Tenant


def _named(row: IncidentTenant, kind: str, column: str) -> QuerySet[Any]:
    return (
        IncidentSubject.objects.for_tenant(row.tenant_id)
        .filter(incident_id=row.incident_id, kind=kind)
        .values(column)
    )


def affected_people(row: IncidentTenant) -> QuerySet[User]:
    """Everyone whose access the incident takes away here, disabled already or not: the named
    accounts, plus (whole tenant) every active customer member except the customer admins."""
    q = Q(pk__in=_named(row, SubjectKind.USER, "user_id"))
    if row.scope == TenantScope.WHOLE_TENANT:
        members = (
            Membership.objects.for_tenant(row.tenant_id)
            .filter(is_active=True, user__kind=UserKind.CUSTOMER)
            .exclude(role__in=ADMIN_ROLES)
            .values("user_id")
        )
        q |= Q(pk__in=members)
    return User.objects.filter(q)


def accounts_to_disable(row: IncidentTenant) -> QuerySet[User]:
    return affected_people(row).filter(is_active=True)


def admins_kept(row: IncidentTenant) -> QuerySet[User]:
    """Whole tenant: the customer admins stay enabled to work the incident with us (their
    grants are suspended like everybody's; name them to disable them too)."""
    if row.scope != TenantScope.WHOLE_TENANT:
        return User.objects.none()
    admins = (
        Membership.objects.for_tenant(row.tenant_id)
        .filter(is_active=True, role__in=ADMIN_ROLES)
        .values("user_id")
    )
    return User.objects.filter(pk__in=admins, is_active=True).exclude(
        pk__in=_named(row, SubjectKind.USER, "user_id")
    )


def api_keys_to_revoke(row: IncidentTenant) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.for_tenant(row.tenant_id).filter(state=CredentialState.ACTIVE)
    if row.scope == TenantScope.WHOLE_TENANT:
        return keys
    return keys.filter(
        Q(pk__in=_named(row, SubjectKind.API_KEY, "api_key_id"))
        | Q(owner__in=affected_people(row).values("pk"))
    )


def oauth_clients_to_revoke(row: IncidentTenant) -> QuerySet[OAuthClient]:
    clients = OAuthClient.objects.for_tenant(row.tenant_id).filter(state=CredentialState.ACTIVE)
    if row.scope == TenantScope.WHOLE_TENANT:
        return clients
    return clients.filter(
        Q(pk__in=_named(row, SubjectKind.OAUTH_CLIENT, "oauth_client_id"))
        | Q(owner__in=affected_people(row).values("pk"))
    )


def tokens_to_revoke(row: IncidentTenant, client_ids: list[int]) -> QuerySet[OAuthAccessToken]:
    return OAuthAccessToken.objects.for_tenant(row.tenant_id).filter(
        client_id__in=client_ids, revoked_at__isnull=True
    )


def grants_in_scope(row: IncidentTenant) -> QuerySet[Grant]:
    """Unended, unsuspended grants the incident switches off here. A grant whose expiry passed
    but the sweeper has not recorded yet is included (suspending it is harmless), so the set
    does not shift between the preview and the confirmation as the clock ticks."""
    grants = Grant.objects.for_tenant(row.tenant_id).filter(
        revoked_at__isnull=True, suspended_at__isnull=True, expired_at__isnull=True
    )
    if row.scope == TenantScope.WHOLE_TENANT:
        return grants
    environments = _named(row, SubjectKind.ENVIRONMENT, "environment_id")
    keys = ApiKey.objects.for_tenant(row.tenant_id).filter(
        Q(pk__in=_named(row, SubjectKind.API_KEY, "api_key_id"))
        | Q(owner__in=affected_people(row).values("pk"))
    )
    return grants.filter(
        Q(user__in=affected_people(row).values("pk"))
        | Q(api_key__in=keys.values("pk"))
        | Q(entitlement__environment__in=environments)
        | Q(role__role_entitlements__entitlement__environment__in=environments)
    ).distinct()


@dataclass
class TenantPlan:
    """Exactly what a suspension would do in one tenant (ids sorted, for the fingerprint)."""

    row: IncidentTenant
    tenant: Tenant
    user_ids: list[int] = field(default_factory=list)
    staff_session_ids: list[int] = field(default_factory=list)
    api_key_ids: list[int] = field(default_factory=list)
    oauth_client_ids: list[int] = field(default_factory=list)
    token_count: int = 0
    grant_ids: list[int] = field(default_factory=list)
    kept_admin_ids: list[int] = field(default_factory=list)
    isolate: bool = False

    @property
    def empty(self) -> bool:
        return not (
            self.user_ids
            or self.staff_session_ids
            or self.api_key_ids
            or self.oauth_client_ids
            or self.token_count
            or self.grant_ids
            or (self.isolate and self.row.isolated_at is None)
        )

    def as_key(self) -> dict[str, Any]:
        return {
            "users": self.user_ids,
            "sessions": self.staff_session_ids,
            "api_keys": self.api_key_ids,
            "oauth_clients": self.oauth_client_ids,
            "grants": self.grant_ids,
            "isolate": self.isolate,
        }

    @property
    def counts(self) -> dict[str, int]:
        return {
            "accounts_disabled": len(self.user_ids),
            "staff_sessions_ended": len(self.staff_session_ids),
            "api_keys_revoked": len(self.api_key_ids),
            "oauth_clients_revoked": len(self.oauth_client_ids),
            "oauth_tokens_revoked": self.token_count,
            "grants_suspended": len(self.grant_ids),
        }


def tenant_plan(row: IncidentTenant, *, isolate: bool = False) -> TenantPlan:
    """Compute the plan inside the caller's tenant scope (a handful of queries, any size)."""
    now = timezone.now()
    tenant = row.tenant
    user_ids = sorted(accounts_to_disable(row).values_list("pk", flat=True))
    grant_qs = grants_in_scope(row)
    grant_ids = sorted(grant_qs.values_list("pk", flat=True))
    # Vendor staff keep their accounts (unless named) but lose every open session: a session
    # started under a grant must not outlive it.
    staff = set(
        grant_qs.filter(user__kind=UserKind.STAFF, user__is_active=True)
        .order_by()
        .values_list("user_id", flat=True)
        .distinct()
    )
    staff_ids = sorted(staff - set(user_ids))
    client_ids = sorted(oauth_clients_to_revoke(row).values_list("pk", flat=True))
    token_count = (
        tokens_to_revoke(row, client_ids).filter(expires_at__gt=now).count() if client_ids else 0
    )
    return TenantPlan(
        row=row,
        tenant=tenant,
        user_ids=user_ids,
        staff_session_ids=staff_ids,
        api_key_ids=sorted(api_keys_to_revoke(row).values_list("pk", flat=True)),
        oauth_client_ids=client_ids,
        token_count=token_count,
        grant_ids=grant_ids,
        kept_admin_ids=sorted(admins_kept(row).values_list("pk", flat=True)),
        isolate=isolate,
    )


def fingerprint(plans: list[TenantPlan]) -> str:
    """A digest of everything the plans would do: the confirmation must match the preview."""
    body = {str(p.tenant.pk): p.as_key() for p in plans}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
