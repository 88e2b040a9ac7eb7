"""Security alerts: raised by misuse detection, told to the tenant's admins (or, for platform
alerts, to security staff) by email, recorded in the audit log and sent as `alert.raised`
webhooks. Other apps (anomaly detection) raise their own kinds through `security_alert_raise`."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.audit.services import audit_event_record
from apps.core.tenancy import tenant_context, unscoped
from apps.integrations.models import AlertSeverity, SecurityAlert
from apps.integrations.notify import mail_send_localised

logger = logging.getLogger("custos.integrations")


def security_alert_raise(
    *,
    tenant: Any,
    kind: str,
    summary: str,
    severity: str = AlertSeverity.MEDIUM,
    details: dict[str, Any] | None = None,
    subject_type: str = "",
    subject_id: str | int = "",
) -> SecurityAlert:
    tenant_id = getattr(tenant, "pk", tenant)
    now = timezone.now()
    with unscoped(reason="security alert: platform or tenant row"), transaction.atomic():
        alert = SecurityAlert.objects.create(
            tenant_id=tenant_id,
            kind=kind,
            severity=severity,
            summary=summary[:300],
            details=details or {},
            subject_type=subject_type,
            subject_id=str(subject_id),
            raised_at=now,
            notify_at=now,
        )
        audit_event_record(
            action="security_alert.raised",
            tenant=tenant_id,
            use_current_tenant=False,
            target=alert,
            outcome="failure",
            details={
                "kind": kind,
                "severity": severity,
                "summary": alert.summary,
                **(details or {}),
            },
        )
    if tenant_id is not None:
        from apps.integrations.services.webhooks import webhook_event_emit
        from apps.tenants.models import Tenant

        tenant_obj = Tenant.objects.get(pk=tenant_id)
        with tenant_context(tenant_obj):
            webhook_event_emit(
                tenant=tenant_obj,
                event_type="alert.raised",
                payload={
                    "alert_id": alert.pk,
                    "kind": kind,
                    "severity": severity,
                    "summary": alert.summary,
                    "subject": {"type": subject_type, "id": str(subject_id)},
                    "raised_at": now.isoformat(),
                },
            )
    transaction.on_commit(lambda: security_alert_notify(alert_id=alert.pk))
    return alert


def _recipients(alert: SecurityAlert) -> list[tuple[str, str]]:
    """(email, language) of the people to tell."""
    from apps.identity.models import StaffRole, User
    from apps.tenants.models import ADMIN_ROLES, Membership

    if alert.tenant_id is None:
        users = User.objects.filter(is_active=True, staff_role=StaffRole.SECURITY)
        return [(u.email, u.language) for u in users]
    with unscoped(reason="security alert: the tenant's admins to notify"):
        memberships = Membership.objects.filter(
            tenant_id=alert.tenant_id, is_active=True, role__in=ADMIN_ROLES, user__is_active=True
        ).select_related("user")
        return [(m.user.email, m.user.language) for m in memberships]


def security_alert_notify(*, alert_id: int) -> bool:
    """Send the alert email once: the row is claimed by clearing notify_at conditionally."""
    now = timezone.now()
    with unscoped(reason="security alert notification"):
        claimed = SecurityAlert.objects.filter(
            pk=alert_id, notify_at__isnull=False, notify_at__lte=now
        ).update(notify_at=None, notified_at=now)
        if not claimed:
            return False
        alert = SecurityAlert.objects.select_related("tenant").get(pk=alert_id)
        recipients = _recipients(alert)
    by_language: dict[str, list[str]] = {}
    for email, language in recipients:
        by_language.setdefault(language or "en", []).append(email)
    ok = True
    for language, emails in by_language.items():
        ok &= mail_send_localised(
            to=emails, language=language, template="security_alert", context={"alert": alert}
        )
    if not ok:  # try again on the next sweep
        with unscoped(reason="security alert notification retry"):
            SecurityAlert.objects.filter(pk=alert_id).update(
                notify_at=now + timedelta(minutes=5), notified_at=None
            )
    return ok


def security_alerts_notify_due(*, limit: int = 100) -> int:
    now = timezone.now()
    with unscoped(reason="security alert sweeper"):
        ids = list(
            SecurityAlert.objects.filter(Q(notify_at__lte=now))
            .order_by("notify_at")
            .values_list("pk", flat=True)[:limit]
        )
    return sum(1 for alert_id in ids if security_alert_notify(alert_id=alert_id))
