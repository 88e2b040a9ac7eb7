"""Notifications: an in-portal notice per recipient, rendered in the recipient's language,
whose email copy the sweeper sends (`email_due_at`). Created inside the caller's transaction, so
a rolled-back decision notifies nobody; the email task is queued on commit."""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.core.tenancy import unscoped
from apps.requests.models import AccessRequest, Notification

logger = logging.getLogger("custos.requests")


def _language(user: Any) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    language = getattr(user, "language", "") or settings.LANGUAGE_CODE
    return language if language in codes else settings.LANGUAGE_CODE


def request_url(req: AccessRequest, user: Any, *, inbox: bool = False) -> str:
    """Where `user` looks at `req`: vendor staff in the staff console, customers in the portal."""
    if getattr(user, "is_vendor_staff", False):
        name = "staff_requests:inbox" if inbox else "staff_requests:detail"
        return reverse(name) if inbox else reverse(name, kwargs={"request_id": req.pk})
    slug = req.tenant.slug
    if inbox:
        return reverse("requests:inbox", kwargs={"tenant_slug": slug})
    return reverse("requests:detail", kwargs={"tenant_slug": slug, "request_id": req.pk})


def _url_for(req: AccessRequest, user: Any, *, inbox: bool, step: Any) -> str:
    if step is not None:
        from apps.requests.links import approval_link_url

        return approval_link_url(req=req, step=step, approver=user)
    return request_url(req, user, inbox=inbox)


def absolute(url: str) -> str:
    base = getattr(settings, "PORTAL_BASE_URL", "http://localhost:8000").rstrip("/")
    return f"{base}{url}" if url.startswith("/") else url


