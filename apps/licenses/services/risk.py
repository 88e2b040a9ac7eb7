"""Adaptive risk checks on self-service signups, and the review queue's decisions.

Signals (each with a weight; the score is their sum):
* disposable_email — the address' domain is on the disposable list;
* geo_distance — IP geolocation and the declared location are more than 2,000 km apart and
  the location was declared within 10 minutes of the request (settings);
* impossible_travel — the same device or address signed up less than 10 minutes ago from a
  place more than 2,000 km away;
* new_device — the device fingerprint was never seen in this tenant;
* cluster_ip / cluster_device / cluster_payment — several signups from the same IP, device
  or payment reference within the cluster window;
* volume_tightened — more than 5,000 signups today: thresholds drop and weights rise.
A score under the review threshold passes automatically; otherwise the case waits for review
(SLA: the tenant's review_sla_hours).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import Conflict, DomainError
from apps.core.tenancy import tenant_context, unscoped
from apps.licenses.conf import conf
from apps.licenses.disposable import is_disposable
from apps.licenses.geo import distance_km, geo_provider
from apps.licenses.models import (
    OPEN_SIGNUP_DECISIONS,
    AlertKind,
    KnownDevice,
    SignupCase,
    SignupDecision,
)
from apps.licenses.services.provisioning import policy_for
from apps.licenses.services.seats import alert_open_for_tenant, require_manager
from apps.tenants.models import Tenant

SIGNAL_LABELS = {
    "disposable_email": gettext_lazy("Disposable email domain"),
    "geo_distance": gettext_lazy("IP location far from the declared location"),
    "impossible_travel": gettext_lazy("Impossible travel since a recent signup"),
    "new_device": gettext_lazy("Device never seen before"),
    "cluster_ip": gettext_lazy("Several signups from the same IP address"),
    "cluster_device": gettext_lazy("Several signups from the same device"),
    "cluster_payment": gettext_lazy("Several signups with the same payment reference"),
    "volume_tightened": gettext_lazy("High signup volume today: stricter checks"),
    "unknown_ip_location": gettext_lazy("IP address could not be located"),
}

WEIGHTS = {
    "disposable_email": (50, 60),  # (normal, tightened)
    "geo_distance": (40, 50),
    "impossible_travel": (50, 60),
    "new_device": (10, 20),
    "cluster_ip": (30, 40),
    "cluster_device": (30, 40),
    "cluster_payment": (40, 50),
    "volume_tightened": (0, 0),
    "unknown_ip_location": (0, 10),
}


@dataclass(frozen=True)
class SignupInput:
    email: str
    full_name: str = ""
    ip: str = ""
    declared_location: str = ""
    declared_at: datetime | None = None
    device_fingerprint: str = ""
    payment_ref: str = ""
    request: dict[str, Any] | None = None


def _device_hash(tenant: Tenant, fingerprint: str) -> str:
    return hashlib.sha256(f"{tenant.pk}:{fingerprint}".encode()).hexdigest()


def signups_today(*, tenant: Tenant, now: datetime | None = None) -> int:
    now = now or timezone.now()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with tenant_context(tenant):
        return SignupCase.objects.filter(created_at__gte=start).count()


def _signal(code: str, tightened: bool, detail: str) -> dict[str, Any]:
    weight = WEIGHTS[code][1 if tightened else 0]
    return {"code": code, "weight": weight, "detail": detail}


def signup_assess(*, tenant: Tenant, data: SignupInput, now: datetime | None = None) -> SignupCase:
    """Run the checks, record the case (auto-approved or waiting for review) and return it.
    The caller onboards auto-approved cases (apps.lifecycle.joiner.signup_submit)."""
    now = now or timezone.now()
    policy = policy_for(tenant)
    tightened = signups_today(tenant=tenant, now=now) >= policy.daily_signups_tighten_at
    signals: list[dict[str, Any]] = []
    email = data.email.strip().lower()
    if tightened:
        signals.append(
            _signal(
                "volume_tightened",
                tightened,
                _("more than %(n)d signups today") % {"n": policy.daily_signups_tighten_at},
            )
        )
    if is_disposable(email):
        signals.append(_signal("disposable_email", tightened, email.rsplit("@", 1)[-1]))

    geo = geo_provider()
    ip_point = geo.locate_ip(data.ip) if data.ip else None
    place = geo.locate_place(data.declared_location) if data.declared_location else None
    limit_km = float(conf("LICENSES_GEO_DISTANCE_KM"))
    window = timedelta(minutes=int(conf("LICENSES_GEO_WINDOW_MINUTES")))
    distance = None
    if data.ip and ip_point is None:
        signals.append(_signal("unknown_ip_location", tightened, data.ip))
    if ip_point is not None and place is not None:
        distance = distance_km(ip_point, place)
        declared_at = data.declared_at or now
        if distance > limit_km and abs(now - declared_at) <= window:
            signals.append(
                _signal(
                    "geo_distance",
                    tightened,
                    _("%(ip)s is in %(ip_place)s, %(km)d km from %(declared)s")
                    % {
                        "ip": data.ip,
                        "ip_place": ip_point.label,
                        "km": round(distance),
                        "declared": place.label,
                    },
                )
            )
    cluster_window = timedelta(minutes=int(conf("LICENSES_CLUSTER_WINDOW_MINUTES")))
    threshold = int(conf("LICENSES_CLUSTER_THRESHOLD")) - (1 if tightened else 0)
    with tenant_context(tenant):
        recent = SignupCase.objects.filter(created_at__gte=now - cluster_window)
        for code, field, value in (
            ("cluster_ip", "ip", data.ip or None),
            ("cluster_device", "device_fingerprint", data.device_fingerprint),
            ("cluster_payment", "payment_ref", data.payment_ref),
        ):
            if not value:
                continue
            same = recent.filter(**{field: value}).count()
            if same + 1 >= max(2, threshold):
                signals.append(
                    _signal(
                        code,
                        tightened,
                        _("%(n)d signups within %(minutes)d minutes")
                        % {"n": same + 1, "minutes": cluster_window.seconds // 60},
                    )
                )
        if ip_point is not None:
            travel = _impossible_travel(
                tenant, data, ip_point, now=now, window=window, limit_km=limit_km
            )
            if travel:
                signals.append(_signal("impossible_travel", tightened, travel))
        if data.device_fingerprint:
            digest = _device_hash(tenant, data.device_fingerprint)
            known = KnownDevice.objects.filter(fingerprint_hash=digest).first()
            if known is None:
                signals.append(_signal("new_device", tightened, digest[:12]))
                try:
                    with transaction.atomic():
                        KnownDevice.objects.create(tenant=tenant, fingerprint_hash=digest)
                except IntegrityError:
                    pass
            else:
                KnownDevice.objects.filter(pk=known.pk).update(last_seen_at=now)

        score = sum(int(s["weight"]) for s in signals)
        review_at = int(
            conf("LICENSES_REVIEW_SCORE_TIGHTENED" if tightened else "LICENSES_REVIEW_SCORE")
        )
        needs_review = score >= review_at
        with transaction.atomic():
            case = SignupCase.objects.create(
                tenant=tenant,
                email=email,
                full_name=data.full_name,
                ip=data.ip or None,
                declared_location=data.declared_location,
                ip_location=f"{ip_point.label}, {ip_point.country}" if ip_point else "",
                distance_km=round(distance) if distance is not None else None,
                device_fingerprint=data.device_fingerprint,
                payment_ref=data.payment_ref,
                request=data.request or {},
                signals=signals,
                score=score,
                tightened=tightened,
                decision=SignupDecision.PENDING if needs_review else SignupDecision.AUTO_APPROVED,
                created_at=now,
                due_at=now + timedelta(hours=policy.review_sla_hours) if needs_review else None,
            )
            audit_event_record(
                action="signup.assessed",
                target=case,
                after={
                    "decision": case.decision,
                    "score": score,
                    "signals": [s["code"] for s in signals],
                },
            )
    return case


def _impossible_travel(
    tenant: Tenant,
    data: SignupInput,
    ip_point: Any,
    *,
    now: datetime,
    window: timedelta,
    limit_km: float,
) -> str:
    geo = geo_provider()
    recent = SignupCase.objects.filter(created_at__gte=now - window, ip__isnull=False)
    lookups = [recent.filter(email=data.email.strip().lower())]
    if data.device_fingerprint:
        lookups.append(recent.filter(device_fingerprint=data.device_fingerprint))
    for qs in lookups:
        for earlier_ip in qs.values_list("ip", flat=True)[:20]:
            earlier = geo.locate_ip(str(earlier_ip))
            if earlier is None:
                continue
            km = distance_km(earlier, ip_point)
            if km > limit_km:
                return _("%(km)d km from %(place)s within %(minutes)d minutes") % {
                    "km": round(km),
                    "place": earlier.label,
                    "minutes": window.seconds // 60,
                }
    return ""


_ALLOWED = {
    SignupDecision.APPROVED: OPEN_SIGNUP_DECISIONS,
    SignupDecision.REJECTED: OPEN_SIGNUP_DECISIONS,
    SignupDecision.MORE_INFO: (SignupDecision.PENDING,),
}


def signup_decide(*, actor: Any, case: SignupCase, decision: str, note: str = "") -> SignupCase:
    """A reviewer's decision, as a guarded transition (a double click does nothing twice).
    Approval's onboarding is done by the caller in the same transaction."""
    tenant = Tenant.objects.get(pk=case.tenant_id)
    require_manager(actor=actor, tenant=tenant)
    if decision not in _ALLOWED:
        raise DomainError(_("Unknown decision."), code="invalid_decision")
    if decision in (SignupDecision.REJECTED, SignupDecision.MORE_INFO) and not note.strip():
        raise DomainError(_("Say why, for the record."), code="note_required")
    with tenant_context(tenant), transaction.atomic():
        before = case.decision
        now = timezone.now()
        updates: dict[str, Any] = {"decision": decision, "review_note": note[:500]}
        if decision == SignupDecision.MORE_INFO:
            # Waiting for the applicant: the SLA starts again when they answer.
            updates["due_at"] = now + timedelta(hours=policy_for(tenant).review_sla_hours)
        else:
            updates.update(reviewed_by=actor, reviewed_at=now)
        done = SignupCase.objects.filter(
            pk=case.pk,
            decision__in=_ALLOWED[decision],  # type: ignore[index]
        ).update(**updates)
        if not done:
            raise Conflict(_("This case was decided already."), code="already_decided")
        for name, value in updates.items():
            setattr(case, name, value)
        audit_event_record(
            action=f"signup.{decision}",
            actor=actor,
            target=case,
            before={"decision": before},
            after={"decision": decision},
            details={"note": note, "signals": case.signal_codes(), "score": case.score},
        )
    return case


