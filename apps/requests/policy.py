"""What may be requested, by whom, for how long: the requests app's one window onto the access
model (apps.access, the agreed interface in notes/access-interface.md). Everything the requests
app asks the policy engine goes through here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

LEVEL_RANK = {"read": 0, "write": 1, "operate": 2, "export": 3, "admin": 4}
RISK_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
HIGH_RISKS = frozenset({"high", "critical"})

# Defaults when a tenant has no standing-access policy for a risk level.
DEFAULT_MAX_DURATION = {
    "low": timedelta(days=90),
    "medium": timedelta(days=30),
    "high": timedelta(days=7),
    "critical": timedelta(days=1),
}


def vendor_max_duration() -> timedelta:
    return timedelta(hours=getattr(settings, "REQUESTS_VENDOR_MAX_HOURS", 8))


def vendor_unanswered_expiry() -> timedelta:
    return timedelta(hours=getattr(settings, "REQUESTS_VENDOR_UNANSWERED_HOURS", 12))


def break_glass_max_duration() -> timedelta:
    return timedelta(hours=getattr(settings, "REQUESTS_BREAK_GLASS_MAX_HOURS", 4))


def target_environment(target: Any) -> Any:
    return getattr(target, "environment", None)


def target_environments(target: Any) -> list[Any]:
    env = target_environment(target)
    if env is not None:
        return [env]
    entitlements = _role_entitlements(target)
    return [e.environment for e in entitlements]


def _role_entitlements(role: Any) -> list[Any]:
    if role is None or not hasattr(role, "entitlements"):
        return []
    return list(role.entitlements.all().select_related("environment"))


def target_level(target: Any) -> str:
    level = getattr(target, "level", None)
    if level:
        return str(level)
    ranks = [str(e.level) for e in _role_entitlements(target)]
    return max(ranks, key=lambda lv: LEVEL_RANK.get(lv, 9), default="admin")


def target_risk(target: Any) -> str:
    risk = getattr(target, "risk", None)
    if risk:
        return str(risk)
    risks = [str(e.risk) for e in _role_entitlements(target)]
    return max(risks, key=lambda r: RISK_RANK.get(r, 9), default="high")


def is_high_risk(risk: str) -> bool:
    return risk in HIGH_RISKS


def level_at_most(level: str, ceiling: str) -> bool:
    return LEVEL_RANK.get(level, 9) <= LEVEL_RANK.get(ceiling, -1)


def risk_at_most(risk: str, ceiling: str) -> bool:
    return RISK_RANK.get(risk, 9) <= RISK_RANK.get(ceiling, -1)


def max_duration(*, tenant: Any, risk: str, vendor: bool) -> timedelta:
    """The longest a request may ask for: the tenant's standing-access rule for the risk level
    (apps.access.policy), else our defaults (requested access is always time-bound); vendor
    staff never beyond the vendor maximum."""
    from apps.access.policy import standing_rule_for

    rule = standing_rule_for(tenant=tenant, risk=risk)
    limit = rule.max_duration or DEFAULT_MAX_DURATION.get(risk, timedelta(days=1))
    if vendor:
        limit = min(limit, vendor_max_duration())
        try:
            from apps.access.policy import vendor_max_duration as access_vendor_max

            limit = min(limit, access_vendor_max(str(tenant.tier)))
        except ImportError:  # pragma: no cover - older access app
            pass
    return limit


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reasons: tuple[str, ...] = ()


def eligibility(*, user: Any, target: Any, tenant: Any, vendor: bool = False) -> Eligibility:
    """May `user` ask for `target`? The engine's ABAC and SoD rules decide (a missing grant is
    exactly what a request is for, so a denial for that reason alone still means eligible)."""
    if target is None or target.tenant_id != tenant.pk:
        return Eligibility(False, (_("This item is not in this tenant's catalog."),))
    if getattr(target, "is_vendor_internal", False) and not vendor:
        return Eligibility(False, (_("This role is for vendor staff only."),))
    reasons: list[str] = []
    level = target_level(target)
    context = _context(user)
    for environment in target_environments(target):
        reasons.extend(
            abac_denials(user=user, action=level, environment=environment, context=context)
        )
    reasons.extend(sod_conflicts(user=user, target=target, tenant=tenant))
    return Eligibility(not reasons, tuple(dict.fromkeys(reasons)))


def abac_denials(*, user: Any, action: str, environment: Any, context: Any) -> list[str]:
    """Messages of the tenant's ABAC deny rules that would refuse `user` `action` on
    `environment` if a grant existed (a missing grant is what the request is for)."""
    from apps.access import engine

    decision = engine.abac_check(user, action, environment, context)
    if decision.allowed:
        return []
    return [str(r.message) for r in decision.reasons if r.kind in ("abac", "sod", "default")]


def _context(user: Any) -> Any:
    """The facts a request is judged on. Eligibility is about who the person is (tier, region,
    residency, compliance, SoD), not about the session they will use: second factor and
    session risk are checked by the engine each time the access is used, so here they are
    taken at their best."""
    from apps.access import engine

    return engine.Context(
        purpose="request",
        mfa_level="webauthn",
        risk_score=0.0,
        location_country=str(getattr(user, "country", "") or ""),
    )


def sod_conflicts(*, user: Any, target: Any, tenant: Any) -> list[str]:
    """Messages of the deny-mode SoD rules that holding `target` would complete for `user`
    (the engine's `sod_check`, the same evaluation grant_create applies)."""
    from apps.access import engine

    kwargs: dict[str, Any] = {"user": user, "tenant": tenant}
    if getattr(target, "level", None):
        kwargs["entitlement"] = target
    else:
        kwargs["role"] = target
    return [str(hit.message) for hit in engine.sod_check(**kwargs) if hit.mode == "deny"]


def narrower_entitlements(entitlement: Any) -> list[Any]:
    """Entitlements of the same environment at a lower permission level (what an approver may
    narrow a request to)."""
    from apps.access.models import Entitlement

    rank = LEVEL_RANK.get(str(entitlement.level), 0)
    candidates = Entitlement.objects.for_tenant(entitlement.tenant_id).filter(
        environment_id=entitlement.environment_id
    )
    return sorted(
        (e for e in candidates if LEVEL_RANK.get(str(e.level), 9) < rank),
        key=lambda e: LEVEL_RANK.get(str(e.level), 9),
    )
