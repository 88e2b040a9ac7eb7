"""The certification sweeper (Celery beat, every SWEEP_INTERVAL_SECONDS): launches scheduled
runs of recurring campaigns, reminds reviewers, escalates late reviewers' open items to their
fallback before the due date, and closes campaigns at their due date.

Each timer is a column of Campaign (launch_at, remind_at, escalate_at, close_at). A due row is
claimed with a conditional UPDATE in the same transaction as the work, so two workers never
both act and a killed worker's claim rolls back: the next sweep does it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.certification.models import (
    Campaign,
    CampaignStatus,
    Decision,
    Outcome,
    ReviewDecision,
    ReviewItem,
)
from apps.certification.services.campaigns import campaign_close, campaign_launch
from apps.core.audit.services import audit_event_record
from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import User
from apps.tenants.models import Membership

logger = logging.getLogger("custos.certification")


def _due(column: str, now: datetime, limit: int, status: str) -> list[Campaign]:
    with unscoped(reason=f"certification sweeper: campaigns due by {column} in every tenant"):
        return list(
            Campaign.objects.filter(**{f"{column}__lte": now}, status=status)
            .select_related("tenant")
            .order_by(column)[:limit]
        )


def _claim(campaign: Campaign, column: str, status: str) -> bool:
    return bool(
        Campaign.objects.filter(
            pk=campaign.pk, status=status, **{column: getattr(campaign, column)}
        ).update(**{column: None})
    )


def _mail(user: User, subject: str, body: str) -> None:
    transaction.on_commit(partial(send_mail, subject, body, None, [user.email]))


def _review_url(campaign: Campaign, user: User) -> str:
    base = getattr(settings, "PORTAL_BASE_URL", "").rstrip("/")
    if getattr(user, "is_vendor_staff", False):
        return f"{base}/staff/certification/campaigns/{campaign.pk}/review/"
    return f"{base}/t/{campaign.tenant.slug}/certification/campaigns/{campaign.pk}/review/"


def _notify(user: User, campaign: Campaign, count: int, *, escalated: bool) -> None:
    with translation.override(user.language or settings.LANGUAGE_CODE):
        if escalated:
            subject = _("Access review escalated to you: %(name)s") % {"name": campaign.name}
        else:
            subject = _("Reminder: access review %(name)s") % {"name": campaign.name}
        body = _(
            "%(count)d access review items wait for your decision in “%(name)s” (%(tenant)s), "
            "due %(due)s.\n\nReview them here: %(url)s"
        ) % {
            "count": count,
            "name": campaign.name,
            "tenant": campaign.tenant.name,
            "due": timezone.localtime(campaign.due_at).strftime("%Y-%m-%d %H:%M %Z"),
            "url": _review_url(campaign, user),
        }
    _mail(user, subject, body)


def _pending_by_reviewer(campaign: Campaign) -> dict[int, int]:
    counts: dict[int, int] = {}
    pending = ReviewItem.objects.filter(campaign=campaign, outcome=Outcome.PENDING)
    for reviewer_id, n in (
        pending.filter(reviewer_decision="").values_list("reviewer_id").annotate(n=Count("id"))
    ):
        counts[reviewer_id] = counts.get(reviewer_id, 0) + n
    for reviewer_id, n in (
        pending.filter(customer_reviewer__isnull=False, customer_decision="")
        .values_list("customer_reviewer_id")
        .annotate(n=Count("id"))
    ):
        counts[reviewer_id] = counts.get(reviewer_id, 0) + n
    return counts


def campaign_remind(campaign: Campaign) -> int:
    """Mail every reviewer with open items; returns how many were reminded."""
    counts = _pending_by_reviewer(campaign)
    users = User.objects.in_bulk(list(counts))
    for user_id, count in counts.items():
        user = users.get(user_id)
        if user is not None and user.is_active and user.email:
            _notify(user, campaign, count, escalated=False)
    audit_event_record(
        action="certification.campaign.reminded",
        tenant=campaign.tenant_id,
        target=campaign,
        details={"reviewers": len(counts), "open_items": sum(counts.values())},
    )
    return len(counts)


def _fallback_for(campaign: Campaign, reviewer_id: int, managers: dict[int, int | None]) -> Any:
    """The reviewer's fallback: the campaign's fallback reviewer, else the reviewer's manager."""
    if campaign.fallback_reviewer_id and campaign.fallback_reviewer_id != reviewer_id:
        return campaign.fallback_reviewer_id
    manager = managers.get(reviewer_id)
    return manager if manager and manager != reviewer_id else None


