"""Sweepers that are neither keys nor webhooks: deprecation notices and clean-up."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from apps.core.audit.services import audit_event_record
from apps.core.tenancy import tenant_context, unscoped
from apps.integrations.conf import conf
from apps.integrations.models import (
    ApiCallRecord,
    ApiDeprecatedCall,
    DeliveryStatus,
    OAuthAccessToken,
    OAuthAssertionJti,
    WebhookDelivery,
)
from apps.integrations.notify import mail_send_localised


def deprecated_calls_notify_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Tell a client's technical contact which deprecated endpoints it still calls: at most once
    per API_DEPRECATION_NOTICE_DAYS per client and endpoint, and only after a new call."""
    now = now or timezone.now()
    quiet = now - timedelta(days=int(conf("API_DEPRECATION_NOTICE_DAYS")))
    with unscoped(reason="deprecation notices: clients of every tenant"):
        due = list(
            ApiDeprecatedCall.objects.filter(
                Q(notified_at__isnull=True)
                | Q(notified_at__lte=quiet, last_seen_at__gt=F("notified_at"))
            )
            .exclude(technical_contact_email="")
            .select_related("tenant")
            .order_by("last_seen_at")[:limit]
        )
    sent = 0
    for row in due:
        with tenant_context(row.tenant):
            claim = ApiDeprecatedCall.objects.filter(pk=row.pk, notified_at=row.notified_at)
            if not claim.update(notified_at=now):
                continue
            ok = mail_send_localised(
                to=[row.technical_contact_email],
                language=row.contact_language,
                template="api_deprecation",
                context={"row": row, "tenant": row.tenant},
            )
            if not ok:
                ApiDeprecatedCall.objects.filter(pk=row.pk).update(notified_at=row.notified_at)
                continue
            sent += 1
            audit_event_record(
                action="api.deprecation_notified",
                tenant=row.tenant,
                target=row,
                details={
                    "endpoint": f"{row.method} {row.endpoint}",
                    "client": row.credential_label,
                    "to": row.technical_contact_email,
                },
            )
    return sent


def integrations_housekeeping(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    retention = timedelta(days=int(conf("API_CALL_RETENTION_DAYS")))
    with unscoped(reason="integrations housekeeping: expired rows of every tenant"):
        result = {
            "jti": OAuthAssertionJti.objects.filter(expires_at__lt=now).delete()[0],
            "tokens": OAuthAccessToken.objects.filter(
                expires_at__lt=now - timedelta(days=1)
            ).delete()[0],
            "calls": ApiCallRecord.objects.filter(occurred_at__lt=now - retention).delete()[0],
            "deliveries": WebhookDelivery.objects.filter(
                status__in=[
                    DeliveryStatus.SUCCEEDED,
                    DeliveryStatus.FAILED,
                    DeliveryStatus.CANCELLED,
                ],
                created_at__lt=now - retention,
            ).delete()[0],
        }
    return result
