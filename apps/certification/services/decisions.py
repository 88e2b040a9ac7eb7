"""Reviewers' decisions: certify, revoke, reduce (replace by a narrower entitlement), delegate —
one item at a time or over a selection (set-based: a constant number of statements)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from apps.access.models import Entitlement, RoleEntitlement
from apps.certification.exceptions import (
    AlreadyDecided,
    CampaignClosed,
    CertificationError,
    LastAdminRule,
    NotAssigned,
)
from apps.certification.models import (
    Campaign,
    CampaignStatus,
    Decision,
    EffectState,
    EffectTiming,
    JointMode,
    Outcome,
    ReviewDecision,
    ReviewItem,
)
from apps.certification.services.campaigns import _apply_reduce
from apps.certification.services.common import (
    audit_bulk,
    eligible_reviewer,
    grants_revoke,
    last_admin_conflicts,
    scope_for,
)
from apps.core.audit.services import audit_event_record

LEVEL_RANK = {"read": 0, "export": 1, "operate": 1, "write": 1, "admin": 2}
MAX_BULK = 5_000
LAST_ADMIN_MESSAGE = gettext_lazy(
    "Revoking this access would leave the tenant without an admin: another customer admin "
    "needs admin-level access first. The item is still open."
)


def narrower_entitlements(item: ReviewItem) -> list[Entitlement]:
    """What a grant may be reduced to: a lower permission level on the same environment, or
    one entitlement out of a role's bundle."""
    with scope_for(item.tenant_id):
        if item.entitlement_id:
            rank = LEVEL_RANK.get(item.level, 0)
            if item.environment_id is None or rank == 0:
                return []
            return [
                e
                for e in Entitlement.objects.for_tenant(item.tenant_id)
                .filter(environment_id=item.environment_id)
                .exclude(pk=item.entitlement_id)
                .select_related("environment")
                .order_by("level")
                if LEVEL_RANK.get(e.level, 0) < rank
            ]
        if item.role_id:
            ids = RoleEntitlement.objects.for_tenant(item.tenant_id).filter(role_id=item.role_id)
            options = list(
                Entitlement.objects.for_tenant(item.tenant_id)
                .filter(pk__in=ids.values("entitlement_id"))
                .select_related("environment")
                .order_by("name")
            )
            return options if len(options) > 1 else []
        return []


