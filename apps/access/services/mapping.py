"""Grants that come from somewhere else: IdP/SCIM group mappings (reconciled) and provisioning
templates (joiners). Both go through `grants_create_bulk` (the checks of `grant_create`, once
for the set), so the standing-access and SoD rules hold on these paths too; a refused mapping is
reported, not fatal to the whole sync."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.access.models import Entitlement, Grant, GrantSource, ProvisioningTemplate, Role
from apps.access.services.bulk import (
    GrantSpec,
    _create_set,
    _lock_unended,
    _revoke_rows,
    grants_create_bulk,
)
from apps.access.services.common import policy_version_bump, scope_for
from apps.core.audit.services import audit_events_record_bulk


@dataclass
class ReconcileResult:
    created: list[Grant] = field(default_factory=list)
    revoked: list[Grant] = field(default_factory=list)
    kept: list[Grant] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (key, message)
    # With `defer_audit=True`: the events for the caller to append in its own transaction.
    audit_events: list[dict[str, Any]] = field(default_factory=list)


def _key_of(item: Any) -> str:
    if isinstance(item, tuple | list):
        return str(item[0]) if item else ""
    return str(item)


def _resolve_targets(
    tenant: Any, keys: list[str]
) -> dict[str, tuple[Entitlement | None, Role | None]]:
    """Role keys first, then entitlement names (two queries for the whole set)."""
    roles = {r.key: r for r in Role.objects.for_tenant(tenant).filter(key__in=keys)}
    rest = [k for k in keys if k not in roles]
    ents = (
        {e.name: e for e in Entitlement.objects.for_tenant(tenant).filter(name__in=rest)}
        if rest
        else {}
    )
    found: dict[str, tuple[Entitlement | None, Role | None]] = {}
    for key in keys:
        if key in roles:
            found[key] = (None, roles[key])
        elif key in ents:
            found[key] = (ents[key], None)
    return found


def grants_reconcile_mapped(
    *,
    actor: Any,
    tenant: Any,
    user: Any,
    source: str,
    desired: Iterable[Any],
    mapping_prefix: str,
    defer_audit: bool = False,
) -> ReconcileResult:
    """Make the user's grants carrying `mapping_prefix` match `desired` (role keys or
    entitlement names, bare or as 1-tuples): create the missing ones, revoke the ones no longer
    wanted. Grants from requests (or another prefix) are never touched. Set-based: one revoke
    and one bulk create, one policy version bump, one bulk audit append — or, with
    `defer_audit=True` (the caller is in a transaction and appends them with its own events
    in one go), the events returned in `audit_events`."""
    if defer_audit and not transaction.get_connection().in_atomic_block:
        raise ValueError("defer_audit needs the caller's transaction")
    result = ReconcileResult()
    wanted = {k for k in (_key_of(d) for d in desired) if k}
    now = timezone.now()
    tenant_id = getattr(tenant, "pk", tenant)
    with scope_for(tenant), transaction.atomic():
        current = list(
            Grant.objects.for_tenant(tenant)
            .filter(user=user, mapping_key__startswith=mapping_prefix, revoked_at__isnull=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .order_by("pk")
        )
        have: dict[str, Grant] = {}
        reasons: dict[int, str] = {}
        for grant in current:
            key = grant.mapping_key[len(mapping_prefix) :]
            if key in wanted and key not in have:
                have[key] = grant
                result.kept.append(grant)
            else:
                reasons[grant.pk] = f"mapping no longer applies: {key}"
        events: list[dict[str, Any]] = []
        if reasons:
            locked = _lock_unended(tenant_id, list(reasons), Q())
            events = _revoke_rows(actor=actor, tenant_id=tenant_id, grants=locked, reason=reasons)
            ended = {g.pk: g for g in locked}
            result.revoked = [g for g in current if g.pk in reasons]
            for grant in result.revoked:  # the caller's objects show the revocation
                if grant.pk in ended:
                    done = ended[grant.pk]
                    grant.revoked_at, grant.revoked_by = done.revoked_at, done.revoked_by
                    grant.revoke_reason, grant.ends_at_due = done.revoke_reason, None
                else:  # revoked meanwhile by someone else
                    grant.refresh_from_db()
        missing = sorted(wanted - set(have))
        targets = _resolve_targets(tenant, missing) if missing else {}
        specs: list[GrantSpec] = []
        for key in missing:
            if key not in targets:
                result.unknown.append(key)
                continue
            entitlement, role = targets[key]
            specs.append(
                GrantSpec(
                    entitlement=entitlement,
                    role=role,
                    mapping_key=f"{mapping_prefix}{key}",
                    justification=f"mapped: {mapping_prefix}{key}",
                    key=key,
                )
            )
        made, created_events = _create_set(
            actor=actor,
            tenant=tenant,
            user=user,
            service_account=None,
            api_key=None,
            specs=specs,
            source=source,
        )
        result.created = made.created
        result.refused = made.refused
        # Revocations first, as the per-grant path did; one bump for the whole reconcile.
        events += created_events
        if events:
            policy_version_bump(tenant=tenant_id)
            if defer_audit:
                result.audit_events = events
            else:
                audit_events_record_bulk(tenant=tenant_id, events=events)
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
    then for an access request, not for onboarding. One bulk create for all the roles."""
    with scope_for(tenant):
        # Most tenants have no template: one EXISTS instead of two savepoints, the template
        # query and an empty bulk create on every joiner (SCIM creates thousands in a row).
        if not ProvisioningTemplate.objects.for_tenant(tenant).filter(active=True).exists():
            return []
    with scope_for(tenant), transaction.atomic():
        specs = [
            GrantSpec(
                role=role,
                mapping_key=f"template:{role.key}",
                justification="provisioning template",
            )
            for role in template_roles_for(tenant=tenant, attributes=attributes)
        ]
        made = grants_create_bulk(
            actor=actor, tenant=tenant, user=user, specs=specs, source=GrantSource.TEMPLATE
        )
    return made.created
