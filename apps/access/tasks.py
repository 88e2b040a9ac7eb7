"""Celery tasks of access: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="access.expire_grants")
def expire_grants_task(limit: int = 1000) -> int:
    from apps.access.services import grants_expire_due

    return grants_expire_due(limit=limit)