def signup_link_user(*, case: SignupCase, user: Any) -> None:
    SignupCase.objects.filter(pk=case.pk).update(user=user)
    case.user = user


def signup_reviews_overdue_alert(*, now: datetime | None = None) -> int:
    """Sweeper: one open alert per tenant with reviews past their SLA."""
    now = now or timezone.now()
    with unscoped(reason="licences sweeper: overdue signup reviews"):
        rows = list(
            SignupCase.objects.filter(decision__in=OPEN_SIGNUP_DECISIONS, due_at__lt=now)
            .values_list("tenant_id", flat=True)
            .distinct()
        )
    raised = 0
    for tenant_id in rows:
        tenant = Tenant.objects.get(pk=tenant_id)
        with tenant_context(tenant), transaction.atomic():
            n = SignupCase.objects.filter(
                decision__in=OPEN_SIGNUP_DECISIONS, due_at__lt=now
            ).count()
            if alert_open_for_tenant(
                tenant_id=tenant_id,
                kind=AlertKind.REVIEW_SLA,
                message=_("%(n)d signup reviews are past their SLA.") % {"n": n},
            ):
                raised += 1
    return raised


CSV_HEADERS = [
    "id",
    "received_at",
    "email",
    "ip",
    "ip_location",
    "declared_location",
    "distance_km",
    "score",
    "tightened",
    "signals",
    "decision",
    "due_at",
    "reviewed_by",
    "reviewed_at",
    "note",
]


def _csv_safe(value: Any) -> str:
    """Spreadsheet formula injection: a cell starting with = + - @ is quoted with '."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def signup_cases_csv(*, actor: Any, tenant: Tenant, cases: Any) -> str:
    """The cases as CSV for auditors (the export itself is audited)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADERS)
    count = 0
    for c in cases:
        count += 1
        writer.writerow(
            [
                _csv_safe(v)
                for v in (
                    c.pk,
                    c.created_at.isoformat(),
                    c.email,
                    c.ip or "",
                    c.ip_location,
                    c.declared_location,
                    c.distance_km if c.distance_km is not None else "",
                    c.score,
                    "yes" if c.tightened else "no",
                    " ".join(c.signal_codes()),
                    c.decision,
                    c.due_at.isoformat() if c.due_at else "",
                    getattr(c.reviewed_by, "email", "") if c.reviewed_by_id else "",
                    c.reviewed_at.isoformat() if c.reviewed_at else "",
                    c.review_note,
                )
            ]
        )
    with tenant_context(tenant), transaction.atomic():
        audit_event_record(action="signup.cases_exported", actor=actor, details={"cases": count})
    return out.getvalue()


__all__ = ["F"]
