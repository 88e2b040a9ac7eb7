"""Customer notifications: a template per jurisdiction rendered in the customer's language,
a disclosure deadline (e.g. 72 hours from becoming aware under the GDPR), reminders to the
incident's owners while it is unsent, and the email itself through Django's mail (the same
mechanism as the other notices), claimed by a sweeper with a conditional UPDATE."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.audit.services import audit_event_record
from apps.core.tenancy import tenant_context, unscoped
from apps.incidents.models import (
    CustomerNotification,
    Incident,
    NotificationStatus,
    TimelineKind,
)
from apps.incidents.services.common import (
    IncidentConflict,
    IncidentError,
    incident_tenant_get,
    require_open,
    require_oversight,
    timeline_add,
)
from apps.tenants.models import Membership, Tenant, TenantRole

logger = logging.getLogger("custos.incidents")

LANGUAGES = ("en", "de", "fr")
# Reminders go out this long before the deadline, then every OVERDUE_EVERY after it.
REMIND_BEFORE = (timedelta(hours=24), timedelta(hours=6), timedelta(hours=1), timedelta(0))
OVERDUE_EVERY = timedelta(hours=4)
RETRY_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class Jurisdiction:
    key: str
    label: Any
    hours: int | None  # disclosure deadline from becoming aware; None: set by hand
    basis: Any


JURISDICTIONS: dict[str, Jurisdiction] = {
    j.key: j
    for j in (
        Jurisdiction("gdpr", gettext_lazy("EU GDPR"), 72, gettext_lazy("Art. 33 and 34 GDPR")),
        Jurisdiction(
            "uk_gdpr", gettext_lazy("UK GDPR"), 72, gettext_lazy("Art. 33 and 34 UK GDPR")
        ),
        Jurisdiction(
            "nis2",
            gettext_lazy("EU NIS2 (early warning)"),
            24,
            gettext_lazy("Art. 23 NIS2 Directive"),
        ),
        Jurisdiction(
            "hipaa",
            gettext_lazy("US HIPAA"),
            24 * 60,
            gettext_lazy("45 CFR 164.404 to 164.410"),
        ),
        Jurisdiction(
            "contract",
            gettext_lazy("Contractual notice"),
            None,
            gettext_lazy("the notification clause of your contract"),
        ),
    )
}


def jurisdiction_choices() -> list[tuple[str, Any]]:
    return [(j.key, j.label) for j in JURISDICTIONS.values()]


def default_jurisdiction(tenant: Tenant) -> str:
    region = tenant.data_residency or tenant.region
    return {"eu": "gdpr", "uk": "uk_gdpr", "us": "contract"}.get(str(region), "contract")


def next_reminder(deadline: datetime | None, now: datetime) -> datetime | None:
    if deadline is None:
        return None
    for before in REMIND_BEFORE:
        moment = deadline - before
        if moment > now:
            return moment
    return now + OVERDUE_EVERY


def render_notification(
    *, incident: Incident, tenant: Tenant, jurisdiction: str, language: str, deadline: Any
) -> tuple[str, str]:
    """Subject and text from `incidents/notifications/<jurisdiction>.txt`, in `language`."""
    spec = JURISDICTIONS[jurisdiction]
    context = {
        "incident": incident,
        "tenant": tenant,
        "jurisdiction": spec,
        "deadline": deadline,
        "portal_url": f"{getattr(settings, 'PORTAL_BASE_URL', '').rstrip('/')}"
        f"/t/{tenant.slug}/incidents/{incident.pk}/",
    }
    with translation.override(language):
        subject = render_to_string("incidents/notifications/subject.txt", context)
        body = render_to_string(f"incidents/notifications/{jurisdiction}.txt", context)
    return " ".join(subject.split())[:200], body.strip() + "\n"


def _admin_emails(tenant: Tenant) -> list[str]:
    with tenant_context(tenant):
        return sorted(
            Membership.objects.filter(
                is_active=True, role=TenantRole.CUSTOMER_ADMIN, user__is_active=True
            ).values_list("user__email", flat=True)
        )


@transaction.atomic
def notification_draft(
    *,
    actor: Any,
    incident: Incident,
    tenant: Tenant,
    jurisdiction: str,
    language: str,
    recipients: list[str] | None = None,
    deadline_at: datetime | None = None,
) -> CustomerNotification:
    require_oversight(actor)
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    require_open(incident)
    if jurisdiction not in JURISDICTIONS:
        raise IncidentError(_("Unknown jurisdiction."), code="jurisdiction")
    if language not in LANGUAGES:
        raise IncidentError(_("Unknown language."), code="language")
    spec = JURISDICTIONS[jurisdiction]
    if deadline_at is None and spec.hours is not None:
        deadline_at = incident.detected_at + timedelta(hours=spec.hours)
    if deadline_at is None:
        raise IncidentError(
            _("This jurisdiction has no fixed deadline: give one."), code="deadline_at"
        )
    to = [e.strip().lower() for e in (recipients or []) if e.strip()] or _admin_emails(tenant)
    if not to:
        raise IncidentError(
            _("%(tenant)s has no active customer admin to notify: give the recipients.")
            % {"tenant": tenant.name},
            code="recipients",
        )
    subject, body = render_notification(
        incident=incident,
        tenant=tenant,
        jurisdiction=jurisdiction,
        language=language,
        deadline=deadline_at,
    )
    now = timezone.now()
    with tenant_context(tenant):
        incident_tenant_get(incident=incident, tenant=tenant)
        notice = CustomerNotification.objects.create(
            tenant=tenant,
            incident=incident,
            jurisdiction=jurisdiction,
            language=language,
            recipients=to,
            subject=subject,
            body=body,
            deadline_at=deadline_at,
            created_by=actor,
            created_at=now,
            remind_at=next_reminder(deadline_at, now),
        )
        audit_event_record(
            action="incident.notification_drafted",
            actor=actor,
            tenant=tenant,
            target=notice,
            after={
                "jurisdiction": jurisdiction,
                "language": language,
                "deadline_at": deadline_at.isoformat(),
                "recipients": to,
            },
        )
    timeline_add(
        incident=incident,
        kind=TimelineKind.NOTIFICATION,
        actor=actor,
        tenant=tenant,
        text=_("Notification to %(tenant)s drafted (%(jurisdiction)s, %(language)s), due %(due)s.")
        % {
            "tenant": tenant.name,
            "jurisdiction": spec.label,
            "language": language,
            "due": deadline_at.isoformat(timespec="minutes"),
        },
    )
    return notice


@transaction.atomic
def notification_send(
    *,
    actor: Any,
    notification: CustomerNotification,
    subject: str | None = None,
    body: str | None = None,
) -> CustomerNotification:
    """Approve the (possibly edited) text and send it; the email leaves after commit."""
    require_oversight(actor)
    tenant = notification.tenant
    with tenant_context(tenant):
        fields: dict[str, Any] = {
            "status": NotificationStatus.SENDING,
            "email_due_at": timezone.now(),
            "sent_by": actor,
            "remind_at": None,
        }
        if subject is not None and subject.strip():
            fields["subject"] = " ".join(subject.split())[:200]
        if body is not None and body.strip():
            fields["body"] = body.strip() + "\n"
        done = CustomerNotification.objects.filter(
            pk=notification.pk, status=NotificationStatus.DRAFT
        ).update(**fields)
        if not done:
            raise IncidentConflict(_("This notification was sent already."), code="sent")
        notification.refresh_from_db()
        audit_event_record(
            action="incident.notification_approved",
            actor=actor,
            tenant=tenant,
            target=notification,
            after={"subject": notification.subject, "recipients": notification.recipients},
        )
    transaction.on_commit(_queue_send)
    return notification


def _queue_send() -> None:
    from apps.incidents.tasks import incident_notifications_task

    try:
        incident_notifications_task.delay()
    except Exception:  # the beat sweeper sends it at its next run anyway
        logger.info("could not queue the incident notification task; the sweeper will send")


def notifications_send_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Send approved notifications (claimed one by one: two workers never send one twice)."""
    now = now or timezone.now()
    sent = 0
    with unscoped(reason="incident notification sweeper: due emails of every tenant"):
        due = list(
            CustomerNotification.objects.filter(
                status=NotificationStatus.SENDING, email_due_at__lte=now
            )
            .select_related("incident", "tenant")
            .order_by("email_due_at")[:limit]
        )
    for notice in due:
        with tenant_context(notice.tenant), transaction.atomic():
            claimed = CustomerNotification.objects.filter(
                pk=notice.pk, status=NotificationStatus.SENDING, email_due_at=notice.email_due_at
            ).update(email_due_at=None, send_attempts=notice.send_attempts + 1)
            if not claimed:
                continue
            try:
                send_mail(notice.subject, notice.body, None, list(notice.recipients))
            except Exception:
                logger.warning("could not email incident notification %s; retrying", notice.pk)
                CustomerNotification.objects.filter(pk=notice.pk).update(
                    email_due_at=now + RETRY_AFTER
                )
                continue
            CustomerNotification.objects.filter(pk=notice.pk).update(
                status=NotificationStatus.SENT, sent_at=now
            )
            on_time = notice.deadline_at is None or now <= notice.deadline_at
            audit_event_record(
                action="incident.customer_notified",
                actor=notice.sent_by,
                tenant=notice.tenant,
                target=notice,
                after={
                    "recipients": notice.recipients,
                    "deadline_at": notice.deadline_at.isoformat() if notice.deadline_at else "",
                    "on_time": on_time,
                },
            )
        timeline_add(
            incident=notice.incident,
            kind=TimelineKind.NOTIFICATION,
            tenant=notice.tenant,
            text=(
                _("Notification sent to %(tenant)s (%(n)d recipients), within the deadline.")
                if on_time
                else _("Notification sent to %(tenant)s (%(n)d recipients), AFTER the deadline.")
            )
            % {"tenant": notice.tenant.name, "n": len(notice.recipients)},
        )
        sent += 1
    return sent


