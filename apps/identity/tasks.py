"""Celery tasks of identity: thin wrappers around services (STYLE.md)."""

from __future__ import annotations

from celery import shared_task

from apps.identity.lockout import lockout_purge


@shared_task(name="apps.identity.tasks.login_throttle_purge_task")
def login_throttle_purge_task() -> int:
    """Forget lockout counters that have cooled off (beat: hourly), so the table stays small
    and holds nothing about people longer than the lockout needs."""
    return lockout_purge()
