"""Reads of certification: the reviewer's page (filtered, paginated, constant queries), the
campaign dashboard, the results rows of the reports."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from apps.access.models import Entitlement, RoleEntitlement
from apps.certification.models import (
    Campaign,
    CampaignStatus,
    Outcome,
    ReviewDecision,
    ReviewItem,
)
from apps.certification.services.decisions import LEVEL_RANK

PAGE_SIZE = 50
UNUSED_DAYS = 90
STATES = ("open", "decided", "all")


@dataclass(frozen=True)
class ReviewFilters:
    state: str = "open"
    q: str = ""
    risk: str = ""
    source: str = ""
    environment: int | None = None
    sod: bool = False
    unused: bool = False
    vendor: bool = False

    @classmethod
    def from_query(cls, data: Any) -> ReviewFilters:
        state = str(data.get("state", "open"))
        env = str(data.get("environment", ""))
        return cls(
            state=state if state in STATES else "open",
            q=str(data.get("q", "")).strip()[:100],
            risk=str(data.get("risk", ""))[:16],
            source=str(data.get("source", ""))[:20],
            environment=int(env) if env.isdigit() else None,
            sod=data.get("sod") in ("1", "on", "true"),
            unused=data.get("unused") in ("1", "on", "true"),
            vendor=data.get("vendor") in ("1", "on", "true"),
        )

    def only_open(self) -> bool:
        """The default view: the open items and no other filter."""
        return self.state == "open" and self == ReviewFilters()

    def as_query(self) -> dict[str, str]:
        out = {"state": self.state}
        for name in ("q", "risk", "source"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.environment:
            out["environment"] = str(self.environment)
        for name in ("sod", "unused", "vendor"):
            if getattr(self, name):
                out[name] = "1"
        return out


def _mine(user: Any) -> Q:
    return Q(reviewer_id=user.pk) | Q(customer_reviewer_id=user.pk)


def _open_for(user: Any) -> Q:
    return Q(outcome=Outcome.PENDING) & (
        Q(reviewer_id=user.pk, reviewer_decision="")
        | Q(customer_reviewer_id=user.pk, customer_decision="")
    )


def review_items_for_reviewer(
    *, campaign: Campaign, user: Any, filters: ReviewFilters
) -> QuerySet[ReviewItem]:
    qs = ReviewItem.objects.filter(campaign=campaign).filter(_mine(user))
    if filters.state == "open":
        qs = qs.filter(_open_for(user))
    elif filters.state == "decided":
        qs = qs.exclude(_open_for(user))
    if filters.q:
        qs = qs.filter(Q(subject_label__icontains=filters.q) | Q(target_label__icontains=filters.q))
    if filters.risk:
        qs = qs.filter(risk=filters.risk)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.environment:
        qs = qs.filter(environment_id=filters.environment)
    if filters.sod:
        qs = qs.filter(has_sod=True)
    if filters.unused:
        cutoff = timezone.now() - timedelta(days=UNUSED_DAYS)
        qs = qs.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=cutoff))
    if filters.vendor:
        qs = qs.filter(vendor_staff=True)
    return qs.order_by("pk")


def reviewer_has_items(*, campaign: Campaign, user: Any) -> bool:
    return ReviewItem.objects.filter(campaign=campaign).filter(_mine(user)).exists()


@dataclass
class ReviewPage:
    page: Page
    items: list[ReviewItem]
    open_count: int
    reduce_options: dict[int, list[Entitlement]] = field(default_factory=dict)


def review_page(
    *, campaign: Campaign, user: Any, filters: ReviewFilters, page_number: Any = 1
) -> ReviewPage:
    """One page of the reviewer's items with everything a row shows: at most 6 queries whatever
    the size (open count, filtered count unless it is the open count, the page's ids, its rows,
    the narrower entitlements of the page)."""
    filtered = review_items_for_reviewer(campaign=campaign, user=user, filters=filters)
    open_count = ReviewItem.objects.filter(campaign=campaign).filter(_open_for(user)).count()
    paginator = Paginator(filtered.values_list("pk", flat=True), PAGE_SIZE)
    if filters.only_open():
        # The default view counts exactly the open items: do not count them twice.
        paginator.count = open_count  # type: ignore[misc]
    page = paginator.get_page(page_number)
    # Two steps: the page's ids (only the filter columns are read, no wide rows are sorted),
    # then the 50 rows themselves.
    ids = list(page.object_list)
    items = list(ReviewItem.objects.filter(pk__in=ids).select_related("environment").order_by("pk"))
    page.object_list = items
    options = reduce_options_for(items)
    decorate(items, user=user, options=options)
    return ReviewPage(page=page, items=items, open_count=open_count, reduce_options=options)


def decorate(
    items: list[ReviewItem], *, user: Any, options: dict[int, list[Entitlement]]
) -> list[ReviewItem]:
    """What a row needs besides the item: may this person act, what it can be reduced to."""
    for item in items:
        item.can_act = item.can_act_for(getattr(user, "pk", None))  # type: ignore[attr-defined]
        item.reduce_choices = options.get(item.pk, [])  # type: ignore[attr-defined]
    return items


def reduce_options_for(items: list[ReviewItem]) -> dict[int, list[Entitlement]]:
    """Narrower entitlements for each pending item of a page, in at most two queries."""
    pending = [i for i in items if i.outcome == Outcome.PENDING]
    if not pending:
        return {}
    tenant_id = pending[0].tenant_id
    env_ids = {i.environment_id for i in pending if i.entitlement_id and i.environment_id}
    role_ids = {i.role_id for i in pending if i.role_id}
    by_env: dict[int, list[Entitlement]] = defaultdict(list)
    if env_ids:
        for ent in Entitlement.objects.for_tenant(tenant_id).filter(environment_id__in=env_ids):
            by_env[ent.environment_id].append(ent)
    by_role: dict[int, list[Entitlement]] = defaultdict(list)
    if role_ids:
        for link in (
            RoleEntitlement.objects.for_tenant(tenant_id)
            .filter(role_id__in=role_ids)
            .select_related("entitlement")
        ):
            by_role[link.role_id].append(link.entitlement)
    options: dict[int, list[Entitlement]] = {}
    for item in pending:
        if item.entitlement_id and item.environment_id:
            rank = LEVEL_RANK.get(item.level, 0)
            choices = [
                e
                for e in by_env.get(item.environment_id, [])
                if e.pk != item.entitlement_id and LEVEL_RANK.get(e.level, 0) < rank
            ]
        elif item.role_id:
            role_ents = by_role.get(item.role_id, [])
            choices = role_ents if len(role_ents) > 1 else []
        else:
            choices = []
        options[item.pk] = sorted(choices, key=lambda e: e.name)
    return options


def campaign_list(*, tenant: Any = None) -> QuerySet[Campaign]:
    qs = Campaign.objects.all() if tenant is None else Campaign.objects.for_tenant(tenant)
    return qs.select_related("tenant").order_by("-created_at")


def campaigns_reviewed_by(*, user: Any) -> QuerySet[Campaign]:
    """Campaigns (of the current scope) with items for `user`, open ones first."""
    ids = ReviewItem.objects.filter(_mine(user)).values("campaign_id")
    return (
        Campaign.objects.filter(pk__in=ids)
        .select_related("tenant")
        .annotate(
            my_open=Count(
                "items",
                filter=Q(items__outcome=Outcome.PENDING)
                & (
                    Q(items__reviewer_id=user.pk, items__reviewer_decision="")
                    | Q(items__customer_reviewer_id=user.pk, items__customer_decision="")
                ),
            )
        )
        .order_by("status", "due_at")
    )


@dataclass
class ReviewerProgress:
    user_id: int
    label: str
    side: str
    total: int
    decided: int

    @property
    def open(self) -> int:
        return self.total - self.decided

    @property
    def percent(self) -> int:
        return round(100 * self.decided / self.total) if self.total else 100


@dataclass
class Dashboard:
    total: int
    by_outcome: dict[str, int]
    reviewers: list[ReviewerProgress]
    overdue: bool
    open_items: int
    decided: int
    revocation_rate: float
    effects_failed: int

    @property
    def percent(self) -> int:
        return round(100 * self.decided / self.total) if self.total else 100

    @property
    def outcome_rows(self) -> list[tuple[str, int]]:
        return [(str(label), self.by_outcome.get(value, 0)) for value, label in Outcome.choices]


def campaign_dashboard(*, campaign: Campaign) -> Dashboard:
    """Progress per reviewer (both sides), outcomes, revocation rate: 4 queries."""
    from apps.identity.models import User

    items = ReviewItem.objects.filter(campaign=campaign)
    by_outcome = dict(items.values_list("outcome").annotate(n=Count("id")).order_by())
    rows: list[tuple[int, str, int, int]] = []
    for reviewer_id, total, decided in (
        items.values_list("reviewer_id")
        .annotate(
            total=Count("id"),
            decided=Count("id", filter=~Q(reviewer_decision="") | ~Q(outcome=Outcome.PENDING)),
        )
        .order_by()
    ):
        rows.append((reviewer_id, "reviewer", total, decided))
    for reviewer_id, total, decided in (
        items.filter(customer_reviewer__isnull=False)
        .values_list("customer_reviewer_id")
        .annotate(
            total=Count("id"),
            decided=Count("id", filter=~Q(customer_decision="") | ~Q(outcome=Outcome.PENDING)),
        )
        .order_by()
    ):
        rows.append((reviewer_id, "customer", total, decided))
    users = User.objects.in_bulk([r[0] for r in rows])
    reviewers = sorted(
        (
            ReviewerProgress(
                user_id=uid,
                label=str(users[uid]) if uid in users else "?",
                side=side,
                total=total,
                decided=decided,
            )
            for uid, side, total, decided in rows
        ),
        key=lambda p: (-p.open, p.label),
    )
    total = sum(by_outcome.values())
    open_items = by_outcome.get(Outcome.PENDING, 0)
    decided = total - open_items
    removed = by_outcome.get(Outcome.REVOKED, 0) + by_outcome.get(Outcome.REDUCED, 0)
    failed = items.filter(effect="failed").count()
    return Dashboard(
        total=total,
        by_outcome=by_outcome,
        reviewers=reviewers,
        overdue=campaign.status == CampaignStatus.ACTIVE and campaign.due_at < timezone.now(),
        open_items=open_items,
        decided=decided,
        revocation_rate=(removed / decided) if decided else 0.0,
        effects_failed=failed,
    )


RESULT_HEADER = (
    "item",
    "holder",
    "holder_kind",
    "department",
    "access",
    "environment",
    "risk",
    "obtained_through",
    "approval",
    "last_used",
    "sod_findings",
    "peers_holding",
    "reviewer",
    "customer_reviewer",
    "outcome",
    "decided_at",
    "comment",
    "effect",
)


def campaign_result_items(*, campaign: Campaign) -> QuerySet[ReviewItem]:
    """Every item with the last comment made on it (explicitly scoped: streamed responses read
    it after the view returned)."""
    last_comment = (
        ReviewDecision.objects.for_tenant(campaign.tenant_id)
        .filter(item_id=OuterRef("pk"))
        .exclude(comment="")
        .order_by("-decided_at", "-pk")
        .values("comment")[:1]
    )
    items: QuerySet[ReviewItem] = ReviewItem.objects.for_tenant(campaign.tenant_id)  # type: ignore[assignment]
    return (
        items.filter(campaign_id=campaign.pk)
        .select_related("reviewer", "customer_reviewer", "environment")
        .annotate(last_comment=Subquery(last_comment))
        .order_by("pk")
    )


def campaign_result_rows(*, campaign: Campaign) -> Iterator[tuple[Any, ...]]:
    """Every item with its outcome and the last comment, streamed (reports: CSV)."""
    for item in campaign_result_items(campaign=campaign).iterator(chunk_size=2_000):
        yield (
            item.pk,
            item.subject_label,
            item.subject_kind,
            item.department,
            item.target_label,
            item.environment.name if item.environment else "",
            item.risk,
            item.source,
            item.approval_ref,
            item.last_used_at.isoformat() if item.last_used_at else "",
            "; ".join(item.sod_findings or []),
            f"{item.peer_holders}/{item.peer_total}" if item.peer_total else "",
            str(item.reviewer),
            str(item.customer_reviewer) if item.customer_reviewer else "",
            item.outcome,
            item.decided_at.isoformat() if item.decided_at else "",
            getattr(item, "last_comment", "") or "",
            item.effect_note or item.effect,
        )
