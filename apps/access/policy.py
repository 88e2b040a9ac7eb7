"""Standing-access policy: must a grant be time-bound, and for how long at most.

A tenant's `StandingAccessPolicy` row for a risk level wins; without one the defaults below
apply, scaled by tenant tier. Vendor-staff grants are always time-bound, with their own maximum
by tier (never longer than ACCESS_VENDOR_MAX_HOURS[tier]).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings

from apps.access.models import RISK_RANK, StandingAccessPolicy

# (time-bound required, maximum duration) by risk level and tier; None = no maximum.
DEFAULTS: dict[str, dict[str, tuple[bool, timedelta | None]]] = {
    "low": {
        "standard": (False, None),
        "enterprise": (False, None),
        "strategic": (False, None),
    },
    "medium": {
        "standard": (False, None),
        "enterprise": (False, None),
        "strategic": (False, None),
    },
    "high": {
        "standard": (True, timedelta(days=7)),
        "enterprise": (True, timedelta(days=14)),
        "strategic": (True, timedelta(days=30)),
    },
    "critical": {
        "standard": (True, timedelta(days=1)),
        "enterprise": (True, timedelta(days=3)),
        "strategic": (True, timedelta(days=7)),
    },
}
VENDOR_MAX_HOURS_DEFAULT = {"standard": 8, "enterprise": 12, "strategic": 24}


@dataclass(frozen=True)
class StandingRule:
    time_bound_required: bool
    max_duration: timedelta | None
    source: str  # "tenant policy" or "default for <tier>" — shown in refusals


def vendor_max_duration(tier: str) -> timedelta:
    hours = getattr(settings, "ACCESS_VENDOR_MAX_HOURS", VENDOR_MAX_HOURS_DEFAULT)
    return timedelta(hours=int(hours.get(tier, hours.get("standard", 8))))


def standing_rule_for(*, tenant: Any, risk: str) -> StandingRule:
    row = StandingAccessPolicy.objects.for_tenant(tenant).filter(risk_level=risk).first()
    if row is not None:
        return StandingRule(row.time_bound_required, row.max_duration, "tenant policy")
    tier = str(getattr(tenant, "tier", "standard"))
    required, maximum = DEFAULTS.get(risk, DEFAULTS["high"]).get(tier, (True, timedelta(days=7)))
    return StandingRule(required, maximum, f"default for tier {tier}")


def max_risk(risks: list[str]) -> str:
    return max(risks, key=lambda r: RISK_RANK.get(r, 3), default="low")
