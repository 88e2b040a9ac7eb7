"""Writes of certification (campaigns, decisions, the sweeper). Every one is transactional,
checks who acts, and is audited. Incidents call `campaign_create_from_grants`."""

from apps.certification.exceptions import (
    AlreadyDecided,
    CampaignClosed,
    CertificationError,
    LastAdminRule,
    NotAllowed,
    NotAssigned,
    ScopeEmpty,
)
from apps.certification.services.campaigns import (
    CloseResult,
    apply_effects,
    campaign_close,
    campaign_create,
    campaign_create_from_grants,
    campaign_launch,
    campaign_sign_off,
    scope_grants,
)
from apps.certification.services.common import can_manage, last_admin_conflicts
from apps.certification.services.decisions import (
    BulkResult,
    narrower_entitlements,
    review_item_decide,
    review_items_decide_bulk,
)
from apps.certification.services.sweep import (
    campaign_escalate,
    campaign_remind,
    campaigns_sweep,
)

__all__ = [
    "AlreadyDecided",
    "BulkResult",
    "CampaignClosed",
    "CertificationError",
    "CloseResult",
    "LastAdminRule",
    "NotAllowed",
    "NotAssigned",
    "ScopeEmpty",
    "apply_effects",
    "campaign_close",
    "campaign_create",
    "campaign_create_from_grants",
    "campaign_escalate",
    "campaign_launch",
    "campaign_remind",
    "campaign_sign_off",
    "campaigns_sweep",
    "can_manage",
    "last_admin_conflicts",
    "narrower_entitlements",
    "review_item_decide",
    "review_items_decide_bulk",
    "scope_grants",
]
