"""Celery tasks of certification: thin wrappers around the services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="apps.certification.tasks.certification_sweep_task")
def certification_sweep_task() -> dict[str, int]:
    from apps.certification.services import campaigns_sweep

    return campaigns_sweep()
