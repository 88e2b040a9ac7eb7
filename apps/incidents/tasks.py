"""Celery beat sweeper for incident notifications (a thin wrapper; the timers are columns)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="apps.incidents.tasks.incident_notifications_task")
def incident_notifications_task() -> dict[str, int]:
    """Send approved customer notifications and remind owners of nearing deadlines."""
    from apps.incidents.services import notification_reminders_due, notifications_send_due

    return {"sent": notifications_send_due(), "reminded": notification_reminders_due()}
