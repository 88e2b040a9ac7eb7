"""Reads behind the "who can reach what, and why" pages and the access inventory.

Every page reads a bounded number of rows with a fixed number of queries, whatever the size
of the grant table: grants are paged by keyset (`id` descending, cursor = the last id shown),
roles are expanded with one query over the roles on the page, and the ends of a path
(environment, entitlement, role) come in by `select_related`. The "why" of one subject on
one environment comes from the policy engine itself (apps.access.engine.decide), so the page
says exactly what a decision would say.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.access import engine
from apps.access.models import (
    RISK_RANK,
    Entitlement,
    Grant,
    GrantSource,
    PermissionLevel,
    RoleEntitlement,
)
from apps.core.tenancy import tenant_context, unscoped

PAGE_SIZE = 25
PROFILE_DETAILS = 10  # newest current grants listed per tenant on the cross-tenant profile
PROFILE_TENANTS_PER_PAGE = 12  # tenant cards per page of the cross-tenant profile
STATES = ("current", "ended", "all")
SIDES = ("", "vendor", "customer")
SUBJECT_KINDS = ("", "user", "service_account", "api_key")
STATE_LABELS = {
    "active": _("Active"),
    "scheduled": _("Scheduled"),
    "suspended": _("Suspended"),
    "revoked": _("Ended: revoked"),
    "expired": _("Ended: expired"),
}
_SUBJECT_NOTES = {"service_account": _("Service account"), "api_key": _("API key")}
_SELECT = ("user", "service_account", "api_key", "entitlement__environment", "role")


@dataclass(frozen=True)
class ExplainFilter:
    """What the filter bar of an explain page asks for (already validated)."""

    level: str = ""
    source: str = ""
    side: str = ""  # "" | vendor | customer
    subject: str = ""  # "" | user | service_account | api_key
    state: str = "current"  # current (active, scheduled, suspended) | ended | all

    @classmethod
    def parse(cls, data: Any) -> ExplainFilter:
        def pick(name: str, allowed: Iterable[str], default: str = "") -> str:
            value = str(data.get(name, default) or default)
            return value if value in allowed else default

        return cls(
            level=pick("level", PermissionLevel.values),
            source=pick("source", GrantSource.values),
            side=pick("side", SIDES),
            subject=pick("subject", SUBJECT_KINDS),
            state=pick("state", STATES, "current"),
        )


@dataclass(frozen=True)
class PathStep:
    kind: str  # grant | role | entitlement
    label: str


@dataclass
class AccessRow:
    """One grant as seen from a page: who holds it, the levels it gives here, and the path."""

    grant: Grant
    levels: tuple[str, ...]
    path: tuple[PathStep, ...]
    state: str
    environments: tuple[str, ...] = ()
    risk: str = ""
    entitlements: tuple[Entitlement, ...] = ()
    subject_kind: str = ""
    subject_id: int = 0
    subject_label: str = ""
    subject_note: str = ""
    vendor: bool = False
    state_label: str = ""

    @property
    def is_ended(self) -> bool:
        return self.state in ("expired", "revoked")


@dataclass
class RowPage:
    rows: list[AccessRow]
    cursor: int | None  # the id to pass as `after` for the next page
    has_more: bool


@dataclass
class TenantProfile:
    """A person's privileges in one tenant (a column of the side-by-side view)."""

    tenant: Any
    rows: list[AccessRow] = field(default_factory=list)
    by_environment: dict[str, set[str]] = field(default_factory=dict)
    top_risk: str = "low"
    ended_count: int = 0
    current_count: int = 0
    truncated: bool = False

    @property
    def environment_levels(self) -> list[tuple[str, list[str]]]:
        order = {level: i for i, level in enumerate(PermissionLevel.values)}
        return [
            (env, sorted(levels, key=lambda lv: order.get(lv, 99)))
            for env, levels in sorted(self.by_environment.items())
        ]


