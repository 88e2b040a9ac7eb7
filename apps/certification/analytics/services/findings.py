"""Drift and toxic-combination findings of one tenant, recomputed from the grants as they are
now (set-based: a few queries for the whole tenant, the rest in memory).

* widened: per subject and environment, the levels the subject's FIRST grant there gave; any
  unended later grant (directly or through a role) giving a level those do not imply. Grants
  are never edited to widen scope, so the history is all in the grant rows.
* standing: an open-ended grant older than the tenant's `standing_max_days`, or one whose
  risk level the standing-access policy now says must be time-bound.
* unused: an active grant that started more than `unused_days` ago and was not used since
  (Grant.last_used_at, kept by the detector from access events).
* toxic: a subject whose unended grants (roles expanded) hold `threshold` or more items of an
  enabled SoD rule — in deny mode too (a grant older than the rule), and across vendor-internal
  and customer-side roles.

Each finding has a fingerprint; a refresh upserts the current ones and resolves the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.certification.analytics.models import Finding, FindingKind, Severity
from apps.certification.analytics.services.detection import settings_for
from apps.core.audit.services import audit_event_record

# Which levels a level already gives (a wider level is one outside this set).
IMPLIES: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "write": frozenset({"read", "write"}),
    "export": frozenset({"read", "export"}),
    "operate": frozenset({"read", "write", "operate"}),
    "admin": frozenset({"read", "write", "export", "operate", "admin"}),
}
RISK_SEVERITY = {"low": "low", "medium": "medium", "high": "high", "critical": "critical"}


@dataclass
class RefreshResult:
    open: int
    new: int
    resolved: int


@dataclass(frozen=True, slots=True)
class _GrantRow:
    pk: int
    subject: tuple[str, int]
    user_id: int | None
    entitlement_id: int | None
    role_id: int | None
    source: str
    starts_at: datetime
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    suspended: bool
    revoked: bool


def _subject(row: dict[str, Any]) -> tuple[str, int]:
    if row["user_id"]:
        return ("user", row["user_id"])
    if row["service_account_id"]:
        return ("service_account", row["service_account_id"])
    return ("api_key", row["api_key_id"])


def _load(tenant: Any, now: datetime) -> list[_GrantRow]:
    from apps.access.models import Grant

    rows = Grant.objects.for_tenant(tenant).values(
        "pk",
        "user_id",
        "service_account_id",
        "api_key_id",
        "entitlement_id",
        "role_id",
        "source",
        "starts_at",
        "created_at",
        "expires_at",
        "last_used_at",
        "suspended_at",
        "revoked_at",
    )
    return [
        _GrantRow(
            pk=r["pk"],
            subject=_subject(r),
            user_id=r["user_id"],
            entitlement_id=r["entitlement_id"],
            role_id=r["role_id"],
            source=r["source"],
            starts_at=r["starts_at"],
            created_at=r["created_at"],
            expires_at=r["expires_at"],
            last_used_at=r["last_used_at"],
            suspended=r["suspended_at"] is not None,
            revoked=r["revoked_at"] is not None,
        )
        for r in rows
    ]


def _unended(g: _GrantRow, now: datetime) -> bool:
    return not g.revoked and (g.expires_at is None or g.expires_at > now)


def _active(g: _GrantRow, now: datetime) -> bool:
    return _unended(g, now) and not g.suspended and g.starts_at <= now


class _Catalog:
    def __init__(self, tenant: Any) -> None:
        from apps.access.models import Entitlement, Role, RoleEntitlement

        self.ents = {
            e["pk"]: e
            for e in Entitlement.objects.for_tenant(tenant).values(
                "pk", "name", "level", "risk", "environment_id", "environment__name"
            )
        }
        self.roles = {
            r["pk"]: r
            for r in Role.objects.for_tenant(tenant).values("pk", "name", "is_vendor_internal")
        }
        self.role_ents: dict[int, set[int]] = {}
        for role_id, ent_id in RoleEntitlement.objects.for_tenant(tenant).values_list(
            "role_id", "entitlement_id"
        ):
            self.role_ents.setdefault(role_id, set()).add(ent_id)

    def ents_of(self, g: _GrantRow) -> set[int]:
        if g.entitlement_id:
            return {g.entitlement_id}
        return self.role_ents.get(g.role_id or 0, set())

    def target(self, g: _GrantRow) -> str:
        if g.entitlement_id:
            return str(self.ents.get(g.entitlement_id, {}).get("name", "?"))
        return str(self.roles.get(g.role_id or 0, {}).get("name", "?"))

    def risk(self, g: _GrantRow) -> str:
        order = ["low", "medium", "high", "critical"]
        risks = [self.ents[e]["risk"] for e in self.ents_of(g) if e in self.ents]
        return max(risks, key=order.index, default="low")


def _labels(tenant: Any, grants: list[_GrantRow]) -> dict[tuple[str, int], str]:
    from apps.access.models import ServiceAccount
    from apps.core.tenancy import unscoped
    from apps.identity.models import User
    from apps.integrations.models import ApiKey

    wanted: dict[str, set[int]] = {"user": set(), "service_account": set(), "api_key": set()}
    for g in grants:
        wanted[g.subject[0]].add(g.subject[1])
    labels: dict[tuple[str, int], str] = {}
    for pk, email in User.objects.filter(pk__in=wanted["user"]).values_list("pk", "email"):
        labels[("user", pk)] = email
    for pk, name in (
        ServiceAccount.objects.for_tenant(tenant)
        .filter(pk__in=wanted["service_account"])
        .values_list("pk", "name")
    ):
        labels[("service_account", pk)] = name
    with unscoped(reason="findings: API key names of this tenant"):
        for pk, name in ApiKey.objects.filter(
            tenant_id=getattr(tenant, "pk", tenant), pk__in=wanted["api_key"]
        ).values_list("pk", "name"):
            labels[("api_key", pk)] = name
    return labels


def _widened(cat: _Catalog, grants: list[_GrantRow], now: datetime) -> list[dict[str, Any]]:
    first: dict[tuple[tuple[str, int], int], tuple[datetime, set[str], _GrantRow]] = {}
    for g in sorted(grants, key=lambda x: (x.created_at, x.pk)):
        for ent_id in cat.ents_of(g):
            ent = cat.ents.get(ent_id)
            if ent is None:
                continue
            key = (g.subject, ent["environment_id"])
            if key not in first:
                first[key] = (g.created_at, set(), g)
            if first[key][2].pk == g.pk:
                first[key][1].add(ent["level"])
    found = []
    for g in grants:
        if not _unended(g, now):
            continue
        wider_by_env: dict[int, set[str]] = {}
        for ent_id in cat.ents_of(g):
            ent = cat.ents.get(ent_id)
            if ent is None:
                continue
            origin = first.get((g.subject, ent["environment_id"]))
            if origin is None or origin[2].pk == g.pk:
                continue
            implied = set().union(*(IMPLIES.get(level, {level}) for level in origin[1]))
            if ent["level"] not in implied:
                wider_by_env.setdefault(ent["environment_id"], set()).add(ent["level"])
        for env_id, levels in wider_by_env.items():
            origin_row = first[(g.subject, env_id)][2]
            env_name = next(
                (
                    e["environment__name"]
                    for e in cat.ents.values()
                    if e["environment_id"] == env_id
                ),
                "?",
            )
            high = bool(levels & {"admin", "export"})
            found.append(
                {
                    "kind": FindingKind.WIDENED,
                    "fingerprint": f"widened:{g.pk}:{env_id}",
                    "grant": g,
                    "severity": Severity.HIGH if high else Severity.MEDIUM,
                    "details": {
                        "environment": env_name,
                        "original_levels": sorted(first[(g.subject, env_id)][1]),
                        "original_grant": origin_row.pk,
                        "original_source": origin_row.source,
                        "original_date": origin_row.created_at.date().isoformat(),
                        "wider_levels": sorted(levels),
                        "source": g.source,
                        "date": g.created_at.date().isoformat(),
                        "target": cat.target(g),
                    },
                }
            )
    return found


def _standing(
    tenant: Any, cat: _Catalog, grants: list[_GrantRow], now: datetime, max_days: int
) -> list[dict[str, Any]]:
    from apps.access.policy import standing_rule_for

    rules: dict[str, Any] = {}
    found = []
    for g in grants:
        if g.expires_at is not None or not _active(g, now):
            continue
        risk = cat.risk(g)
        if risk not in rules:
            rules[risk] = standing_rule_for(tenant=tenant, risk=risk)
        age = (now - g.starts_at).days
        details = {"target": cat.target(g), "risk": risk, "days": age, "max_days": max_days}
        if rules[risk].time_bound_required:
            details["reason"] = "policy"
        elif age > max_days:
            details["reason"] = "age"
        else:
            continue
        found.append(
            {
                "kind": FindingKind.STANDING,
                "fingerprint": f"standing:{g.pk}",
                "grant": g,
                "severity": RISK_SEVERITY.get(risk, "medium"),
                "details": details,
            }
        )
    return found


def _unused(
    cat: _Catalog, grants: list[_GrantRow], now: datetime, days: int
) -> list[dict[str, Any]]:
    cutoff = now - timedelta(days=days)
    found = []
    for g in grants:
        if not _active(g, now) or g.starts_at > cutoff:
            continue
        if g.last_used_at is not None and g.last_used_at >= cutoff:
            continue
        since = g.last_used_at or g.starts_at
        found.append(
            {
                "kind": FindingKind.UNUSED,
                "fingerprint": f"unused:{g.pk}",
                "grant": g,
                "severity": Severity.MEDIUM
                if cat.risk(g) in ("high", "critical")
                else Severity.LOW,
                "details": {
                    "target": cat.target(g),
                    "days": (now - since).days,
                    "last_used": g.last_used_at.date().isoformat() if g.last_used_at else "",
                },
            }
        )
    return found


def _toxic(
    tenant: Any, cat: _Catalog, grants: list[_GrantRow], now: datetime
) -> list[dict[str, Any]]:
    from apps.access.sod import sod_rules_load

    rules = sod_rules_load(tenant)
    if not rules:
        return []
    held: dict[tuple[str, int], tuple[set[int], set[int], list[_GrantRow]]] = {}
    for g in grants:
        if not _unended(g, now):
            continue
        roles, ents, rows = held.setdefault(g.subject, (set(), set(), []))
        if g.role_id:
            roles.add(g.role_id)
        ents |= cat.ents_of(g)
        rows.append(g)
    found = []
    for subject, (roles, ents, rows) in held.items():
        for rule in rules:
            items_e = rule.entitlement_ids & ents
            items_r = rule.role_ids & roles
            count = len(items_e) + len(items_r)
            if count < rule.threshold:
                continue
            names = [str(cat.ents[e]["name"]) for e in sorted(items_e) if e in cat.ents]
            internal = [r for r in items_r if cat.roles.get(r, {}).get("is_vendor_internal")]
            names += [str(cat.roles[r]["name"]) for r in sorted(items_r) if r in cat.roles]
            found.append(
                {
                    "kind": FindingKind.TOXIC,
                    "fingerprint": f"toxic:{rule.key}:{subject[0]}:{subject[1]}",
                    "grant": None,
                    "subject": subject,
                    "severity": Severity.CRITICAL if rule.mode == "deny" else Severity.HIGH,
                    "details": {
                        "rule": rule.name,
                        "rule_key": rule.key,
                        "mode": rule.mode,
                        "held": count,
                        "threshold": rule.threshold,
                        "items": names,
                        "crosses_internal_and_customer": bool(internal)
                        and (len(items_r) > len(internal) or bool(items_e)),
                        "grants": sorted(r.pk for r in rows),
                    },
                }
            )
    return found


def findings_compute(*, tenant: Any, now: datetime | None = None) -> list[dict[str, Any]]:
    """The tenant's current findings (not saved)."""
    now = now or timezone.now()
    conf = settings_for(tenant)
    cat = _Catalog(tenant)
    grants = _load(tenant, now)
    result = (
        _widened(cat, grants, now)
        + _standing(tenant, cat, grants, now, conf.standing_max_days)
        + _unused(cat, grants, now, conf.unused_days)
        + _toxic(tenant, cat, grants, now)
    )
    labels = _labels(tenant, grants)
    for f in result:
        subject = f["grant"].subject if f["grant"] is not None else f["subject"]
        f["subject_label"] = labels.get(subject, f"{subject[0]} #{subject[1]}")
        f["user_id"] = subject[1] if subject[0] == "user" else None
    return result


