"""Campaigns: create, generate the review items (set-based), close with the auto-decision,
sign off, and spawn the next run of a recurring campaign."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.access.models import (
    RISK_RANK,
    Entitlement,
    Grant,
    RiskLevel,
    Role,
    RoleEntitlement,
)
from apps.access.policy import max_risk
from apps.access.sod import sod_rules_load
from apps.certification.exceptions import (
    CampaignClosed,
    CertificationError,
    ScopeEmpty,
)
from apps.certification.models import (
    AutoDecision,
    Campaign,
    CampaignStatus,
    Decision,
    EffectState,
    EffectTiming,
    JointMode,
    Outcome,
    Recurrence,
    ReviewDecision,
    ReviewerPolicy,
    ReviewItem,
    ScopeKind,
)
from apps.certification.services.common import (
    audit_bulk,
    eligible_reviewer,
    grants_revoke,
    last_admin_conflicts,
    require_manage,
    scope_for,
)
from apps.core.audit.services import audit_event_record
from apps.tenants.models import Environment, Membership, Tenant

BATCH = 2_000
HIGH_RISKS = (RiskLevel.HIGH, RiskLevel.CRITICAL)


def _remind_before() -> timedelta:
    return timedelta(hours=getattr(settings, "CERTIFICATION_REMIND_HOURS_BEFORE", 72))


def _escalate_before() -> timedelta:
    return timedelta(hours=getattr(settings, "CERTIFICATION_ESCALATE_HOURS_BEFORE", 24))


# --- create -----------------------------------------------------------------------------------
def _validate(
    *,
    tenant: Tenant,
    name: str,
    scope_kind: str,
    due_at: datetime,
    scope_environment: Environment | None,
    scope_role: Role | None,
    reviewers: dict[str, Any],
) -> None:
    if not name.strip():
        raise CertificationError(_("Give the campaign a name."), code="name")
    if scope_kind not in ScopeKind.values:
        raise CertificationError(_("Unknown campaign scope."), code="scope_kind")
    if due_at <= timezone.now():
        raise CertificationError(_("The due date must be in the future."), code="due_at")
    if scope_kind == ScopeKind.ENVIRONMENT and (
        scope_environment is None or scope_environment.tenant_id != tenant.pk
    ):
        raise CertificationError(_("Choose an environment of this tenant."), code="environment")
    if scope_kind == ScopeKind.ROLE and (scope_role is None or scope_role.tenant_id != tenant.pk):
        raise CertificationError(_("Choose a role of this tenant."), code="role")
    for label, user in reviewers.items():
        if user is not None and not eligible_reviewer(user=user, tenant=tenant):
            raise CertificationError(
                _("%(who)s cannot review in this tenant (not an active member or vendor staff).")
                % {"who": user},
                code=label,
            )
    customer = reviewers.get("customer_reviewer")
    if customer is not None and getattr(customer, "is_vendor_staff", False):
        raise CertificationError(
            _("The customer representative must be a member of the customer's tenant."),
            code="customer_reviewer",
        )


@transaction.atomic
def campaign_create(
    *,
    actor: Any,
    tenant: Tenant,
    name: str,
    scope_kind: str,
    due_at: datetime,
    description: str = "",
    origin: str = "",
    scope_environment: Environment | None = None,
    scope_role: Role | None = None,
    scope_grant_ids: list[int] | None = None,
    reviewer_policy: str = ReviewerPolicy.RESOURCE_OWNER,
    default_reviewer: Any = None,
    fallback_reviewer: Any = None,
    customer_reviewer: Any = None,
    co_managed_environment_ids: list[int] | None = None,
    joint_mode: str = JointMode.BOTH,
    recurrence: str = Recurrence.ONCE,
    effect_timing: str = EffectTiming.ON_DECISION,
    auto_decision: str = AutoDecision.KEEP_FLAG,
    starts_at: datetime | None = None,
    previous: Campaign | None = None,
) -> Campaign:
    """A draft campaign; `campaign_launch` generates its items."""
    require_manage(actor=actor, tenant=tenant)
    with scope_for(tenant):
        _validate(
            tenant=tenant,
            name=name,
            scope_kind=scope_kind,
            due_at=due_at,
            scope_environment=scope_environment,
            scope_role=scope_role,
            reviewers={
                "default_reviewer": default_reviewer,
                "fallback_reviewer": fallback_reviewer,
                "customer_reviewer": customer_reviewer,
            },
        )
        for value, choices in (
            (reviewer_policy, ReviewerPolicy),
            (joint_mode, JointMode),
            (recurrence, Recurrence),
            (effect_timing, EffectTiming),
            (auto_decision, AutoDecision),
        ):
            if value not in choices.values:
                raise CertificationError(_("Invalid campaign setting."), code="setting")
        if reviewer_policy == ReviewerPolicy.INTERNAL and default_reviewer is None:
            raise CertificationError(
                _("Name the internal reviewer for an internal-reviewer campaign."),
                code="default_reviewer",
            )
        campaign = Campaign.objects.create(
            tenant=tenant,
            name=name.strip()[:200],
            description=description,
            origin=origin[:200],
            scope_kind=scope_kind,
            scope_environment=scope_environment if scope_kind == ScopeKind.ENVIRONMENT else None,
            scope_role=scope_role if scope_kind == ScopeKind.ROLE else None,
            scope_grant_ids=sorted({int(g) for g in scope_grant_ids or []}),
            reviewer_policy=reviewer_policy,
            default_reviewer=default_reviewer,
            fallback_reviewer=fallback_reviewer,
            customer_reviewer=customer_reviewer,
            co_managed_environment_ids=sorted({int(e) for e in co_managed_environment_ids or []}),
            joint_mode=joint_mode,
            recurrence=recurrence,
            effect_timing=effect_timing,
            auto_decision=auto_decision,
            starts_at=starts_at or timezone.now(),
            due_at=due_at,
            previous=previous,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        audit_event_record(
            action="certification.campaign.created",
            actor=actor,
            tenant=tenant,
            target=campaign,
            after={
                "name": campaign.name,
                "scope": scope_kind,
                "due_at": due_at.isoformat(),
                "reviewer_policy": reviewer_policy,
                "joint_mode": joint_mode,
                "recurrence": recurrence,
                "effect_timing": effect_timing,
                "auto_decision": auto_decision,
                "origin": origin,
            },
        )
    return campaign


def campaign_create_from_grants(
    *,
    actor: Any,
    tenant: Tenant,
    name: str,
    grant_ids: list[int],
    due_at: datetime,
    origin: str,
    reviewer: Any = None,
) -> Campaign:
    """A launched campaign over an explicit set of grants (e.g. the grants an incident
    touched). Reviewed by `reviewer` when given (also the fallback for items without an
    owner), else by each environment's owner. Refuses an empty set: nothing is created."""
    ids = sorted({int(g) for g in grant_ids})
    if not ids:
        raise ScopeEmpty(_("No grants were given, so there is nothing to review."), code="empty")
    with scope_for(tenant), transaction.atomic():
        campaign = campaign_create(
            actor=actor,
            tenant=tenant,
            name=name,
            scope_kind=ScopeKind.GRANT_SET,
            scope_grant_ids=ids,
            due_at=due_at,
            origin=origin,
            reviewer_policy=(
                ReviewerPolicy.INTERNAL if reviewer is not None else ReviewerPolicy.RESOURCE_OWNER
            ),
            default_reviewer=reviewer or (actor if getattr(actor, "pk", None) else None),
            fallback_reviewer=actor if getattr(actor, "pk", None) else None,
        )
        return campaign_launch(actor=actor, campaign=campaign)