def _owner_emails(incident: Incident) -> list[str]:
    return sorted(incident.owners.filter(is_active=True).values_list("email", flat=True))


def notification_reminders_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Remind the incident's owners of unsent notifications as their deadline nears (24 h,
    6 h, 1 h before, at the deadline, then every 4 hours while overdue)."""
    now = now or timezone.now()
    reminded = 0
    with unscoped(reason="incident reminder sweeper: notification deadlines of every tenant"):
        due = list(
            CustomerNotification.objects.filter(status=NotificationStatus.DRAFT, remind_at__lte=now)
            .select_related("incident", "tenant")
            .order_by("remind_at")[:limit]
        )
    for notice in due:
        with tenant_context(notice.tenant), transaction.atomic():
            claimed = CustomerNotification.objects.filter(
                pk=notice.pk, status=NotificationStatus.DRAFT, remind_at=notice.remind_at
            ).update(
                remind_at=next_reminder(notice.deadline_at, now),
                reminders_sent=notice.reminders_sent + 1,
                last_reminder_at=now,
            )
            if not claimed:
                continue
            overdue = notice.deadline_at is not None and notice.deadline_at <= now
            to = _owner_emails(notice.incident)
            with translation.override(settings.LANGUAGE_CODE):
                subject = (
                    _("OVERDUE: notify %(tenant)s about %(ref)s")
                    if overdue
                    else _("Reminder: notify %(tenant)s about %(ref)s by %(due)s")
                ) % {
                    "tenant": notice.tenant.name,
                    "ref": notice.incident.reference,
                    "due": notice.deadline_at.isoformat(timespec="minutes")
                    if notice.deadline_at
                    else "",
                }
                body = _(
                    "The %(jurisdiction)s notification to %(tenant)s for incident %(ref)s is "
                    "not sent yet. Deadline: %(due)s."
                ) % {
                    "jurisdiction": JURISDICTIONS[notice.jurisdiction].label
                    if notice.jurisdiction in JURISDICTIONS
                    else notice.jurisdiction,
                    "tenant": notice.tenant.name,
                    "ref": notice.incident.reference,
                    "due": notice.deadline_at.isoformat(timespec="minutes")
                    if notice.deadline_at
                    else "",
                }
            if to:
                try:
                    send_mail(subject, body, None, to)
                except Exception:
                    logger.warning("could not send reminder for notification %s", notice.pk)
            audit_event_record(
                action="incident.notification_reminder",
                tenant=notice.tenant,
                target=notice,
                details={"overdue": overdue, "to": to, "reminder": notice.reminders_sent + 1},
            )
        timeline_add(
            incident=notice.incident,
            kind=TimelineKind.REMINDER,
            tenant=notice.tenant,
            text=subject,
        )
        reminded += 1
    return reminded
