"""Celery tasks of the lifecycle: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="apps.lifecycle.tasks.tenants_deprovision_ended_task")
def tenants_deprovision_ended_task() -> int:
    """Beat: tenants whose contracts all ended are terminated and their members deprovisioned
    (idempotent; a restart loses nothing, the next sweep finds what is left)."""
    from apps.lifecycle.leaver import tenants_deprovision_ended

    return tenants_deprovision_ended()