def grant_state(grant: Grant, *, now: datetime) -> str:
    """Like Grant.state but against one `now` for the whole page. An expired grant is ended
    at decision time whether or not the sweeper has processed it."""
    if grant.revoked_at is not None:
        return "revoked"
    if grant.expires_at is not None and grant.expires_at <= now:
        return "expired"
    if grant.suspended_at is not None:
        return "suspended"
    if grant.starts_at > now:
        return "scheduled"
    return "active"


def _state_q(state: str, now: datetime) -> Q:
    current = Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    if state == "current":
        return current
    if state == "ended":
        return ~current
    return Q()


def _filter_q(filters: ExplainFilter, now: datetime) -> Q:
    q = _state_q(filters.state, now)
    if filters.source:
        q &= Q(source=filters.source)
    if filters.subject:
        q &= Q(**{f"{filters.subject}__isnull": False})
    if filters.side == "vendor":
        q &= Q(user__kind="staff")
    elif filters.side == "customer":
        q &= ~Q(user__kind="staff") | Q(user__isnull=True)
    return q


def _role_members(role_ids: Iterable[int]) -> dict[int, list[Entitlement]]:
    """Entitlements of each role (one query, environments joined)."""
    ids = {r for r in role_ids if r}
    members: dict[int, list[Entitlement]] = {r: [] for r in ids}
    # Always one query (also with no roles on the page): a page's query count is constant.
    for link in (
        RoleEntitlement.objects.filter(role_id__in=ids or [0])
        .select_related("entitlement__environment")
        .order_by("entitlement__name")
    ):
        members[link.role_id].append(link.entitlement)
    return members


def _row(
    grant: Grant,
    *,
    now: datetime,
    members: dict[int, list[Entitlement]],
    environment_id: int | None = None,
) -> AccessRow:
    ents = members.get(grant.role_id, []) if grant.role_id else [grant.entitlement]
    if environment_id is not None:
        ents = [e for e in ents if e is not None and e.environment_id == environment_id]
    ents = [e for e in ents if e is not None]
    steps = [PathStep("grant", f"#{grant.pk}")]
    if grant.role_id and grant.role is not None:
        steps.append(PathStep("role", grant.role.name))
    steps.extend(PathStep("entitlement", e.name) for e in ents)
    order = {level: i for i, level in enumerate(PermissionLevel.values)}
    levels = tuple(sorted({e.level for e in ents}, key=lambda lv: order.get(lv, 99)))
    risk = max((e.risk for e in ents), key=lambda r: RISK_RANK.get(r, 0), default="low")
    envs = tuple(sorted({e.environment.name for e in ents}))
    state = grant_state(grant, now=now)
    vendor = False
    user: Any = grant.user if grant.user_id else None
    if user is not None:
        kind, sid, label = "user", user.pk, user.get_full_name()
        vendor = user.kind == "staff"
        # Customers see a vendor employee's name and vendor role only (never teams, managers).
        note = str(user.get_staff_role_display()) if vendor else user.email
    elif grant.service_account_id:
        kind, sid = "service_account", grant.service_account_id
        label, note = str(grant.service_account), str(_SUBJECT_NOTES["service_account"])
    else:
        kind, sid = "api_key", grant.api_key_id or 0
        label, note = str(grant.api_key), str(_SUBJECT_NOTES["api_key"])
    return AccessRow(
        grant=grant,
        levels=levels,
        path=tuple(steps),
        state=state,
        environments=envs,
        risk=risk,
        entitlements=tuple(ents),
        subject_kind=kind,
        subject_id=sid,
        subject_label=label,
        subject_note=note,
        vendor=vendor,
        state_label=str(STATE_LABELS.get(state, state)),
    )


def _page(qs: QuerySet[Grant], *, after: int | None, size: int) -> tuple[list[Grant], bool]:
    """One keyset page, newest first. The page's ids are chosen on the grant table alone (an
    index-friendly ORDER BY id DESC LIMIT n); only those rows are joined to their subject and
    target, in the same SQL statement."""
    if after:
        qs = qs.filter(pk__lt=after)
    ids = qs.order_by("-pk").values("pk")[: size + 1]
    grants = list(Grant.objects.filter(pk__in=ids).select_related(*_SELECT).order_by("-pk"))
    return grants[:size], len(grants) > size