def _lock_open_campaign(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if campaign is None or campaign.status != CampaignStatus.ACTIVE:
        raise CampaignClosed(
            _("This campaign is closed: decisions can no longer be made or changed."),
            code="closed",
        )
    return campaign


def _side(item: ReviewItem, actor: Any) -> str:
    if item.reviewer_id == actor.pk and not item.reviewer_decision:
        return "reviewer"
    if item.customer_reviewer_id == actor.pk and not item.customer_decision:
        return "customer"
    if actor.pk in (item.reviewer_id, item.customer_reviewer_id):
        raise AlreadyDecided(_("You have decided this item already."), code="decided")
    raise NotAssigned(
        _("This item is not assigned to you, so you cannot decide it."), code="not_assigned"
    )


def _final(campaign: Campaign, item: ReviewItem, side: str, decision: str) -> str | None:
    """The item's outcome after this decision, or None while the other side must still
    certify (joint mode "both must certify")."""
    if decision == Decision.REVOKE:
        return Outcome.REVOKED
    if decision == Decision.REDUCE:
        return Outcome.REDUCED
    if decision != Decision.CERTIFY:
        return None
    other = item.customer_decision if side == "reviewer" else item.reviewer_decision
    if item.customer_reviewer_id is None or campaign.joint_mode == JointMode.EITHER:
        return Outcome.CERTIFIED
    return Outcome.CERTIFIED if other == Decision.CERTIFY else None


@transaction.atomic
def review_item_decide(
    *,
    actor: Any,
    item: ReviewItem,
    decision: str,
    comment: str = "",
    reduce_to: Entitlement | None = None,
    delegate_to: Any = None,
) -> ReviewItem:
    """Record `actor`'s decision on one item; revoke/reduce take effect now or at close (per
    campaign). Every refusal leaves the item as it was."""
    if decision not in (Decision.CERTIFY, Decision.REVOKE, Decision.REDUCE, Decision.DELEGATE):
        raise CertificationError(_("Unknown decision."), code="decision")
    with scope_for(item.tenant_id):
        campaign = _lock_open_campaign(item.campaign_id)
        current = ReviewItem.objects.select_for_update().get(pk=item.pk)
        if current.outcome != Outcome.PENDING:
            if actor.pk in (current.reviewer_id, current.customer_reviewer_id):
                raise AlreadyDecided(_("This item has been decided already."), code="decided")
            raise NotAssigned(
                _("This item is not assigned to you, so you cannot decide it."),
                code="not_assigned",
            )
        side = _side(current, actor)
        side_field = "reviewer" if side == "reviewer" else "customer_reviewer"
        decision_field = f"{'reviewer' if side == 'reviewer' else 'customer'}_decision"
        now = timezone.now()
        changes: dict[str, Any] = {}
        if decision == Decision.DELEGATE:
            _check_delegate(current, delegate_to)
            changes[side_field] = delegate_to
        else:
            if decision == Decision.REDUCE:
                allowed = {e.pk for e in narrower_entitlements(current)}
                if reduce_to is None or reduce_to.pk not in allowed:
                    raise CertificationError(
                        _("Choose a narrower entitlement to reduce this access to."),
                        code="reduce_to",
                    )
                changes["reduce_to"] = reduce_to
            outcome = _final(campaign, current, side, decision)
            changes[decision_field] = decision
            if outcome is not None:
                changes.update(outcome=outcome, decided_at=now)
                if outcome in (Outcome.REVOKED, Outcome.REDUCED):
                    if last_admin_conflicts(tenant=current.tenant_id, grant_ids=[current.grant_id]):
                        raise LastAdminRule(str(LAST_ADMIN_MESSAGE), code="last_admin")
                    changes["effect"] = EffectState.WAITING
        updated = ReviewItem.objects.filter(
            pk=current.pk, outcome=Outcome.PENDING, **{f"{side_field}_id": actor.pk}
        ).update(**changes)
        if not updated:
            raise AlreadyDecided(_("This item has been decided already."), code="decided")
        ReviewDecision.objects.create(
            tenant_id=current.tenant_id,
            item=current,
            campaign=campaign,
            reviewer=actor,
            side=side,
            decision=decision,
            comment=comment[:2000],
            reduce_to=reduce_to if decision == Decision.REDUCE else None,
            delegate_to=delegate_to if decision == Decision.DELEGATE else None,
            decided_at=now,
        )
        audit_event_record(
            action="certification.item.decided",
            actor=actor,
            tenant=current.tenant_id,
            target=current,
            after={"decision": decision, "outcome": changes.get("outcome", Outcome.PENDING)},
            details={
                "campaign": campaign.pk,
                "side": side,
                "comment": comment[:2000],
                "grant": current.grant_id,
                "reduce_to": getattr(reduce_to, "pk", None),
                "delegate_to": getattr(delegate_to, "pk", None),
            },
        )
        if (
            changes.get("effect") == EffectState.WAITING
            and campaign.effect_timing == EffectTiming.ON_DECISION
        ):
            _apply_now(actor=actor, campaign=campaign, item_id=current.pk)
        current.refresh_from_db()
    return current


def _apply_now(*, actor: Any, campaign: Campaign, item_id: int) -> None:
    """Revoke/reduce at once; a refusal by the access rules undoes the decision too."""
    item = ReviewItem.objects.get(pk=item_id)
    if item.outcome == Outcome.REVOKED:
        grants_revoke(
            actor=actor,
            tenant=campaign.tenant_id,
            grant_ids=[item.grant_id],
            reason=_("Revoked in certification campaign “%(name)s”.") % {"name": campaign.name},
        )
        ReviewItem.objects.filter(pk=item.pk).update(effect=EffectState.DONE)
    elif item.outcome == Outcome.REDUCED:
        new_id = _apply_reduce(actor=actor, item=item, campaign=campaign)
        ReviewItem.objects.filter(pk=item.pk).update(
            effect=EffectState.DONE, replacement_grant_id=new_id
        )


def _check_delegate(item: ReviewItem, delegate_to: Any) -> None:
    if delegate_to is None:
        raise CertificationError(_("Choose whom to delegate the item to."), code="delegate_to")
    if delegate_to.pk == item.subject_user_id:
        raise CertificationError(
            _("Nobody reviews their own access: choose someone else."), code="delegate_to"
        )
    if delegate_to.pk in (item.reviewer_id, item.customer_reviewer_id):
        raise CertificationError(
            _("%(who)s reviews this item already.") % {"who": delegate_to}, code="delegate_to"
        )
    if not eligible_reviewer(user=delegate_to, tenant=item.tenant_id):
        raise CertificationError(
            _("%(who)s cannot review in this tenant.") % {"who": delegate_to},
            code="delegate_to",
        )


@dataclass
class BulkResult:
    decided: int = 0
    messages: list[str] = field(default_factory=list)


@transaction.atomic
def review_items_decide_bulk(
    *,
    actor: Any,
    campaign: Campaign,
    item_ids: Iterable[int],
    decision: str,
    comment: str = "",
    delegate_to: Any = None,
) -> BulkResult:
    """Certify, revoke or delegate every selected item that is `actor`'s to decide. Items that
    are not theirs, decided already, or protected by the last-admin rule are left as they are
    and counted in the messages."""
    if decision not in (Decision.CERTIFY, Decision.REVOKE, Decision.DELEGATE):
        raise CertificationError(
            _("Bulk decisions can certify, revoke or delegate."), code="decision"
        )
    ids = sorted({int(i) for i in item_ids})
    if not ids:
        raise CertificationError(_("Select at least one item."), code="empty")
    if len(ids) > MAX_BULK:
        raise CertificationError(
            _("Decide at most %(n)d items at once; narrow the filter.") % {"n": MAX_BULK},
            code="too_many",
        )
    result = BulkResult()
    with scope_for(campaign.tenant_id):
        campaign = _lock_open_campaign(campaign.pk)
        now = timezone.now()
        base = ReviewItem.objects.filter(campaign=campaign, pk__in=ids)
        mine = base.filter(outcome=Outcome.PENDING)
        sides = {
            "reviewer": list(
                mine.filter(reviewer_id=actor.pk, reviewer_decision="").values(
                    "pk",
                    "grant_id",
                    "customer_reviewer_id",
                    "customer_decision",
                    "subject_user_id",
                )
            ),
            "customer": list(
                mine.filter(customer_reviewer_id=actor.pk, customer_decision="").values(
                    "pk", "grant_id", "reviewer_id", "reviewer_decision", "subject_user_id"
                )
            ),
        }
        taken = {r["pk"] for rows in sides.values() for r in rows}
        skipped = len(ids) - len(taken)
        if skipped:
            result.messages.append(
                ngettext(
                    "%(n)d item was not yours to decide (or decided already) and was left "
                    "as it was.",
                    "%(n)d items were not yours to decide (or decided already) and were left "
                    "as they were.",
                    skipped,
                )
                % {"n": skipped}
            )
        if decision == Decision.DELEGATE:
            if delegate_to is None or not eligible_reviewer(
                user=delegate_to, tenant=campaign.tenant_id
            ):
                raise CertificationError(
                    _("Choose a reviewer of this tenant to delegate to."), code="delegate_to"
                )
            for side, rows in sides.items():
                other = "customer_reviewer_id" if side == "reviewer" else "reviewer_id"
                ok = [r for r in rows if delegate_to.pk not in (r["subject_user_id"], r.get(other))]
                if len(ok) != len(rows):
                    result.messages.append(
                        _("%(n)d items were kept: %(who)s holds or reviews them already.")
                        % {"n": len(rows) - len(ok), "who": delegate_to}
                    )
                sides[side] = ok
                field_name = "reviewer_id" if side == "reviewer" else "customer_reviewer_id"
                ReviewItem.objects.filter(pk__in=[r["pk"] for r in ok]).update(
                    **{field_name: delegate_to.pk}
                )
        elif decision == Decision.REVOKE:
            grant_ids = [r["grant_id"] for rows in sides.values() for r in rows]
            blocked = last_admin_conflicts(tenant=campaign.tenant_id, grant_ids=grant_ids)
            if blocked:
                result.messages.append(
                    ngettext(
                        "%(n)d item stays open: revoking it would leave the tenant without "
                        "an admin.",
                        "%(n)d items stay open: revoking them would leave the tenant without "
                        "an admin.",
                        len(blocked),
                    )
                    % {"n": len(blocked)}
                )
            for side, rows in sides.items():
                rows = [r for r in rows if r["grant_id"] not in blocked]
                sides[side] = rows
                ReviewItem.objects.filter(pk__in=[r["pk"] for r in rows]).update(
                    **{f"{side}_decision": Decision.REVOKE},
                    outcome=Outcome.REVOKED,
                    decided_at=now,
                    effect=EffectState.WAITING,
                )
        else:  # certify
            joint_either = campaign.joint_mode == JointMode.EITHER
            for side, rows in sides.items():
                other_reviewer = "customer_reviewer_id" if side == "reviewer" else "reviewer_id"
                other_decision = "customer_decision" if side == "reviewer" else "reviewer_decision"
                final = [
                    r["pk"]
                    for r in rows
                    if joint_either
                    or r[other_decision] == Decision.CERTIFY
                    or (side == "reviewer" and r[other_reviewer] is None)
                ]
                partial = [r["pk"] for r in rows if r["pk"] not in set(final)]
                ReviewItem.objects.filter(pk__in=final).update(
                    **{f"{side}_decision": Decision.CERTIFY},
                    outcome=Outcome.CERTIFIED,
                    decided_at=now,
                )
                ReviewItem.objects.filter(pk__in=partial).update(
                    **{f"{side}_decision": Decision.CERTIFY}
                )
        decided = [(side, r) for side, rows in sides.items() for r in rows]
        result.decided = len(decided)
        ReviewDecision.objects.bulk_create(
            [
                ReviewDecision(
                    tenant_id=campaign.tenant_id,
                    item_id=r["pk"],
                    campaign_id=campaign.pk,
                    reviewer=actor,
                    side=side,
                    decision=decision,
                    comment=comment[:2000],
                    delegate_to=delegate_to if decision == Decision.DELEGATE else None,
                    decided_at=now,
                )
                for side, r in decided
            ],
            batch_size=1_000,
        )
        audit_bulk(
            tenant=campaign.tenant_id,
            events=[
                {
                    "action": "certification.item.decided",
                    "actor": actor,
                    "target_type": "certification.reviewitem",
                    "target_id": r["pk"],
                    "after": {"decision": decision},
                    "details": {
                        "campaign": campaign.pk,
                        "side": side,
                        "comment": comment[:2000],
                        "grant": r["grant_id"],
                        "bulk": True,
                    },
                }
                for side, r in decided
            ],
        )
        if decision == Decision.REVOKE and campaign.effect_timing == EffectTiming.ON_DECISION:
            item_ids_done = [r["pk"] for _side_name, r in decided]
            grants_revoke(
                actor=actor,
                tenant=campaign.tenant_id,
                grant_ids=[r["grant_id"] for _side_name, r in decided],
                reason=_("Revoked in certification campaign “%(name)s”.") % {"name": campaign.name},
            )
            ReviewItem.objects.filter(pk__in=item_ids_done).update(effect=EffectState.DONE)
    return result
