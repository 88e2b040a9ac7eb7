"""Celery tasks of the requests app: thin wrappers around the sweeper services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="apps.requests.tasks.requests_sweep_task")
def requests_sweep_task() -> dict[str, int]:
    from apps.requests.services.sweep import requests_sweep

    return requests_sweep()


@shared_task(name="apps.requests.tasks.notifications_email_task")
def notifications_email_task() -> int:
    from apps.requests.services.notify import notifications_email_due

    return notifications_email_due()
