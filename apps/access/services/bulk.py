"""Set-based grant writes: revoke, suspend and create many grants in one transaction.

Each call runs a constant number of SQL statements whatever the number of grants, bumps the
policy version once per tenant and appends its audit events (one per grant, the same actions
as the per-row services; `grants_suspend_bulk` can instead write one event per 1,000 grants)
with one bulk append. The checks of `grant_create` are evaluated once
for the whole set: a spec the rules refuse is reported with the rule's message, the others are
created (as if `grant_create` had been called for each in order: SoD counts the earlier specs
of the set as held).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.access.models import Entitlement, Grant, GrantSource, Role, RoleEntitlement
from apps.access.policy import StandingRule, max_risk, standing_rule_for
from apps.access.services.common import grant_snapshot, policy_version_bump, scope_for
from apps.access.services.grants import (
    _check_role_for_subject,
    _check_standing_policy,
    _check_subject,
    _check_target,
    _check_tenant_status,
    _resolve_times,
)
from apps.access.sod import SodRuleData, sod_evaluate, sod_rules_load, subject_filter
from apps.core.audit.services import audit_events_record_bulk
from apps.core.exceptions import DomainError
from apps.core.tenancy import unscoped
from apps.tenants.models import Tenant

# Rows per statement for id lists (SQLite allows 32,766 parameters per statement).
ID_CHUNK = 5000
SNAPSHOT_RELATED = ("user", "service_account", "api_key", "entitlement", "role")
# Audit modes of `grants_suspend_bulk`, and the grants per event of the per-batch mode.
AUDIT_PER_OBJECT = "per_object"
AUDIT_PER_BATCH = "per_batch"
AUDIT_BATCH = 1000

__all__ = [
    "BulkCreateResult",
    "GrantSpec",
    "grants_create_bulk",
    "grants_revoke_bulk",
    "grants_revoke_for_user",
    "grants_suspend_bulk",
]


@dataclass
class GrantSpec:
    """One grant of a bulk create: a target and its times; the subject is the call's."""

    entitlement: Entitlement | None = None
    role: Role | None = None
    mapping_key: str = ""
    justification: str = ""
    starts_at: datetime | None = None
    expires_at: datetime | None = None
    duration: timedelta | None = None
    ticket_ref: str = ""
    approval_ref: str = ""
    key: str = ""  # how a refusal names this spec (default: mapping key, else the target)

    @property
    def label(self) -> str:
        if self.key:
            return self.key
        if self.mapping_key:
            return self.mapping_key
        target = self.entitlement if self.entitlement is not None else self.role
        return str(target) if target is not None else "?"


@dataclass
class BulkCreateResult:
    # In spec order; an identical active grant that already existed is returned, not duplicated.
    created: list[Grant] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (spec label, message)


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield list(ids[start : start + ID_CHUNK])


def _id_filters(grant_ids: Iterable[int] | QuerySet[Any]) -> list[Q]:
    """One filter per statement: a subquery for a queryset, id chunks for a list."""
    if isinstance(grant_ids, QuerySet):
        if grant_ids.model is Grant and not grant_ids.query.values_select:
            return [Q(pk__in=grant_ids.values("pk"))]
        return [Q(pk__in=grant_ids)]
    ids = sorted({int(i) for i in grant_ids})
    return [Q(pk__in=chunk) for chunk in _chunks(ids)]


