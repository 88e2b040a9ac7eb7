"""A task for tests/core/test_celery_worker.py, loaded into the real worker with
`celery -A config worker -I tests.core.celery_probe`. It is built with `tenant_task`, like every
tenant task, and leaves traces that only its own tenant can see."""

from __future__ import annotations

from celery import shared_task
from django.db import connection, transaction

from apps.core.audit.services import audit_event_record
from apps.core.tasks import tenant_task
from apps.tenants.models import Environment, Tenant

PROBE_TASK = "tests.core.celery_probe.tenant_probe_task"


@shared_task(name=PROBE_TASK)
@tenant_task
def tenant_probe_task(tenant: Tenant, marker: str) -> None:
    with transaction.atomic():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT current_setting('app.tenant_id', true), current_user")
                db_tenant, db_role = cursor.fetchone()
            else:  # pragma: no cover - the worker test runs on PostgreSQL only
                db_tenant, db_role = "", ""
        # No tenant passed: the row takes the task's tenant context (and RLS checks it).
        Environment.objects.create(slug=marker, name=f"Probe {marker}")
        audit_event_record(
            action="test.worker_probe",
            target_type="environment",
            target_id=marker,
            details={"marker": marker, "db_tenant": db_tenant, "db_role": db_role},
        )
