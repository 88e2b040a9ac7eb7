"""Separation of duties: which toxic combinations a subject's holdings (plus a new target)
would complete. Shared by `grant_create` (deny rules refuse) and the engine (`sod_check`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.access.models import Grant, RoleEntitlement, SodRule


@dataclass(frozen=True, slots=True)
class SodRuleData:
    pk: int
    key: str
    name: str
    mode: str
    threshold: int
    entitlement_ids: frozenset[int]
    role_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class SodHit:
    rule_key: str
    rule_name: str
    mode: str
    held: int
    threshold: int
    message: str


def sod_rules_load(tenant: Any) -> list[SodRuleData]:
    rules = (
        SodRule.objects.for_tenant(tenant)
        .filter(enabled=True)
        .prefetch_related("entitlements", "roles")
        .order_by("key")
    )
    return [
        SodRuleData(
            pk=r.pk,
            key=r.key,
            name=r.name,
            mode=r.mode,
            threshold=r.threshold,
            entitlement_ids=frozenset(e.pk for e in r.entitlements.all()),
            role_ids=frozenset(x.pk for x in r.roles.all()),
        )
        for r in rules
    ]


def role_entitlement_map(tenant: Any, role_ids: Iterable[int] | None = None) -> dict[int, set[int]]:
    rows = RoleEntitlement.objects.for_tenant(tenant)
    if role_ids is not None:
        rows = rows.filter(role_id__in=list(role_ids))
    result: dict[int, set[int]] = {}
    for role_id, ent_id in rows.values_list("role_id", "entitlement_id"):
        result.setdefault(role_id, set()).add(ent_id)
    return result


def subject_filter(*, user: Any = None, service_account: Any = None, api_key: Any = None) -> Q:
    if user is not None:
        return Q(user=user)
    if service_account is not None:
        return Q(service_account=service_account)
    return Q(api_key=api_key)


def holdings(tenant: Any, subject_q: Q, *, at: datetime | None = None) -> tuple[set[int], set[int]]:
    """(role ids, entitlement ids incl. through roles) of the subject's unended grants:
    scheduled and suspended ones count (they can become active without a new decision)."""
    at = at or timezone.now()
    rows = (
        Grant.objects.for_tenant(tenant)
        .filter(subject_q, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .values_list("role_id", "entitlement_id")
    )
    roles: set[int] = set()
    ents: set[int] = set()
    for role_id, ent_id in rows:
        if role_id:
            roles.add(role_id)
        if ent_id:
            ents.add(ent_id)
    for ent_ids in role_entitlement_map(tenant, roles).values():
        ents |= ent_ids
    return roles, ents


def sod_evaluate(
    rules: Iterable[SodRuleData],
    roles: set[int],
    ents: set[int],
    *,
    new_role_id: int | None = None,
    new_entitlement_ids: Iterable[int] = (),
) -> list[SodHit]:
    """Rules that the holdings plus the new target complete. With a new target, only rules the
    target takes part in are reported (an older violation is a finding, not this grant's)."""
    new_ents = set(new_entitlement_ids)
    all_roles = roles | ({new_role_id} if new_role_id else set())
    all_ents = ents | new_ents
    hits: list[SodHit] = []
    for rule in rules:
        if new_role_id is not None or new_ents:
            involved = (new_role_id in rule.role_ids) or bool(new_ents & rule.entitlement_ids)
            if not involved:
                continue
        held = len(rule.entitlement_ids & all_ents) + len(rule.role_ids & all_roles)
        if held >= rule.threshold:
            hits.append(
                SodHit(
                    rule_key=rule.key,
                    rule_name=rule.name,
                    mode=rule.mode,
                    held=held,
                    threshold=rule.threshold,
                    message=_(
                        "Separation-of-duties rule “%(rule)s” (%(key)s): %(held)d of its items "
                        "would be held together; %(threshold)d or more are not allowed."
                    )
                    % {
                        "rule": rule.name,
                        "key": rule.key,
                        "held": held,
                        "threshold": rule.threshold,
                    },
                )
            )
    return hits