def campaign_escalate(campaign: Campaign) -> int:
    """Give the open items of every reviewer who has not finished to their fallback (never
    to the holder of the access). Returns how many items moved."""
    now = timezone.now()
    counts = ReviewItem.objects.filter(
        campaign=campaign, outcome=Outcome.PENDING, reviewer_decision=""
    ).values_list("reviewer_id", flat=True)
    late = sorted(set(counts))
    managers = dict(
        Membership.objects.filter(user_id__in=late, is_active=True).values_list(
            "user_id", "manager_id"
        )
    )
    moved_to: dict[int, int] = {}
    decisions = []
    for reviewer_id in late:
        fallback = _fallback_for(campaign, reviewer_id, managers)
        if fallback is None:
            continue
        rows = list(
            ReviewItem.objects.filter(
                campaign=campaign,
                outcome=Outcome.PENDING,
                reviewer_decision="",
                reviewer_id=reviewer_id,
            )
            .exclude(subject_user_id=fallback)
            .exclude(customer_reviewer_id=fallback)
            .values_list("pk", flat=True)
        )
        if not rows:
            continue
        ReviewItem.objects.filter(pk__in=rows).update(reviewer_id=fallback)
        moved_to[fallback] = moved_to.get(fallback, 0) + len(rows)
        decisions += [
            ReviewDecision(
                tenant_id=campaign.tenant_id,
                item_id=pk,
                campaign_id=campaign.pk,
                reviewer_id=None,
                side="system",
                decision=Decision.DELEGATE,
                delegate_to_id=fallback,
                comment=_("Escalated before the due date: the reviewer had not decided."),
                decided_at=now,
            )
            for pk in rows
        ]
    ReviewDecision.objects.bulk_create(decisions, batch_size=1_000)
    users = User.objects.in_bulk(list(moved_to))
    for user_id, count in moved_to.items():
        user = users.get(user_id)
        if user is not None and user.is_active and user.email:
            _notify(user, campaign, count, escalated=True)
    audit_event_record(
        action="certification.campaign.escalated",
        tenant=campaign.tenant_id,
        target=campaign,
        outcome="success" if moved_to or not late else "failure",
        details={"items": len(decisions), "to": sorted(moved_to), "late_reviewers": late},
    )
    return len(decisions)


def campaigns_sweep(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    now = now or timezone.now()
    counts = {"launched": 0, "reminded": 0, "escalated": 0, "closed": 0, "failed": 0}
    jobs = (
        ("launch_at", CampaignStatus.DRAFT, "launched"),
        ("remind_at", CampaignStatus.ACTIVE, "reminded"),
        ("escalate_at", CampaignStatus.ACTIVE, "escalated"),
        ("close_at", CampaignStatus.ACTIVE, "closed"),
    )
    for column, status, key in jobs:
        for campaign in _due(column, now, limit, status):
            with tenant_context(campaign.tenant), transaction.atomic():
                if not _claim(campaign, column, status):
                    continue
                try:
                    with transaction.atomic():
                        if key == "launched":
                            campaign_launch(actor=None, campaign=campaign)
                        elif key == "reminded":
                            campaign_remind(campaign)
                        elif key == "escalated":
                            campaign_escalate(campaign)
                        else:
                            campaign_close(actor=None, campaign=campaign)
                except DomainError as exc:
                    counts["failed"] += 1
                    logger.warning("certification %s of campaign %s: %s", key, campaign.pk, exc)
                    audit_event_record(
                        action=f"certification.campaign.{key}_failed",
                        tenant=campaign.tenant_id,
                        target=campaign,
                        outcome="failure",
                        details={"reason": exc.message},
                    )
                    continue
                counts[key] += 1
    return counts