# --- "Who can access environment E, and why" ---------------------------------------------------


def environment_access_page(
    *,
    environment: Any,
    filters: ExplainFilter,
    after: int | None = None,
    size: int = PAGE_SIZE,
    now: datetime | None = None,
) -> RowPage:
    """Every grant that reaches `environment` (directly or through a role), newest first.
    Three queries: the environment's entitlements with the roles that bundle them, the page
    of grants, the members of the roles on the page."""
    now = now or timezone.now()
    links = list(
        Entitlement.objects.filter(environment=environment)
        .values_list("pk", "level", "role_entitlements__role_id")
        .order_by()
    )
    ent_ids = {pk for pk, level, _r in links if not filters.level or level == filters.level}
    role_ids = {r for _pk, level, r in links if r and (not filters.level or level == filters.level)}
    if not ent_ids:
        return RowPage([], None, False)
    qs = Grant.objects.filter(Q(entitlement_id__in=ent_ids) | Q(role_id__in=role_ids)).filter(
        _filter_q(filters, now)
    )
    grants, has_more = _page(qs, after=after, size=size)
    members = _role_members(g.role_id for g in grants if g.role_id)
    rows = [_row(g, now=now, members=members, environment_id=environment.pk) for g in grants]
    return RowPage(rows, grants[-1].pk if has_more else None, has_more)


# --- "What can user U access, and why" (inside one tenant) -------------------------------------


def user_access_page(
    *,
    user: Any,
    filters: ExplainFilter,
    after: int | None = None,
    size: int = PAGE_SIZE,
    now: datetime | None = None,
) -> RowPage:
    """The person's grants in the current tenant, each expanded to the entitlements it gives."""
    now = now or timezone.now()
    qs = Grant.objects.filter(user=user).filter(_filter_q(filters, now))
    if filters.level:
        qs = qs.filter(
            Q(entitlement__level=filters.level)
            | Q(role__role_entitlements__entitlement__level=filters.level)
        ).distinct()
    grants, has_more = _page(qs, after=after, size=size)
    members = _role_members(g.role_id for g in grants if g.role_id)
    rows = [_row(g, now=now, members=members) for g in grants]
    return RowPage(rows, grants[-1].pk if has_more else None, has_more)


def user_has_presence(*, user: Any) -> bool:
    """Does the person appear in the current tenant (member or holder of any grant)?"""
    from apps.tenants.models import Membership

    member = Membership.objects.filter(user=user).exists()
    holder = Grant.objects.filter(user=user).exists()  # both asked: constant query count
    return member or holder


# --- "Vendor staff in my tenant" ---------------------------------------------------------------


def vendor_access_page(
    *,
    filters: ExplainFilter,
    after: int | None = None,
    size: int = PAGE_SIZE,
    now: datetime | None = None,
) -> RowPage:
    """Every grant a vendor employee holds in the current tenant. Only the staff member's name
    and vendor role label are shown: never the vendor's teams or reporting lines."""
    now = now or timezone.now()
    qs = Grant.objects.filter(user__kind="staff").filter(_filter_q(filters, now))
    grants, has_more = _page(qs, after=after, size=size)
    members = _role_members(g.role_id for g in grants if g.role_id)
    rows = [_row(g, now=now, members=members) for g in grants]
    return RowPage(rows, grants[-1].pk if has_more else None, has_more)


# --- The context-switching view: one employee in every tenant -----------------------------------


@dataclass
class ProfilePage:
    profiles: list[TenantProfile]
    page: int
    tenant_count: int
    per_page: int

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.tenant_count

    @property
    def next_page(self) -> int:
        return self.page + 1

    @property
    def previous_page(self) -> int:
        return self.page - 1


