"""Celery tasks of the licences app: thin wrappers around services (the timers are columns;
beat runs the sweepers, see CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="apps.licenses.tasks.provisioning_drain_task")
def provisioning_drain_task() -> dict[str, int]:
    """Drain the throttled provisioning queue (a batch per run)."""
    from apps.lifecycle.joiner import joiner_queue_drain

    return joiner_queue_drain()


@shared_task(name="apps.licenses.tasks.welcome_notify_task")
def welcome_notify_task(tenant_id: int, welcomes: list[list[Any]]) -> int:
    """Welcome mails of people onboarded (queued on commit by the joiner and imports)."""
    from apps.licenses.notify import welcome_send_many

    return welcome_send_many(tenant_id=tenant_id, welcomes=welcomes)


@shared_task(name="apps.licenses.tasks.welcomes_notify_task")
def welcomes_notify_task(groups: list[list[Any]]) -> int:
    """Welcome mails of several tenants in one message ([tenant id, welcomes] pairs: the
    per-process buffer of LICENSES_WELCOME_BUFFER_SIZE)."""
    from apps.licenses.notify import welcome_send_many

    return sum(
        welcome_send_many(tenant_id=int(tenant_id), welcomes=welcomes)
        for tenant_id, welcomes in groups
    )


@shared_task(name="apps.licenses.tasks.import_run_task")
def import_run_task(tenant_id: int, import_id: int) -> dict[str, int] | None:
    from apps.lifecycle.joiner import joiner_import_run

    return joiner_import_run(import_id=import_id)


@shared_task(name="apps.licenses.tasks.imports_sweep_task")
def imports_sweep_task() -> int:
    """Safety net: run queued imports whose message was lost, and imports whose worker died."""
    from apps.licenses.services.imports import imports_due
    from apps.lifecycle.joiner import joiner_import_run

    ran = 0
    for import_id in imports_due():
        if joiner_import_run(import_id=import_id) is not None:
            ran += 1
    return ran


@shared_task(name="apps.licenses.tasks.pools_sweep_task")
def pools_sweep_task() -> dict[str, Any]:
    """Waiting lists, the controlled reserve draw, contract ends, review SLAs, housekeeping."""
    from apps.licenses.services.idempotency import idempotency_purge
    from apps.licenses.services.risk import signup_reviews_overdue_alert
    from apps.licenses.services.seats import (
        reserve_draw_due,
        seats_reclaim_contract_ended,
        waitlists_serve_due,
    )

    return {
        "served": waitlists_serve_due(),
        "reserve_drawn": reserve_draw_due(),
        "contract_reclaimed": seats_reclaim_contract_ended(),
        "review_alerts": signup_reviews_overdue_alert(),
        "idempotency_purged": idempotency_purge(),
    }


@shared_task(name="apps.licenses.tasks.disposable_refresh_task")
def disposable_refresh_task() -> int:
    from apps.licenses.services.lists import disposable_list_refresh

    return disposable_list_refresh()