# --- generation -------------------------------------------------------------------------------
def scope_grants(campaign: Campaign, *, now: datetime | None = None) -> QuerySet[Grant]:
    """The unended grants the campaign's scope covers (suspended ones included: they can be
    restored without a new decision)."""
    now = now or timezone.now()
    tenant_id = campaign.tenant_id
    qs = (
        Grant.objects.for_tenant(tenant_id)
        .filter(revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    )
    kind = campaign.scope_kind
    if kind == ScopeKind.ENVIRONMENT:
        roles = RoleEntitlement.objects.for_tenant(tenant_id).filter(
            entitlement__environment_id=campaign.scope_environment_id
        )
        qs = qs.filter(
            Q(entitlement__environment_id=campaign.scope_environment_id)
            | Q(role_id__in=roles.values("role_id"))
        )
    elif kind == ScopeKind.ROLE:
        qs = qs.filter(role_id=campaign.scope_role_id)
    elif kind == ScopeKind.HIGH_RISK:
        roles = RoleEntitlement.objects.for_tenant(tenant_id).filter(
            entitlement__risk__in=HIGH_RISKS
        )
        qs = qs.filter(Q(entitlement__risk__in=HIGH_RISKS) | Q(role_id__in=roles.values("role_id")))
    elif kind == ScopeKind.VENDOR_STAFF:
        qs = qs.filter(user__kind="staff")
    elif kind == ScopeKind.GRANT_SET:
        qs = qs.filter(pk__in=list(campaign.scope_grant_ids or []))
    return qs


GRANT_FIELDS = (
    "pk",
    "user_id",
    "service_account_id",
    "api_key_id",
    "entitlement_id",
    "role_id",
    "source",
    "approval_ref",
    "ticket_ref",
    "justification",
    "created_at",
    "expires_at",
    "last_used_at",
    "user__email",
    "user__full_name",
    "user__kind",
    "service_account__name",
    "service_account__owner_id",
    "api_key__name",
)


@dataclass
class _Context:
    """Everything generation needs, read with a constant number of queries."""

    ents: dict[int, tuple[str, int, str, str]]  # id -> (name, environment id, level, risk)
    roles: dict[int, str]  # id -> name
    role_ents: dict[int, set[int]]
    env_owner: dict[int, int | None]
    members: dict[int, tuple[str, int | None]]  # user id -> (department, manager id)
    dept_size: dict[str, int]
    holders: dict[tuple[str, str, int], set[int]]  # (department, "e"/"r", id) -> user ids
    subject_roles: dict[tuple[str, int], set[int]]
    subject_ents: dict[tuple[str, int], set[int]]
    sod_rules: list[Any]
    co_managed: set[int] | None  # None: every environment
    extra: dict[str, Any] = field(default_factory=dict)


def _load_context(campaign: Campaign, now: datetime) -> _Context:
    tenant_id = campaign.tenant_id
    ents = {
        pk: (name, env, level, risk)
        for pk, name, env, level, risk in Entitlement.objects.for_tenant(tenant_id).values_list(
            "pk", "name", "environment_id", "level", "risk"
        )
    }
    roles = dict(Role.objects.for_tenant(tenant_id).values_list("pk", "name"))
    role_ents: dict[int, set[int]] = defaultdict(set)
    for role_id, ent_id in RoleEntitlement.objects.for_tenant(tenant_id).values_list(
        "role_id", "entitlement_id"
    ):
        role_ents[role_id].add(ent_id)
    env_owner = dict(Environment.objects.for_tenant(tenant_id).values_list("pk", "owner_id"))
    members: dict[int, tuple[str, int | None]] = {}
    dept_size: dict[str, int] = defaultdict(int)
    for user_id, dept, manager_id in (
        Membership.objects.for_tenant(tenant_id)
        .filter(is_active=True)
        .values_list("user_id", "department", "manager_id")
    ):
        members[user_id] = (dept or "", manager_id)
        if dept:
            dept_size[dept] += 1
    holders: dict[tuple[str, str, int], set[int]] = defaultdict(set)
    subject_roles: dict[tuple[str, int], set[int]] = defaultdict(set)
    subject_ents: dict[tuple[str, int], set[int]] = defaultdict(set)
    every = (
        Grant.objects.for_tenant(tenant_id)
        .filter(revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values_list("user_id", "service_account_id", "api_key_id", "role_id", "entitlement_id")
    )
    for user_id, sa_id, key_id, role_id, ent_id in every.iterator(chunk_size=10_000):
        subject = _subject_key(user_id, sa_id, key_id)
        if role_id:
            subject_roles[subject].add(role_id)
        if ent_id:
            subject_ents[subject].add(ent_id)
        if user_id and user_id in members and members[user_id][0]:
            dept = members[user_id][0]
            holders[(dept, "r" if role_id else "e", role_id or ent_id)].add(user_id)
    co = campaign.co_managed_environment_ids or []
    return _Context(
        ents=ents,
        roles=roles,
        role_ents=role_ents,
        env_owner=env_owner,
        members=members,
        dept_size=dept_size,
        holders=holders,
        subject_roles=subject_roles,
        subject_ents=subject_ents,
        sod_rules=sod_rules_load(tenant_id),
        co_managed=set(co) if co else None,
    )


def _subject_key(user_id: int | None, sa_id: int | None, key_id: int | None) -> tuple[str, int]:
    if user_id:
        return ("u", user_id)
    if sa_id:
        return ("s", sa_id)
    return ("k", key_id or 0)


def _sod_findings(ctx: _Context, subject: tuple[str, int], row: dict[str, Any]) -> list[str]:
    if not ctx.sod_rules:
        return []
    roles = ctx.subject_roles.get(subject, set())
    ents = set(ctx.subject_ents.get(subject, set()))
    for role_id in roles:
        ents |= ctx.role_ents.get(role_id, set())
    target_ents = (
        {row["entitlement_id"]}
        if row["entitlement_id"]
        else ctx.role_ents.get(row["role_id"], set())
    )
    found = []
    for rule in ctx.sod_rules:
        involved = (row["role_id"] in rule.role_ids) or bool(target_ents & rule.entitlement_ids)
        if not involved:
            continue
        held = len(rule.entitlement_ids & ents) + len(rule.role_ids & roles)
        if held >= rule.threshold:
            found.append(f"{rule.name} ({held}/{rule.threshold})")
    return found


def _reviewer_for(
    campaign: Campaign, ctx: _Context, row: dict[str, Any], environment_id: int | None
) -> int | None:
    candidates: list[int | None] = []
    if campaign.reviewer_policy == ReviewerPolicy.RESOURCE_OWNER:
        candidates.append(ctx.env_owner.get(environment_id) if environment_id else None)
    elif campaign.reviewer_policy == ReviewerPolicy.MANAGER:
        if row["user_id"]:
            candidates.append(ctx.members.get(row["user_id"], ("", None))[1])
        else:
            candidates.append(row["service_account__owner_id"])
    candidates += [
        campaign.default_reviewer_id,
        campaign.fallback_reviewer_id,
        campaign.created_by_id,
    ]
    # Nobody certifies their own access.
    for candidate in candidates:
        if candidate and candidate != row["user_id"]:
            return candidate
    return None


def _item_for(campaign: Campaign, ctx: _Context, row: dict[str, Any]) -> dict[str, Any] | None:
    """The review item's column values (attribute names) for one grant row."""
    user_id = row["user_id"]
    subject = _subject_key(user_id, row["service_account_id"], row["api_key_id"])
    if row["entitlement_id"]:
        name, environment_id, level, risk = ctx.ents.get(
            row["entitlement_id"], ("?", None, "", RiskLevel.MEDIUM)
        )
        target_label = name
        key = ("e", row["entitlement_id"])
    else:
        role_ents = ctx.role_ents.get(row["role_id"], set())
        envs = {ctx.ents[e][1] for e in role_ents if e in ctx.ents}
        environment_id = next(iter(envs)) if len(envs) == 1 else None
        level = ""
        risk = (
            max_risk([ctx.ents[e][3] for e in role_ents if e in ctx.ents])
            if role_ents
            else (RiskLevel.LOW)
        )
        target_label = ctx.roles.get(row["role_id"], "?")
        key = ("r", row["role_id"])
    if user_id:
        label = row["user__full_name"] or row["user__email"] or "?"
        kind = "user"
    elif row["service_account_id"]:
        label, kind = row["service_account__name"] or "?", "service_account"
    else:
        label, kind = row["api_key__name"] or "?", "api_key"
    department = ctx.members.get(user_id, ("", None))[0] if user_id else ""
    peer_total = peer_holders = 0
    if department:
        peer_total = max(ctx.dept_size.get(department, 1) - 1, 0)
        holders = ctx.holders.get((department, key[0], key[1]), set())
        peer_holders = len(holders) - (1 if user_id in holders else 0)
    reviewer_id = _reviewer_for(campaign, ctx, row, environment_id)
    if reviewer_id is None:
        return None
    customer_id = None
    co_managed = ctx.co_managed is None or (
        environment_id is not None and environment_id in ctx.co_managed
    )
    if (
        campaign.customer_reviewer_id
        and co_managed
        and campaign.customer_reviewer_id not in (user_id, reviewer_id)
    ):
        customer_id = campaign.customer_reviewer_id
    findings = _sod_findings(ctx, subject, row)
    return {
        "grant_id": row["pk"],
        "reviewer_id": reviewer_id,
        "customer_reviewer_id": customer_id,
        "subject_user_id": user_id,
        "subject_label": label[:255],
        "subject_kind": kind,
        "vendor_staff": row["user__kind"] == "staff",
        "department": department[:100],
        "environment_id": environment_id,
        "entitlement_id": row["entitlement_id"],
        "role_id": row["role_id"],
        "target_label": target_label[:255],
        "level": level,
        "risk": risk,
        "source": row["source"],
        "approval_ref": row["approval_ref"][:100],
        "ticket_ref": row["ticket_ref"][:100],
        "justification": (row["justification"] or "")[:300],
        "granted_at": row["created_at"],
        "expires_at": row["expires_at"],
        "last_used_at": row["last_used_at"],
        "sod_findings": findings,
        "has_sod": bool(findings),
        "peer_total": peer_total,
        "peer_holders": peer_holders,
    }


ITEM_TYPES = {  # jsonb_to_recordset column types of the PostgreSQL fast path
    "grant_id": "bigint",
    "reviewer_id": "bigint",
    "customer_reviewer_id": "bigint",
    "subject_user_id": "bigint",
    "subject_label": "text",
    "subject_kind": "text",
    "vendor_staff": "boolean",
    "department": "text",
    "environment_id": "bigint",
    "entitlement_id": "bigint",
    "role_id": "bigint",
    "target_label": "text",
    "level": "text",
    "risk": "text",
    "source": "text",
    "approval_ref": "text",
    "ticket_ref": "text",
    "justification": "text",
    "granted_at": "timestamptz",
    "expires_at": "timestamptz",
    "last_used_at": "timestamptz",
    "sod_findings": "jsonb",
    "has_sod": "boolean",
    "peer_total": "integer",
    "peer_holders": "integer",
}


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _items_insert(campaign: Campaign, rows: list[dict[str, Any]]) -> None:
    """Insert a batch of items: one INSERT ... SELECT FROM jsonb_to_recordset on PostgreSQL (no
    model instances: generation is bound by this), bulk_create elsewhere."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        ReviewItem.objects.bulk_create(
            [ReviewItem(tenant_id=campaign.tenant_id, campaign_id=campaign.pk, **r) for r in rows],
            batch_size=BATCH,
        )
        return
    names = list(ITEM_TYPES)
    table = ReviewItem._meta.db_table
    columns = ", ".join(names)
    record = ", ".join(f"{n} {t}" for n, t in ITEM_TYPES.items())
    sql = (
        f"INSERT INTO {table} (tenant_id, campaign_id, reviewer_decision, customer_decision, "  # noqa: S608
        f"outcome, effect, effect_note, {columns}) "
        f"SELECT %s, %s, '', '', %s, '', '', {columns} "
        f"FROM jsonb_to_recordset(%s::jsonb) AS u({record})"
    )
    payload = json.dumps(rows, default=_json_default)
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign.tenant_id, campaign.pk, Outcome.PENDING, payload])


@transaction.atomic
def campaign_launch(*, actor: Any, campaign: Campaign) -> Campaign:
    """Generate one review item per grant in scope and open the campaign. Refuses (and
    changes nothing) when the scope is empty or an item would have nobody to review it."""
    require_manage(actor=actor, tenant=campaign.tenant_id)
    with scope_for(campaign.tenant_id):
        locked = Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        if locked is None or locked.status != CampaignStatus.DRAFT:
            raise CampaignClosed(_("This campaign has been launched already."), code="launched")
        now = timezone.now()
        if locked.due_at <= now:
            raise CertificationError(
                _("The due date has passed; set a new one before launching."), code="due_at"
            )
        grants = scope_grants(locked, now=now)
        rows = grants.values(*GRANT_FIELDS).order_by("pk")
        ctx = _load_context(locked, now)
        batch: list[dict[str, Any]] = []
        total = 0
        orphans = 0
        for row in rows.iterator(chunk_size=BATCH):
            item = _item_for(locked, ctx, row)
            if item is None:
                orphans += 1
                continue
            batch.append(item)
            if len(batch) >= BATCH:
                _items_insert(locked, batch)
                total += len(batch)
                batch = []
        if batch:
            _items_insert(locked, batch)
            total += len(batch)
        if orphans:
            raise CertificationError(
                _(
                    "%(n)d grants have nobody to review them (no owner or manager). "
                    "Name an internal reviewer for the campaign and launch again."
                )
                % {"n": orphans},
                code="no_reviewer",
            )
        if total == 0:
            raise ScopeEmpty(
                _(
                    "The campaign's scope has no current grants, so there is nothing to review. "
                    "Change the scope or close the draft."
                ),
                code="empty",
            )
        remind = locked.due_at - _remind_before()
        escalate = locked.due_at - _escalate_before()
        Campaign.objects.filter(pk=locked.pk).update(
            status=CampaignStatus.ACTIVE,
            launched_at=now,
            items_total=total,
            remind_at=max(remind, now),
            escalate_at=max(escalate, now),
            close_at=locked.due_at,
        )
        locked.refresh_from_db()
        audit_event_record(
            action="certification.campaign.launched",
            actor=actor,
            tenant=locked.tenant_id,
            target=locked,
            after={"items": total, "due_at": locked.due_at.isoformat()},
        )
        campaign.refresh_from_db()
    return campaign


# --- close ------------------------------------------------------------------------------------
@dataclass
class CloseResult:
    auto_revoked: int = 0
    flagged: int = 0
    revoked: int = 0
    reduced: int = 0
    refused: list[str] = field(default_factory=list)
    next_campaign: Campaign | None = None


def _apply_reduce(*, actor: Any, item: ReviewItem, campaign: Campaign) -> int:
    """Replace the item's grant by a grant of the narrower entitlement (returns its id)."""
    from apps.access.services import grant_create, grant_revoke

    grant = Grant.objects.for_tenant(campaign.tenant_id).get(pk=item.grant_id)
    target = Entitlement.objects.for_tenant(campaign.tenant_id).get(pk=item.reduce_to_id)
    now = timezone.now()
    new = grant_create(
        actor=actor,
        tenant=campaign.tenant,
        user=grant.user,
        service_account=grant.service_account,
        api_key=grant.api_key,
        entitlement=target,
        source=grant.source,
        expires_at=grant.expires_at if grant.expires_at and grant.expires_at > now else None,
        justification=_("Reduced in certification campaign “%(name)s” from %(old)s.")
        % {"name": campaign.name, "old": item.target_label},
        ticket_ref=grant.ticket_ref,
        approval_ref=f"certification:{campaign.pk}:{item.pk}",
    )
    grant_revoke(
        actor=actor,
        grant=grant,
        reason=_("Reduced to %(new)s in certification campaign “%(name)s”.")
        % {"new": target.name, "name": campaign.name},
    )
    return int(new.pk)


def apply_effects(*, actor: Any, campaign: Campaign, item_ids: list[int]) -> CloseResult:
    """Carry out decided revocations and reductions of `item_ids` that wait for it. A
    refusal (last-admin rule, standing-access policy) leaves the access and records why."""
    from apps.core.exceptions import DomainError

    result = CloseResult()
    items = ReviewItem.objects.for_tenant(campaign.tenant_id).filter(
        pk__in=item_ids, effect=EffectState.WAITING
    )
    revokes = dict(items.filter(outcome=Outcome.REVOKED).values_list("grant_id", "pk"))
    if revokes:
        blocked = last_admin_conflicts(tenant=campaign.tenant_id, grant_ids=revokes)
        if blocked:
            note = _("Not revoked: the tenant would be left without an admin.")
            ReviewItem.objects.for_tenant(campaign.tenant_id).filter(
                pk__in=[revokes[g] for g in blocked]
            ).update(effect=EffectState.FAILED, effect_note=note)
            result.refused.append(note)
        todo = [g for g in revokes if g not in blocked]
        grants_revoke(
            actor=actor,
            tenant=campaign.tenant_id,
            grant_ids=todo,
            reason=_("Revoked in certification campaign “%(name)s”.") % {"name": campaign.name},
        )
        ReviewItem.objects.for_tenant(campaign.tenant_id).filter(
            pk__in=[revokes[g] for g in todo]
        ).update(effect=EffectState.DONE)
        result.revoked = len(todo)
    for item in items.filter(outcome=Outcome.REDUCED).order_by("pk"):
        if last_admin_conflicts(tenant=campaign.tenant_id, grant_ids=[item.grant_id]):
            note = _("Not reduced: the tenant would be left without an admin.")
            ReviewItem.objects.filter(pk=item.pk).update(
                effect=EffectState.FAILED, effect_note=note
            )
            result.refused.append(note)
            continue
        try:
            with transaction.atomic():
                new_id = _apply_reduce(actor=actor, item=item, campaign=campaign)
        except DomainError as exc:
            ReviewItem.objects.filter(pk=item.pk).update(
                effect=EffectState.FAILED, effect_note=exc.message[:2000]
            )
            result.refused.append(exc.message)
            continue
        ReviewItem.objects.filter(pk=item.pk).update(
            effect=EffectState.DONE, replacement_grant_id=new_id
        )
        result.reduced += 1
    return result


@transaction.atomic
def campaign_close(*, actor: Any, campaign: Campaign) -> CloseResult:
    """Close: unreviewed items get the campaign's auto-decision, waiting revocations and
    reductions take effect, and a recurring campaign spawns its next run."""
    require_manage(actor=actor, tenant=campaign.tenant_id)
    with scope_for(campaign.tenant_id):
        now = timezone.now()
        claimed = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.ACTIVE).update(
            status=CampaignStatus.CLOSED,
            closed_at=now,
            closed_by=actor if getattr(actor, "pk", None) else None,
            remind_at=None,
            escalate_at=None,
            close_at=None,
        )
        if not claimed:
            raise CampaignClosed(_("This campaign is not open."), code="not_open")
        campaign.refresh_from_db()
        items = ReviewItem.objects.for_tenant(campaign.tenant_id).filter(campaign=campaign)
        pending = list(items.filter(outcome=Outcome.PENDING).values_list("pk", "grant_id"))
        result = CloseResult()
        if pending:
            result = _auto_decide(campaign=campaign, pending=pending, now=now)
        waiting = list(items.filter(effect=EffectState.WAITING).values_list("pk", flat=True))
        effects = apply_effects(actor=actor, campaign=campaign, item_ids=waiting)
        result.revoked, result.reduced = effects.revoked, effects.reduced
        result.refused += effects.refused
        audit_event_record(
            action="certification.campaign.closed",
            actor=actor,
            tenant=campaign.tenant_id,
            target=campaign,
            after={
                "auto_revoked": result.auto_revoked,
                "flagged": result.flagged,
                "revoked": result.revoked,
                "reduced": result.reduced,
                "refused": len(result.refused),
            },
        )
        if campaign.recurrence != Recurrence.ONCE:
            result.next_campaign = _spawn_next(campaign)
    return result


def _auto_decide(
    *, campaign: Campaign, pending: list[tuple[int, int]], now: datetime
) -> CloseResult:
    result = CloseResult()
    items = ReviewItem.objects.for_tenant(campaign.tenant_id)
    ids = [pk for pk, _g in pending]
    flag_ids = ids
    if campaign.auto_decision == AutoDecision.REVOKE:
        by_grant = {g: pk for pk, g in pending}
        blocked = last_admin_conflicts(tenant=campaign.tenant_id, grant_ids=by_grant)
        revoke_ids = [pk for pk, g in pending if g not in blocked]
        flag_ids = [by_grant[g] for g in blocked]
        items.filter(pk__in=revoke_ids, outcome=Outcome.PENDING).update(
            outcome=Outcome.REVOKED, decided_at=now, effect=EffectState.WAITING
        )
        result.auto_revoked = len(revoke_ids)
        if blocked:
            result.refused.append(
                _("%(n)d unreviewed items were kept: the tenant would be left without an admin.")
                % {"n": len(blocked)}
            )
    items.filter(pk__in=flag_ids, outcome=Outcome.PENDING).update(
        outcome=Outcome.FLAGGED, decided_at=now
    )
    result.flagged = len(flag_ids)
    decisions = [
        ReviewDecision(
            tenant_id=campaign.tenant_id,
            item_id=pk,
            campaign_id=campaign.pk,
            reviewer=None,
            side="system",
            decision=Decision.FLAG if pk in set(flag_ids) else Decision.REVOKE,
            comment=_("Not reviewed by the due date: automatic decision at close."),
            decided_at=now,
        )
        for pk in ids
    ]
    ReviewDecision.objects.bulk_create(decisions, batch_size=BATCH)
    audit_bulk(
        tenant=campaign.tenant_id,
        events=[
            {
                "action": "certification.item.auto_decided",
                "target_type": "certification.reviewitem",
                "target_id": d.item_id,
                "details": {"campaign": campaign.pk, "decision": d.decision},
            }
            for d in decisions
        ],
    )
    return result


def _next_period(value: datetime, recurrence: str) -> datetime:
    months = 3 if recurrence == Recurrence.QUARTERLY else 12
    month = value.month - 1 + months
    year = value.year + month // 12
    month = month % 12 + 1
    day = min(value.day, 28)
    return value.replace(year=year, month=month, day=day)


def _spawn_next(campaign: Campaign) -> Campaign:
    """The next run: same scope and settings, one period later, launched by the sweeper."""
    starts = _next_period(campaign.starts_at, campaign.recurrence)
    due = _next_period(campaign.due_at, campaign.recurrence)
    now = timezone.now()
    if due <= now:  # a campaign closed very late: the next one is due a period from now
        starts, due = now, _next_period(now, campaign.recurrence)
    nxt = Campaign.objects.create(
        tenant_id=campaign.tenant_id,
        name=campaign.name,
        description=campaign.description,
        origin=campaign.origin,
        scope_kind=campaign.scope_kind,
        scope_environment_id=campaign.scope_environment_id,
        scope_role_id=campaign.scope_role_id,
        scope_grant_ids=campaign.scope_grant_ids,
        reviewer_policy=campaign.reviewer_policy,
        default_reviewer_id=campaign.default_reviewer_id,
        fallback_reviewer_id=campaign.fallback_reviewer_id,
        customer_reviewer_id=campaign.customer_reviewer_id,
        co_managed_environment_ids=campaign.co_managed_environment_ids,
        joint_mode=campaign.joint_mode,
        recurrence=campaign.recurrence,
        effect_timing=campaign.effect_timing,
        auto_decision=campaign.auto_decision,
        starts_at=starts,
        due_at=due,
        previous=campaign,
        created_by_id=campaign.created_by_id,
        launch_at=starts,
    )
    audit_event_record(
        action="certification.campaign.scheduled",
        tenant=campaign.tenant_id,
        target=nxt,
        after={"starts_at": starts.isoformat(), "due_at": due.isoformat()},
        details={"previous": campaign.pk},
    )
    return nxt


@transaction.atomic
def campaign_sign_off(*, actor: Any, campaign: Campaign, note: str = "") -> Campaign:
    """The accountable person's signature on a closed campaign's results (once)."""
    require_manage(actor=actor, tenant=campaign.tenant_id)
    with scope_for(campaign.tenant_id):
        if campaign.status != CampaignStatus.CLOSED:
            raise CampaignClosed(_("Close the campaign before signing it off."), code="not_closed")
        done = Campaign.objects.filter(
            pk=campaign.pk, status=CampaignStatus.CLOSED, signed_off_at__isnull=True
        ).update(signed_off_at=timezone.now(), signed_off_by=actor, sign_off_note=note[:2000])
        if not done:
            raise CampaignClosed(_("This campaign is signed off already."), code="signed_off")
        campaign.refresh_from_db()
        audit_event_record(
            action="certification.campaign.signed_off",
            actor=actor,
            tenant=campaign.tenant_id,
            target=campaign,
            details={"note": note[:2000]},
        )
    return campaign


def risk_rank(risk: str) -> int:
    return RISK_RANK.get(risk, 1)
