"""Reads of the access model with business meaning (the agreed interface). Querysets come with
their relations loaded, so pages built on them have a constant number of queries. The explain
pages (apps/access/selectors_explain.py) build on the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from apps.access.models import (
    ATTESTATION_EXPIRING_WITHIN,
    ComplianceAttestation,
    ComplianceFlag,
    Grant,
    PolicyRule,
)
from apps.core.tenancy import unscoped
from apps.tenants.models import Membership

_RELATED = ("tenant", "user", "service_account", "api_key", "entitlement__environment", "role")


def _active(qs: QuerySet[Grant], at: datetime) -> QuerySet[Grant]:
    return qs.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=at),
        revoked_at__isnull=True,
        suspended_at__isnull=True,
        starts_at__lte=at,
    )


def active_grants_for_user(
    user: Any, *, tenant: Any = None, at: datetime | None = None
) -> QuerySet[Grant]:
    """The user's active grants: in `tenant`, or (tenant None) in the current tenant scope."""
    at = at or timezone.now()
    qs = Grant.objects.for_tenant(tenant) if tenant is not None else Grant.objects.all()
    return _active(qs.filter(user=user), at).select_related(*_RELATED).order_by("-starts_at")


def who_can_access(environment: Any, *, at: datetime | None = None) -> QuerySet[Grant]:
    """Active grants that reach `environment`, directly or through a role."""
    at = at or timezone.now()
    qs = Grant.objects.for_tenant(environment.tenant_id).filter(
        Q(entitlement__environment=environment) | Q(role__entitlements__environment=environment)
    )
    return _active(qs, at).select_related(*_RELATED).distinct().order_by("-starts_at")


def what_can_user_access(user: Any, *, at: datetime | None = None) -> list[Grant]:
    """Every active grant of `user` in every tenant (vendor staff: the context-switching view).
    Crosses tenants on purpose; callers that show it to a person audit the view."""
    at = at or timezone.now()
    # cross-tenant: one person's access across all customer tenants, for oversight pages
    with unscoped(reason="what can this user access, across tenants"):
        return list(
            _active(Grant.objects.filter(user=user), at)
            .select_related(*_RELATED)
            .order_by("tenant__name", "-starts_at")
        )


def vendor_grants_in_tenant(tenant: Any, *, at: datetime | None = None) -> QuerySet[Grant]:
    """Vendor-staff grants into `tenant` that are active or scheduled (who, why, until when) —
    the customer admin's view; nothing about the vendor's internal organisation."""
    at = at or timezone.now()
    return (
        Grant.objects.for_tenant(tenant)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at), user__kind="staff")
        .filter(revoked_at__isnull=True)
        .select_related(*_RELATED)
        .order_by("expires_at")
    )


# --- compliance attestations -----------------------------------------------------------------

ATTESTATION_STATES = ("", "active", "expiring", "expired", "revoked")
FLAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True, slots=True)
class AttestationFilter:
    """The list page's filters: flag, and state ("" = every unrevoked row, "active",
    "expiring" within ATTESTATION_EXPIRING_WITHIN, "expired", "revoked" = history)."""

    flag: str = ""
    state: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> AttestationFilter:
        flag = str(data.get("flag", "") or "").strip().lower()
        state = str(data.get("state", "") or "").strip()
        return cls(
            flag=flag if FLAG_PATTERN.match(flag) else "",
            state=state if state in ATTESTATION_STATES else "",
        )


def attestation_list(
    *, tenant: Any, filters: AttestationFilter | None = None, at: datetime | None = None
) -> QuerySet[ComplianceAttestation]:
    """The tenant's attestations, soonest expiry first, with people loaded."""
    at = at or timezone.now()
    filters = filters or AttestationFilter()
    qs = ComplianceAttestation.objects.for_tenant(tenant).select_related(
        "user", "recorded_by", "revoked_by"
    )
    if filters.flag:
        qs = qs.filter(flag=filters.flag)
    if filters.state == "revoked":
        return qs.filter(revoked_at__isnull=False).order_by("-revoked_at", "pk")
    qs = qs.filter(revoked_at__isnull=True)
    if filters.state == "active":
        qs = qs.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
    elif filters.state == "expiring":
        qs = qs.filter(expires_at__gt=at, expires_at__lte=at + ATTESTATION_EXPIRING_WITHIN)
    elif filters.state == "expired":
        qs = qs.filter(expires_at__lte=at)
    return qs.order_by(F("expires_at").asc(nulls_last=True), "user__email", "flag")


def attestation_get(*, tenant: Any, attestation_id: int) -> ComplianceAttestation | None:
    """One attestation of `tenant` (None for another tenant's id or one that does not exist)."""
    return (
        ComplianceAttestation.objects.for_tenant(tenant)
        .select_related("user", "tenant")
        .filter(pk=attestation_id)
        .first()
    )


def _attested_values(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("attr") == "context.attested":
            value = node.get("value")
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    yield item.strip().lower()
        for child in node.values():
            yield from _attested_values(child)
    elif isinstance(node, list):
        for child in node:
            yield from _attested_values(child)


def attestation_flag_choices(*, tenant: Any) -> list[tuple[str, str]]:
    """The flags an attestation may carry in `tenant`: the built-in ones, then any flag the
    tenant's current ABAC rules test (`context.attested contains <flag>`)."""
    choices = [(str(value), str(label)) for value, label in ComplianceFlag.choices]
    known = {value for value, _label in choices}
    extra: set[str] = set()
    for conditions in (
        PolicyRule.objects.for_tenant(tenant)
        .filter(is_current=True)
        .values_list("conditions", flat=True)
    ):
        extra.update(f for f in _attested_values(conditions) if FLAG_PATTERN.match(f))
    return choices + [(flag, flag) for flag in sorted(extra - known)]


def attestation_member_users(*, tenant: Any) -> QuerySet[Any]:
    """The people an attestation may be recorded for: active members of `tenant`."""
    members = Membership.objects.for_tenant(tenant).filter(is_active=True)
    return (
        get_user_model()
        .objects.filter(pk__in=members.values("user_id"), is_active=True)
        .order_by("email")
    )
