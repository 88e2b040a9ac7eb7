"""Celery beat sweepers (thin wrappers; the timers are columns, see STYLE.md)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="apps.integrations.tasks.webhook_deliveries_sweep_task")
def webhook_deliveries_sweep_task() -> int:
    from apps.integrations.services.webhooks import webhook_deliveries_send_due

    return webhook_deliveries_send_due()


@shared_task(name="apps.integrations.tasks.api_keys_sweep_task")
def api_keys_sweep_task() -> dict[str, int]:
    from apps.integrations.services.api_keys import api_keys_expire_due, api_keys_notify_due

    return {"ended": api_keys_expire_due(), "notified": api_keys_notify_due()}


@shared_task(name="apps.integrations.tasks.integration_notices_sweep_task")
def integration_notices_sweep_task() -> dict[str, int]:
    from apps.integrations.services.alerts import security_alerts_notify_due
    from apps.integrations.services.housekeeping import deprecated_calls_notify_due
    from apps.integrations.services.offboarding import rotation_marks_notify_due

    return {
        "alerts": security_alerts_notify_due(),
        "deprecations": deprecated_calls_notify_due(),
        "rotations": rotation_marks_notify_due(),
    }


@shared_task(name="apps.integrations.tasks.integrations_housekeeping_task")
def integrations_housekeeping_task() -> dict[str, int]:
    from apps.integrations.services.calls import call_log_flush
    from apps.integrations.services.housekeeping import integrations_housekeeping

    call_log_flush()
    return integrations_housekeeping()