def _format(value: Any, user: Any) -> Any:
    """Times in the recipient's own time zone."""
    if isinstance(value, datetime):
        try:
            zone = zoneinfo.ZoneInfo(getattr(user, "time_zone", "") or "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = zoneinfo.ZoneInfo("UTC")
        return timezone.localtime(value, zone).strftime("%Y-%m-%d %H:%M %Z")
    return value


# Translated when a notice is made, in its recipient's language: only the event's own two
# strings (a sweeper ending 100,000 requests makes as many notices).
_SUBJECTS = {
    "approval_needed": gettext_noop("Approval needed: %(target)s for %(who)s"),
    "reminder": gettext_noop("Reminder: approval due soon for %(target)s"),
    "escalated_to_you": gettext_noop("Escalated to you: %(target)s for %(who)s"),
    "escalated": gettext_noop("Your request #%(id)s was escalated"),
    "approved": gettext_noop("Approved: %(target)s"),
    "denied": gettext_noop("Denied: %(target)s"),
    "expired": gettext_noop("Expired unanswered: %(target)s"),
    "cancelled": gettext_noop("Cancelled: %(target)s"),
    "granted": gettext_noop("Access granted: %(target)s"),
    "ended": gettext_noop("Access ended: %(target)s"),
    "revoked": gettext_noop("Access revoked: %(target)s"),
    "break_glass": gettext_noop("Break-glass access to %(tenant)s: %(target)s"),
    "review_needed": gettext_noop("Review break-glass access #%(id)s"),
    "review_overdue": gettext_noop("Overdue: break-glass review #%(id)s"),
    "vendor_approval_needed": gettext_noop("Vendor access to %(tenant)s needs your decision"),
}
_BODIES = {
    "approval_needed": gettext_noop(
        "%(requester)s asks for %(target)s for %(who)s. Justification: %(justification)s"
    ),
    "reminder": gettext_noop("Request #%(id)s (%(target)s) escalates at %(due)s unless decided."),
    "escalated_to_you": gettext_noop(
        "Request #%(id)s (%(target)s) was not decided in time and now waits for you."
    ),
    "escalated": gettext_noop(
        "Step “%(step)s” was not decided in time and went to a fallback approver."
    ),
    "approved": gettext_noop("Request #%(id)s was approved. %(reason)s"),
    "denied": gettext_noop("Request #%(id)s was denied. Reason: %(reason)s"),
    "expired": gettext_noop("Request #%(id)s was not answered in time and expired."),
    "cancelled": gettext_noop("Request #%(id)s was cancelled."),
    "granted": gettext_noop("You hold %(target)s from %(starts)s until %(ends)s."),
    "ended": gettext_noop("Your access to %(target)s ended (%(reason)s)."),
    "revoked": gettext_noop("Access to %(target)s was revoked: %(reason)s"),
    "break_glass": gettext_noop(
        "%(who)s used break-glass access to %(target)s until %(ends)s, skipping approval. "
        "Justification: %(justification)s"
    ),
    "review_needed": gettext_noop(
        "Break-glass access #%(id)s by %(who)s needs a review before %(due)s."
    ),
    "review_overdue": gettext_noop(
        "Nobody reviewed break-glass access #%(id)s by %(who)s in time."
    ),
    "vendor_approval_needed": gettext_noop(
        "%(who)s (vendor staff) asks for %(target)s in %(tenant)s for ticket %(ticket)s. "
        "Justification: %(justification)s"
    ),
}


def _text(event: str, req: AccessRequest, extra: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of one event, in the active language."""
    params = {
        "id": req.pk,
        "target": req.target_label,
        "tenant": req.tenant.name,
        "who": str(req.beneficiary),
        "requester": str(req.requester),
        **extra,
    }
    params.setdefault("justification", req.justification[:300])
    params.setdefault("reason", req.decision_reason or "")
    params.setdefault("ticket", req.ticket_ref or "—")
    subject = _(_SUBJECTS[event]) % params if event in _SUBJECTS else event % params
    body = _(_BODIES[event]) % params if event in _BODIES else ""
    return subject, body


def notice_rows(
    *,
    recipients: Iterable[Any],
    event: str,
    req: AccessRequest,
    inbox: bool = False,
    extra: dict[str, Any] | None = None,
    step: Any = None,
    now: datetime | None = None,
) -> list[Notification]:
    """Unsaved notices, one per distinct active recipient, each in its recipient's language."""
    now = now or timezone.now()
    seen: set[int] = set()
    rows = []
    for user in recipients:
        if user is None or user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        with translation.override(_language(user)):
            values = {k: _format(v, user) for k, v in (extra or {}).items()}
            subject, body = _text(event, req, values)
        rows.append(
            Notification(
                tenant_id=req.tenant_id,
                recipient=user,
                request=req,
                event=event,
                subject=subject[:200],
                body=body,
                url=_url_for(req, user, inbox=inbox, step=step),
                created_at=now,
                email_due_at=now,
            )
        )
    return rows


def notices_save(rows: list[Notification]) -> int:
    if rows:
        Notification.objects.bulk_create(rows, batch_size=1000)
        transaction.on_commit(_queue_email_send)
    return len(rows)


def notify(
    *,
    recipients: Iterable[Any],
    event: str,
    req: AccessRequest,
    inbox: bool = False,
    extra: dict[str, Any] | None = None,
    step: Any = None,
) -> int:
    """One notice per distinct recipient, in each recipient's own language."""
    return notices_save(
        notice_rows(
            recipients=recipients, event=event, req=req, inbox=inbox, extra=extra, step=step
        )
    )


def _queue_email_send() -> None:
    from apps.requests.tasks import notifications_email_task

    try:
        notifications_email_task.delay()
    except Exception:  # the sweeper sends it at its next run anyway
        logger.info("could not queue the notification email task; the sweeper will send")


def notifications_email_due(*, now: Any = None, limit: int = 200) -> int:
    """Send the email copy of due notices. Claimed one by one with a conditional UPDATE, so two
    workers never send the same email twice."""
    now = now or timezone.now()
    sent = 0
    with unscoped(reason="notification sweeper: due emails of every tenant"):
        due = list(
            Notification.objects.filter(email_due_at__lte=now)
            .select_related("recipient")
            .order_by("email_due_at")[:limit]
        )
        for notice in due:
            claimed = Notification.objects.filter(
                pk=notice.pk, email_due_at=notice.email_due_at
            ).update(email_due_at=None, emailed_at=now)
            if not claimed:
                continue
            body = f"{notice.body}\n\n{absolute(notice.url)}\n" if notice.url else notice.body
            try:
                send_mail(notice.subject, body, None, [notice.recipient.email])
            except Exception:
                logger.warning("could not email notice %s; retrying in 5 minutes", notice.pk)
                Notification.objects.filter(pk=notice.pk).update(
                    email_due_at=now + timedelta(minutes=5), emailed_at=None
                )
                continue
            sent += 1
    return sent