def findings_refresh(
    *, tenant: Any, actor: Any = None, now: datetime | None = None
) -> RefreshResult:
    """Recompute and store the tenant's findings; audited when a person asked for it."""
    from apps.access.services.common import scope_for

    now = now or timezone.now()
    with scope_for(tenant), transaction.atomic():
        current = {f["fingerprint"]: f for f in findings_compute(tenant=tenant, now=now)}
        existing = {
            f.fingerprint: f
            for f in Finding.objects.for_tenant(tenant).filter(
                Q(resolved_at__isnull=True) | Q(fingerprint__in=list(current))
            )
        }
        tenant_id = getattr(tenant, "pk", tenant)
        new_rows, changed, resolved = [], [], []
        for fp, f in current.items():
            row = existing.get(fp)
            if row is None:
                new_rows.append(
                    Finding(
                        tenant_id=tenant_id,
                        kind=f["kind"],
                        fingerprint=fp[:200],
                        severity=f["severity"],
                        grant_id=f["grant"].pk if f["grant"] is not None else None,
                        user_id=f["user_id"],
                        subject_label=f["subject_label"][:200],
                        details=f["details"],
                        first_seen_at=now,
                        last_seen_at=now,
                    )
                )
            else:
                row.severity, row.details, row.last_seen_at = f["severity"], f["details"], now
                row.resolved_at = None
                changed.append(row)
        for fp, row in existing.items():
            if fp not in current and row.resolved_at is None:
                row.resolved_at = now
                resolved.append(row)
        Finding.objects.bulk_create(new_rows, batch_size=1000)
        Finding.objects.bulk_update(
            changed + resolved,
            ["severity", "details", "last_seen_at", "resolved_at"],
            batch_size=500,
        )
        if actor is not None:
            audit_event_record(
                action="analytics.findings.refreshed",
                actor=actor,
                tenant=tenant_id,
                details={"open": len(current), "new": len(new_rows), "resolved": len(resolved)},
            )
    return RefreshResult(open=len(current), new=len(new_rows), resolved=len(resolved))