def staff_profile_across_tenants(
    *,
    user: Any,
    now: datetime | None = None,
    details: int = PROFILE_DETAILS,
    page: int = 1,
    per_page: int = PROFILE_TENANTS_PER_PAGE,
) -> ProfilePage:
    """The person's current privileges in each tenant, side by side. A cross-tenant read:
    callers record it in the audit log (the view does).

    Six queries whatever the person holds: the tenants they hold anything in (paged by name,
    `per_page` cards a page, so the page stays the same size for someone present in hundreds
    of tenants), the current grants in those tenants as bare tuples (for the environment x
    level grid), the entitlements and role members they reach, the `details` newest current
    grants per tenant as full rows, and the ended-grant counts."""
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    from apps.tenants.models import Tenant

    now = now or timezone.now()
    current = _state_q("current", now)
    with unscoped(reason="access explorer: one person's privileges in every tenant"):
        everywhere = sorted(
            Grant.objects.filter(user=user)
            .order_by()
            .values_list("tenant__name", "tenant_id")
            .distinct()
        )
        page = max(1, min(page, 1 + (len(everywhere) - 1) // per_page if everywhere else 1))
        shown = [tid for _n, tid in everywhere[(page - 1) * per_page : page * per_page]]
        mine = Grant.objects.filter(user=user, tenant_id__in=shown or [0])
        held = list(
            mine.filter(current)
            .order_by()
            .values_list(
                "tenant_id",
                "tenant__slug",
                "tenant__name",
                "tenant__status",
                "entitlement_id",
                "role_id",
                "starts_at",
                "suspended_at",
            )
        )
        role_ids = {r for *_x, r, _s, _u in held if r}
        role_ents: dict[int, list[int]] = {}
        for role_id, ent_id in RoleEntitlement.objects.filter(
            role_id__in=role_ids or [0]
        ).values_list("role_id", "entitlement_id"):
            role_ents.setdefault(role_id, []).append(ent_id)
        ent_ids = {e for *_x, e, _r, _s, _u in held if e}
        ent_ids.update(e for ents in role_ents.values() for e in ents)
        ents = {
            pk: (env, level, risk)
            for pk, env, level, risk in Entitlement.objects.filter(
                pk__in=ent_ids or [0]
            ).values_list("pk", "environment__name", "level", "risk")
        }
        recent = list(
            mine.filter(current)
            .annotate(
                position=Window(RowNumber(), partition_by=[F("tenant_id")], order_by=F("pk").desc())
            )
            .filter(position__lte=details)
            .select_related(*_SELECT)
            .order_by("tenant_id", "-pk")
        )
        members = _role_members(g.role_id for g in recent if g.role_id)
        ended = _ended_counts(mine, now=now)
    profiles: dict[int, TenantProfile] = {}
    for tenant_id, slug, name, status, ent_id, role_id, starts, suspended in held:
        profile = profiles.get(tenant_id)
        if profile is None:
            tenant = Tenant(pk=tenant_id, slug=slug, name=name, status=status)
            profile = profiles[tenant_id] = TenantProfile(tenant=tenant)
        profile.current_count += 1
        if starts > now or suspended is not None:
            continue  # not active right now: counted, not in the grid
        for member in role_ents.get(role_id, []) if role_id else [ent_id]:
            target = ents.get(member)
            if target is None:
                continue
            env, level, risk = target
            profile.by_environment.setdefault(env, set()).add(level)
            if RISK_RANK.get(risk, 0) > RISK_RANK.get(profile.top_risk, 0):
                profile.top_risk = risk
    for g in recent:
        profile = profiles.get(g.tenant_id)
        if profile is not None:
            profile.rows.append(_row(g, now=now, members=members))
    for profile in profiles.values():
        profile.truncated = profile.current_count > len(profile.rows)
    for tenant, count in ended:
        profile = profiles.get(tenant.pk)
        if profile is None:
            profile = profiles[tenant.pk] = TenantProfile(tenant=tenant)
        profile.ended_count = count
    return ProfilePage(
        profiles=sorted(profiles.values(), key=lambda p: p.tenant.name),
        page=page,
        tenant_count=len(everywhere),
        per_page=per_page,
    )


def _ended_counts(grants: QuerySet[Grant], *, now: datetime) -> list[tuple[Any, int]]:
    """(tenant, number of ended grants) for each tenant where the person has any; the tenant
    comes from the same query (name and status are all the page shows)."""
    from django.db.models import Count

    from apps.tenants.models import Tenant

    rows = (
        grants.filter(~_state_q("current", now))
        .order_by()
        .values_list("tenant_id", "tenant__slug", "tenant__name", "tenant__status")
        .annotate(n=Count("pk"))
    )
    return [
        (Tenant(pk=tid, slug=slug, name=name, status=status), n)
        for tid, slug, name, status, n in rows
    ]


def staff_search(*, query: str, limit: int = 25) -> list[Any]:
    """Vendor staff by name or email, for the access explorer's search box."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    qs = User.objects.filter(kind="staff")
    query = query.strip()
    if query:
        qs = qs.filter(Q(email__icontains=query) | Q(full_name__icontains=query))
    return list(qs.order_by("full_name", "email")[:limit])


# --- "Why?" for one subject on one environment: the engine's own answer --------------------------


@dataclass
class ActionExplanation:
    action: str
    allowed: bool
    reasons: list[dict[str, str]]


@dataclass
class SubjectExplanation:
    actions: list[ActionExplanation]
    grants: RowPage  # the subject's grants that reach the environment (active and ended)


def explain_subject_on_environment(
    *, subject: Any, environment: Any, now: datetime | None = None
) -> SubjectExplanation:
    """Ask the policy engine about every action, and list the grants behind the answers (active
    and ended, so "it expired yesterday" is visible)."""
    now = now or timezone.now()
    context = engine.Context(now=now)
    actions = []
    for action in PermissionLevel.values:
        decision = engine.decide(subject, action, environment, context)
        actions.append(
            ActionExplanation(action, decision.allowed, [r.as_dict() for r in decision.reasons])
        )
    kind, sid, _facts = engine._subject_key(subject)
    links = list(
        Entitlement.objects.filter(environment=environment)
        .values_list("pk", "role_entitlements__role_id")
        .order_by()
    )
    ent_ids = {pk for pk, _r in links}
    role_ids = {r for _pk, r in links if r}
    grants = list(
        Grant.objects.filter(**{f"{kind}_id": sid})
        .filter(Q(entitlement_id__in=ent_ids) | Q(role_id__in=role_ids))
        .select_related(*_SELECT)
        .order_by("-pk")[:PAGE_SIZE]
    )
    members = _role_members(g.role_id for g in grants if g.role_id)
    rows = [_row(g, now=now, members=members, environment_id=environment.pk) for g in grants]
    return SubjectExplanation(actions=actions, grants=RowPage(rows, None, False))


# --- Inventory (CSV/PDF) -------------------------------------------------------------------

INVENTORY_BATCH = 2_000


def inventory_rows(
    *, tenant: Any, state: str = "all", now: datetime | None = None
) -> Iterator[AccessRow]:
    """Every grant of the tenant, expanded, in id order, read in batches by keyset inside the
    tenant's own scope (safe to run from a streaming response after the view returned). Memory
    stays constant: one batch plus the tenant's role → entitlements map."""
    now = now or timezone.now()
    with tenant_context(tenant):
        members = _role_members(RoleEntitlement.objects.values_list("role_id", flat=True))
    last = 0
    q = _state_q(state, now)
    while True:
        with tenant_context(tenant):
            batch = list(
                Grant.objects.filter(q, pk__gt=last)
                .select_related(*_SELECT)
                .order_by("pk")[:INVENTORY_BATCH]
            )
        if not batch:
            return
        for g in batch:
            yield _row(g, now=now, members=members)
        last = batch[-1].pk