def _actor_or_none(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def _lock_unended(
    tenant_id: int, grant_ids: Iterable[int] | QuerySet[Any], extra: Q
) -> list[Grant]:
    """Lock the tenant's unended grants among `grant_ids` (in id order, so two bulk writers
    never deadlock), with what their audit snapshots need."""
    rows: list[Grant] = []
    for id_q in _id_filters(grant_ids):
        rows += list(
            Grant.objects.for_tenant(tenant_id)
            .filter(id_q, extra, revoked_at__isnull=True)
            .select_related(*SNAPSHOT_RELATED)
            .select_for_update(of=("self",))
            .order_by("pk")
        )
    return rows


def _revoke_rows(
    *, actor: Any, tenant_id: int, grants: list[Grant], reason: str | dict[int, str]
) -> list[dict[str, Any]]:
    """Revoke the locked, unended `grants` (one UPDATE per chunk); return their audit events.
    `reason` may differ per grant (a dict by id)."""
    if not grants:
        return []
    now = timezone.now()
    by = _actor_or_none(actor)
    reasons = reason if isinstance(reason, dict) else {g.pk: reason for g in grants}
    distinct = set(reasons.values())
    for chunk in _chunks([g.pk for g in grants]):
        if len(distinct) == 1:
            reason_value: Any = next(iter(distinct)) or ""
        else:
            reason_value = Case(
                *[When(pk=pk, then=Value(reasons.get(pk) or "")) for pk in chunk],
                default=Value(""),
            )
        Grant.objects.for_tenant(tenant_id).filter(pk__in=chunk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=by, revoke_reason=reason_value, ends_at_due=None
        )
    events = []
    for grant in grants:
        text = reasons.get(grant.pk) or ""
        grant.revoked_at, grant.revoked_by, grant.revoke_reason = now, by, text
        grant.ends_at_due = None
        events.append(
            {
                "action": "access.grant.revoked",
                "actor": actor,
                "target": grant,
                "before": grant_snapshot(grant),
                "details": {"reason": reasons.get(grant.pk)},
            }
        )
    return events


def _finish(*, tenant_id: int, events: list[dict[str, Any]]) -> None:
    if events:
        policy_version_bump(tenant=tenant_id)
        audit_events_record_bulk(tenant=tenant_id, events=events)


def grants_revoke_bulk(
    *, actor: Any, tenant: Any, grant_ids: Iterable[int] | QuerySet[Any], reason: str
) -> list[int]:
    """Revoke the unended grants among `grant_ids` in `tenant` (others' grants are ignored);
    returns the ids this call revoked (idempotent: already revoked ones are not repeated)."""
    tenant_id = getattr(tenant, "pk", tenant)
    with scope_for(tenant), transaction.atomic():
        grants = _lock_unended(tenant_id, grant_ids, Q())
        events = _revoke_rows(actor=actor, tenant_id=tenant_id, grants=grants, reason=reason)
        _finish(tenant_id=tenant_id, events=events)
    return [g.pk for g in grants]


def _pk_in(ids: list[int]) -> Any:
    """`pk__in` for a long id list as ONE parameter (a PostgreSQL array, a JSON text on
    SQLite), not one placeholder per id."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (ids,))
    return RawSQL("SELECT value FROM json_each(%s)", (json.dumps(ids),))


def grants_suspend_bulk(
    *,
    actor: Any,
    tenant: Any,
    grant_ids: Iterable[int] | QuerySet[Any],
    reason: str,
    audit: str = AUDIT_PER_OBJECT,
    audit_details: dict[str, Any] | None = None,
) -> list[int]:
    """Suspend (pause, restorable with `grant_restore`) the unended, unsuspended grants among
    `grant_ids` in `tenant`; returns the ids this call suspended, in id order.

    `audit`: `"per_object"` (the default) appends one `access.grant.suspended` per grant;
    `"per_batch"`, for mass actions whose caller keeps each grant's prior state itself (an
    incident's grant snapshot), appends one `access.grants.suspended` per `AUDIT_BATCH` grants
    with their ids, built from ids alone (no model instances are loaded). `audit_details` is
    added to every event's details."""
    if audit not in (AUDIT_PER_OBJECT, AUDIT_PER_BATCH):
        raise ValueError(f"unknown audit mode {audit!r}")
    tenant_id = getattr(tenant, "pk", tenant)
    details = {**(audit_details or {}), "reason": reason}
    unsuspended = Q(suspended_at__isnull=True)
    with scope_for(tenant), transaction.atomic():
        grants: list[Grant] = []
        if audit == AUDIT_PER_OBJECT:
            grants = _lock_unended(tenant_id, grant_ids, unsuspended)
            ids = [g.pk for g in grants]
        else:
            # An id list goes in as one parameter (`_pk_in`), not in chunks of placeholders.
            filters = (
                _id_filters(grant_ids)
                if isinstance(grant_ids, QuerySet)
                else [Q(pk__in=_pk_in(sorted({int(i) for i in grant_ids})))]
            )
            ids = []
            for id_q in filters:
                ids += list(
                    Grant.objects.for_tenant(tenant_id)
                    .filter(id_q, unsuspended, revoked_at__isnull=True)
                    .select_for_update()
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
        now = timezone.now()
        by = _actor_or_none(actor)
        if ids:
            # The locked rows exactly (not the filter again: a grant committed since is not
            # among them).
            Grant.objects.for_tenant(tenant_id).filter(
                pk__in=_pk_in(ids), revoked_at__isnull=True, suspended_at__isnull=True
            ).update(suspended_at=now, suspended_by=by, suspend_reason=reason or "")
        events: list[dict[str, Any]] = []
        for grant in grants:
            grant.suspended_at, grant.suspended_by, grant.suspend_reason = now, by, reason or ""
            events.append(
                {
                    "action": "access.grant.suspended",
                    "actor": actor,
                    "target": grant,
                    "details": details,
                }
            )
        if audit == AUDIT_PER_BATCH:
            batches = -(-len(ids) // AUDIT_BATCH)
            for number, start in enumerate(range(0, len(ids), AUDIT_BATCH), start=1):
                chunk = ids[start : start + AUDIT_BATCH]
                events.append(
                    {
                        "action": "access.grants.suspended",
                        "actor": actor,
                        "target": f"{len(chunk)} grants",
                        "target_type": Grant._meta.label_lower,
                        "details": {
                            **details,
                            "count": len(chunk),
                            "ids": chunk,
                            "batch": number,
                            "batches": batches,
                            "total": len(ids),
                        },
                    }
                )
        _finish(tenant_id=tenant_id, events=events)
    return ids


def grants_revoke_for_user(
    *, actor: Any, user: Any, reason: str, tenant: Tenant | None = None
) -> int:
    """Revoke every unended grant of `user` in `tenant`, or in every tenant (a leaver): per
    tenant one lock, one UPDATE, one policy bump and one bulk audit append, all in one
    transaction. Returns how many grants were revoked."""
    if tenant is not None:
        with scope_for(tenant):
            return len(
                grants_revoke_bulk(
                    actor=actor,
                    tenant=tenant,
                    grant_ids=Grant.objects.for_tenant(tenant).filter(
                        user=user, revoked_at__isnull=True
                    ),
                    reason=reason,
                )
            )
    count = 0
    # cross-tenant: a leaver loses access in every tenant at once (audited per grant).
    with (
        unscoped(reason="leaver: revoke the person's grants in every tenant"),
        transaction.atomic(),
    ):
        locked = list(
            Grant.objects.filter(user=user, revoked_at__isnull=True)
            .select_related(*SNAPSHOT_RELATED)
            .select_for_update(of=("self",))
            .order_by("pk")
        )
        by_tenant: dict[int, list[Grant]] = {}
        for grant in locked:
            by_tenant.setdefault(grant.tenant_id, []).append(grant)
        for tenant_id, grants in sorted(by_tenant.items()):
            events = _revoke_rows(actor=actor, tenant_id=tenant_id, grants=grants, reason=reason)
            _finish(tenant_id=tenant_id, events=events)
            count += len(grants)
    return count


# --- bulk create --------------------------------------------------------------------------


class _SetContext:
    """What every spec of one bulk create is checked against, loaded once."""

    def __init__(
        self, *, tenant: Tenant, unended: list[Grant], specs: list[GrantSpec], now: datetime
    ):
        """`unended`: the subject's grants that are neither revoked nor expired (scheduled and
        suspended ones count for SoD, as in `sod.holdings`), read under the tenant lock."""
        self.tenant = tenant
        self.now = now
        self.rules: list[SodRuleData] = sod_rules_load(tenant)
        self.held_roles = {g.role_id for g in unended if g.role_id}
        self.held_ents = {g.entitlement_id for g in unended if g.entitlement_id}
        role_ids = {s.role.pk for s in specs if s.role is not None}
        self.role_ents: dict[int, list[int]] = {pk: [] for pk in role_ids}
        self.role_risks: dict[int, list[str]] = {pk: [] for pk in role_ids}
        # One read for the entitlements of the held roles (SoD) and of the roles asked for.
        if role_ids or self.held_roles:
            rows = RoleEntitlement.objects.filter(
                role_id__in=role_ids | self.held_roles
            ).values_list("role_id", "entitlement_id", "entitlement__risk")
            for role_id, ent_id, risk in rows:
                if role_id in self.held_roles:
                    self.held_ents.add(ent_id)
                if role_id in role_ids:
                    self.role_ents[role_id].append(ent_id)
                    self.role_risks[role_id].append(str(risk))
        self._standing: dict[str, StandingRule] = {}

    def standing(self, risk: str) -> StandingRule:
        if risk not in self._standing:
            self._standing[risk] = standing_rule_for(tenant=self.tenant, risk=risk)
        return self._standing[risk]

    def risk_of(self, spec: GrantSpec) -> str:
        if spec.entitlement is not None:
            return str(spec.entitlement.risk)
        assert spec.role is not None
        return max_risk(self.role_risks.get(spec.role.pk, []))

    def target_ents(self, spec: GrantSpec) -> list[int]:
        if spec.entitlement is not None:
            return [spec.entitlement.pk]
        assert spec.role is not None
        return self.role_ents.get(spec.role.pk, [])


def _identity(
    entitlement_id: int | None, role_id: int | None, mapping_key: str, approval_ref: str
) -> tuple[int | None, int | None, str, str]:
    return (entitlement_id, role_id, mapping_key[:200], approval_ref[:100])


def grants_create_bulk(
    *,
    actor: Any,
    tenant: Tenant,
    user: Any = None,
    service_account: Any = None,
    api_key: Any = None,
    specs: list[GrantSpec],
    source: str,
) -> BulkCreateResult:
    """Give one subject many grants at once, each checked like `grant_create` (tenant status,
    same-tenant target and subject, standing-access policy, SoD against the holdings and the
    set's earlier specs). Refused specs are reported with the rule's message; the rest are
    created in one INSERT, with one policy bump and one bulk audit append."""
    with scope_for(tenant), transaction.atomic():
        result, events = _create_set(
            actor=actor,
            tenant=tenant,
            user=user,
            service_account=service_account,
            api_key=api_key,
            specs=specs,
            source=source,
        )
        _finish(tenant_id=tenant.pk, events=events)
    return result


def _create_set(
    *,
    actor: Any,
    tenant: Tenant,
    user: Any,
    service_account: Any,
    api_key: Any,
    specs: list[GrantSpec],
    source: str,
) -> tuple[BulkCreateResult, list[dict[str, Any]]]:
    """The body of `grants_create_bulk` inside the caller's transaction and tenant scope:
    returns the result and the audit events still to append (the caller bumps and appends)."""
    result = BulkCreateResult()
    events: list[dict[str, Any]] = []
    if not specs:
        return result, events
    if source not in GrantSource.values:
        message = _("Unknown grant source %(source)s.") % {"source": source}
        result.refused = [(spec.label, message) for spec in specs]
        return result, events
    # The tenant row lock of grant_create, taken once for the set.
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    try:
        _check_tenant_status(locked, source)
        _check_subject(
            tenant=locked,
            user=user,
            service_account=service_account,
            api_key=api_key,
            role=None,
        )
    except DomainError as exc:
        result.refused = [(spec.label, exc.message) for spec in specs]
        return result, events
    now = timezone.now()
    subject_q = subject_filter(user=user, service_account=service_account, api_key=api_key)
    # The subject's unended grants, read once under the tenant lock: the SoD holdings and the
    # active grants of this source (a retried or re-asserted spec returns the grant it made).
    unended = list(
        Grant.objects.for_tenant(locked)
        .filter(subject_q, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("-pk")
    )
    ctx = _SetContext(tenant=locked, unended=unended, specs=specs, now=now)
    existing: dict[tuple[int | None, int | None, str, str], Grant] = {}
    for grant in unended:  # newest first, so the oldest identical one wins
        if grant.source != source or grant.suspended_at is not None or grant.starts_at > now:
            continue
        key = _identity(grant.entitlement_id, grant.role_id, grant.mapping_key, grant.approval_ref)
        existing[key] = grant
    vendor = bool(user is not None and user.is_vendor_staff)
    new: list[Grant] = []
    # (grant, risk, flag-mode hits) in spec order, for the audit events after the INSERT.
    made: list[tuple[Grant, str, list[Any]]] = []
    for spec in specs:
        try:
            _check_target(tenant=locked, entitlement=spec.entitlement, role=spec.role)
            _check_role_for_subject(user=user, role=spec.role)
            starts, expires = _resolve_times(
                starts_at=spec.starts_at,
                expires_at=spec.expires_at,
                duration=spec.duration,
                now=now,
            )
            identity = _identity(
                spec.entitlement.pk if spec.entitlement is not None else None,
                spec.role.pk if spec.role is not None else None,
                spec.mapping_key,
                spec.approval_ref,
            )
            if identity in existing:  # a retry, a re-asserted mapping
                result.created.append(existing[identity])
                continue
            risk = ctx.risk_of(spec)
            _check_standing_policy(
                tenant=locked,
                risk=risk,
                vendor=vendor,
                starts=starts,
                expires=expires,
                rule=ctx.standing(risk),
            )
            target_ents = ctx.target_ents(spec)
            hits = sod_evaluate(
                ctx.rules,
                ctx.held_roles,
                ctx.held_ents,
                new_role_id=spec.role.pk if spec.role is not None else None,
                new_entitlement_ids=target_ents,
            )
            denied = [h for h in hits if h.mode == "deny"]
            if denied:
                result.refused.append((spec.label, denied[0].message))
                continue
        except DomainError as exc:
            result.refused.append((spec.label, exc.message))
            continue
        grant = Grant(
            tenant=locked,
            user=user,
            service_account=service_account,
            api_key=api_key,
            entitlement=spec.entitlement,
            role=spec.role,
            source=source,
            starts_at=starts,
            expires_at=expires,
            ends_at_due=expires,
            justification=spec.justification,
            ticket_ref=spec.ticket_ref[:100],
            approval_ref=spec.approval_ref[:100],
            mapping_key=spec.mapping_key[:200],
            created_by=_actor_or_none(actor),
        )
        new.append(grant)
        made.append((grant, risk, hits))
        result.created.append(grant)
        if spec.role is not None:
            ctx.held_roles.add(spec.role.pk)
        ctx.held_ents |= set(target_ents)
        if starts <= now:
            existing[identity] = grant
    if new:
        Grant.objects.bulk_create(new, batch_size=500)
        for grant, risk, hits in made:
            events.append(
                {
                    "action": "access.grant.created",
                    "actor": actor,
                    "target": grant,
                    "after": grant_snapshot(grant),
                    "details": {"risk": risk, "vendor_staff": vendor},
                }
            )
            events += [
                {
                    "action": "access.sod.flagged",
                    "actor": actor,
                    "target": grant,
                    "outcome": "flagged",
                    "details": {
                        "rule": hit.rule_key,
                        "held": hit.held,
                        "threshold": hit.threshold,
                    },
                }
                for hit in hits
            ]
    return result, events
