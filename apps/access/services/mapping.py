"""Grants that come from somewhere else: IdP/SCIM group mappings (reconciled) and provisioning
templates (joiners). Both go through `grant_create`, so the standing-access and SoD rules hold
on these paths too; a refused mapping is reported, not fatal to the whole sync."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.access.exceptions import PolicyViolation
from apps.access.models import Entitlement, Grant, GrantSource, ProvisioningTemplate, Role
from apps.access.services.common import scope_for
from apps.access.services.grants import grant_create, grant_revoke
from apps.core.exceptions import DomainError


@dataclass
class ReconcileResult:
    created: list[Grant] = field(default_factory=list)
    revoked: list[Grant] = field(default_factory=list)
    kept: list[Grant] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (key, message)


def _key_of(item: Any) -> str:
    if isinstance(item, tuple | list):
        return str(item[0]) if item else ""
    return str(item)


def _resolve_target(tenant: Any, key: str) -> tuple[Entitlement | None, Role | None]:
    role = Role.objects.for_tenant(tenant).filter(key=key).first()
    if role is not None:
        return None, role
    return Entitlement.objects.for_tenant(tenant).filter(name=key).first(), None


def grants_reconcile_mapped(
    *,
    actor: Any,
    tenant: Any,
    user: Any,
    source: str,
    desired: Iterable[Any],
    mapping_prefix: str,
) -> ReconcileResult:
    """Make the user's grants carrying `mapping_prefix` match `desired` (role keys or
    entitlement names, bare or as 1-tuples): create the missing ones, revoke the ones no longer
    wanted. Grants from requests (or another prefix) are never touched."""
    result = ReconcileResult()
    wanted = {k for k in (_key_of(d) for d in desired) if k}
    now = timezone.now()
    with scope_for(tenant), transaction.atomic():
        current = list(
            Grant.objects.for_tenant(tenant)
            .filter(user=user, mapping_key__startswith=mapping_prefix, revoked_at__isnull=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .order_by("pk")
        )
        have: dict[str, Grant] = {}
        for grant in current:
            key = grant.mapping_key[len(mapping_prefix) :]
            if key in wanted and key not in have:
                have[key] = grant
                result.kept.append(grant)
            else:
                grant_revoke(actor=actor, grant=grant, reason=f"mapping no longer applies: {key}")
                result.revoked.append(grant)
        for key in sorted(wanted - set(have)):
            entitlement, role = _resolve_target(tenant, key)
            if entitlement is None and role is None:
                result.unknown.append(key)
                continue
            try:
                with transaction.atomic():
                    grant = grant_create(
                        actor=actor,
                        tenant=tenant,
                        user=user,
                        entitlement=entitlement,
                        role=role,
                        source=source,
                        mapping_key=f"{mapping_prefix}{key}",
                        justification=f"mapped: {mapping_prefix}{key}",
                    )
            except DomainError as exc:
                result.refused.append((key, exc.message))
                continue
            result.created.append(grant)
    return result


def _criteria_match(criteria: dict[str, Any], attributes: dict[str, Any]) -> bool:
    for name, expected in (criteria or {}).items():
        value = attributes.get(name)
        if isinstance(expected, list):
            if str(value).lower() not in {str(v).lower() for v in expected}:
                return False
        elif str(value).lower() != str(expected).lower():
            return False
    return True


def template_roles_for(*, tenant: Any, attributes: dict[str, Any]) -> list[Role]:
    """Roles of every active provisioning template whose criteria match, in priority order."""
    with scope_for(tenant):
        templates = (
            ProvisioningTemplate.objects.for_tenant(tenant)
            .filter(active=True)
            .prefetch_related("roles")
            .order_by("priority", "pk")
        )
        roles: dict[int, Role] = {}
        for template in templates:
            if _criteria_match(template.criteria, attributes):
                for role in template.roles.all():
                    roles.setdefault(role.pk, role)
        return list(roles.values())


def templates_apply(
    *, actor: Any, tenant: Any, user: Any, attributes: dict[str, Any]
) -> list[Grant]:
    """Give a joiner the roles of the matching templates (standing where policy allows it).
    A role the policy refuses (e.g. a high-risk role that must be time-bound) is skipped: it is
    then for an access request, not for onboarding."""
    grants: list[Grant] = []
    with scope_for(tenant), transaction.atomic():
        for role in template_roles_for(tenant=tenant, attributes=attributes):
            try:
                with transaction.atomic():
                    grants.append(
                        grant_create(
                            actor=actor,
                            tenant=tenant,
                            user=user,
                            role=role,
                            source=GrantSource.TEMPLATE,
                            mapping_key=f"template:{role.key}",
                            justification="provisioning template",
                        )
                    )
            except PolicyViolation:
                continue
    return grants
