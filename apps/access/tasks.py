"""Celery tasks of access: thin wrappers around services."""

from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings


@shared_task(name="access.expire_grants")
def expire_grants_task(limit: int = 10_000, budget_seconds: float | None = None) -> int:
    """Sweep due expiries batch after batch until none is due or the time budget (by default
    most of one sweep interval, so beat's next run does not pile up behind this one) is spent;
    the next run picks up whatever is left. Returns how many expiries were recorded."""
    from apps.access.services import grants_expire_due

    if budget_seconds is None:
        budget_seconds = 0.8 * float(getattr(settings, "ACCESS_SWEEP_INTERVAL", 10))
    deadline = time.monotonic() + budget_seconds
    total = 0
    while True:
        done = grants_expire_due(limit=limit)
        total += done
        if done == 0 or time.monotonic() >= deadline:
            return total
