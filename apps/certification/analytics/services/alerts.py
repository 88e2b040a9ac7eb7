"""Anomaly alerts after detection: audit, webhook, email; and triage (new → investigating →
dismissed / escalated to an incident), every step audited in the alert's tenant chain."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.certification.analytics.models import (
    AlertStatus,
    AnalyticsSettings,
    AnomalyAlert,
)
from apps.core.audit.services import audit_event_record
from apps.core.exceptions import Conflict, DomainError, PermissionDenied
from apps.core.tenancy import tenant_context, unscoped

logger = logging.getLogger("custos.analytics")


class TriageAction:
    INVESTIGATE = "investigate"
    DISMISS = "dismiss"
    ESCALATE = "escalate"
    REOPEN = "reopen"


# action -> (allowed from, to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    TriageAction.INVESTIGATE: ((AlertStatus.NEW,), AlertStatus.INVESTIGATING),
    TriageAction.DISMISS: ((AlertStatus.NEW, AlertStatus.INVESTIGATING), AlertStatus.DISMISSED),
    TriageAction.ESCALATE: (
        (AlertStatus.NEW, AlertStatus.INVESTIGATING),
        AlertStatus.ESCALATED,
    ),
    TriageAction.REOPEN: ((AlertStatus.DISMISSED,), AlertStatus.INVESTIGATING),
}


def _payload(alert: AnomalyAlert) -> dict[str, Any]:
    return {
        "source": "analytics",
        "alert_id": alert.pk,
        "kind": f"anomaly.{alert.kind}",
        "severity": alert.severity,
        "status": alert.status,
        "summary": alert.summary,
        "subject": {"type": "identity.user", "id": str(alert.user_id or "")},
        "occurred_at": alert.occurred_at.isoformat(),
        "raised_at": alert.raised_at.isoformat(),
        "details": alert.details,
    }


def alerts_raised(*, alerts: list[AnomalyAlert], rules: dict[int, AnalyticsSettings]) -> None:
    """In the detector's transaction: one audit event per alert in its tenant's chain (one
    bulk append per tenant), and the `alert.raised` webhook where the tenant wants it and has
    an endpoint for it (deliveries are rows, so they commit or roll back with the alerts).
    Email goes out from the notify sweeper (`notify_at`)."""
    from apps.integrations.models import WebhookEndpoint
    from apps.integrations.services.webhooks import webhook_event_emit
    from apps.tenants.models import Tenant

    by_tenant: dict[int, list[AnomalyAlert]] = {}
    for alert in alerts:
        by_tenant.setdefault(alert.tenant_id, []).append(alert)
    tenants = Tenant.objects.in_bulk(list(by_tenant))
    with unscoped(reason="anomaly alerts: which tenants have an alert webhook"):
        hooked = {
            tenant_id
            for tenant_id, types in WebhookEndpoint.objects.filter(
                tenant_id__in=list(by_tenant), is_active=True
            ).values_list("tenant_id", "event_types")
            if "alert.raised" in (types or [])
        }
    with translation.override(settings.LANGUAGE_CODE):
        for tenant_id, items in by_tenant.items():
            tenant = tenants[tenant_id]
            with tenant_context(tenant):
                _audit_many(
                    tenant,
                    [
                        {
                            "action": "analytics.alert.raised",
                            "target_type": "analytics.anomalyalert",
                            "target_id": a.pk,
                            "outcome": "flagged",
                            "details": {
                                "kind": a.kind,
                                "severity": a.severity,
                                "event": a.event_id,
                                **a.details,
                            },
                        }
                        for a in items
                    ],
                )
                conf = rules.get(tenant_id)
                if tenant_id in hooked and (conf is None or conf.webhook_alerts):
                    for a in items:
                        webhook_event_emit(
                            tenant=tenant, event_type="alert.raised", payload=_payload(a)
                        )


def _audit_many(tenant: Any, events: list[dict[str, Any]]) -> None:
    try:
        from apps.core.audit.services import audit_events_record_bulk
    except ImportError:  # pragma: no cover - older core
        for kwargs in events:
            audit_event_record(tenant=tenant, **kwargs)
        return
    audit_events_record_bulk(tenant=tenant, events=events)


def _can_triage(actor: Any, tenant_id: int) -> bool:
    if getattr(actor, "has_oversight", False):
        return True
    from apps.tenants.models import ADMIN_ROLES, Membership

    with unscoped(reason="triage permission: the actor's membership"):
        return Membership.objects.filter(
            tenant_id=tenant_id, user=actor, is_active=True, role__in=ADMIN_ROLES
        ).exists()


def _incident_open(*, actor: Any, alert: AnomalyAlert, note: str) -> str:
    """Open an incident through apps.incidents when the actor may (security and compliance
    staff: `incident_open` requires oversight); a tenant admin's escalation is recorded on the
    alert, where the staff compliance dashboard shows it for security staff to take up."""
    if not getattr(actor, "has_oversight", False):
        return ""
    try:
        from apps.incidents.services import incident_open
    except ImportError:  # pragma: no cover - incidents app without the service
        return ""
    incident = incident_open(
        actor=actor,
        title=alert.summary[:200],
        severity=alert.severity,
        tenants=[alert.tenant],
        summary=note or alert.summary,
        detected_at=min(alert.occurred_at, timezone.now()),
    )
    return str(getattr(incident, "reference", "") or incident.pk)


def alert_triage(*, actor: Any, alert: AnomalyAlert, action: str, note: str = "") -> AnomalyAlert:
    """Move an alert to its next triage state (guarded: a double click or two people at once
    change it once; the second gets a clear refusal)."""
    if action not in TRANSITIONS:
        raise DomainError(_("Unknown triage action."), code="triage_action")
    if not _can_triage(actor, alert.tenant_id):
        raise PermissionDenied(_("Only the tenant's admins and security staff can triage."))
    allowed_from, target = TRANSITIONS[action]
    note = (note or "").strip()[:2000]
    if action == TriageAction.DISMISS and not note:
        raise DomainError(_("Say why the alert is dismissed."), code="note_required")
    from apps.access.services.common import scope_for

    with scope_for(alert.tenant_id), transaction.atomic():
        now = timezone.now()
        before = alert.status
        updated = AnomalyAlert.objects.filter(
            pk=alert.pk, tenant_id=alert.tenant_id, status__in=allowed_from
        ).update(
            status=target,
            status_changed_at=now,
            status_changed_by=actor,
            triage_note=note,
        )
        if not updated:
            alert.refresh_from_db()
            raise Conflict(
                _("The alert is %(status)s already; nothing was changed.")
                % {"status": alert.get_status_display()},
                code="triage_state",
            )
        alert.refresh_from_db()
        if action == TriageAction.ESCALATE:
            reference = _incident_open(actor=actor, alert=alert, note=note)
            if reference:
                AnomalyAlert.objects.filter(pk=alert.pk).update(incident_ref=reference[:64])
                alert.incident_ref = reference[:64]
        audit_event_record(
            action=f"analytics.alert.{action}",
            actor=actor,
            tenant=alert.tenant_id,
            target=alert,
            before={"status": before},
            after={"status": alert.status, "incident": alert.incident_ref},
            details={"note": note, "kind": alert.kind, "severity": alert.severity},
        )
    return alert


# --- email ------------------------------------------------------------------------------------
def _recipients(tenant_id: int) -> list[tuple[str, str]]:
    from apps.tenants.models import ADMIN_ROLES, Membership

    with unscoped(reason="anomaly alert: the tenant's admins to tell"):
        rows = Membership.objects.filter(
            tenant_id=tenant_id, is_active=True, role__in=ADMIN_ROLES, user__is_active=True
        ).values_list("user__email", "user__language")
        return [(email, language or settings.LANGUAGE_CODE) for email, language in rows]


def alert_notify(*, alert_id: int) -> bool:
    """Email the tenant's admins once (claim: clear notify_at conditionally)."""
    now = timezone.now()
    with unscoped(reason="anomaly alert email"):
        claimed = AnomalyAlert.objects.filter(
            pk=alert_id, notify_at__isnull=False, notify_at__lte=now
        ).update(notify_at=None, notified_at=now)
        if not claimed:
            return False
        alert = AnomalyAlert.objects.select_related("tenant").get(pk=alert_id)
    by_language: dict[str, list[str]] = {}
    for email, language in _recipients(alert.tenant_id):
        by_language.setdefault(language, []).append(email)
    languages = {code for code, _name in settings.LANGUAGES}
    ok = True
    base = getattr(settings, "PORTAL_BASE_URL", "").rstrip("/")
    for language, emails in by_language.items():
        with translation.override(language if language in languages else settings.LANGUAGE_CODE):
            context = {"alert": alert, "tenant": alert.tenant, "base_url": base}
            subject = render_to_string("analytics/email/alert_subject.txt", context)
            body = render_to_string("analytics/email/alert.txt", context)
        try:
            send_mail(" ".join(subject.split()), body, None, emails)
        except Exception:
            logger.warning("could not send anomaly alert %s to %d people", alert_id, len(emails))
            ok = False
    if not ok:
        with unscoped(reason="anomaly alert email retry"):
            AnomalyAlert.objects.filter(pk=alert_id).update(
                notify_at=now + timedelta(minutes=5), notified_at=None
            )
    return ok


def alerts_notify_due(*, limit: int = 200) -> int:
    now = timezone.now()
    with unscoped(reason="anomaly alert email sweeper"):
        ids = list(
            AnomalyAlert.objects.filter(notify_at__lte=now)
            .order_by("notify_at")
            .values_list("pk", flat=True)[:limit]
        )
    return sum(1 for alert_id in ids if alert_notify(alert_id=alert_id))
