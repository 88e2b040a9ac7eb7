"""A real Celery worker against the real broker: a task built with `tenant_task` runs inside
its tenant's context, in the worker process, through PostgreSQL row-level security.

Needs PostgreSQL and Redis (CI: `.ci/run`; locally `source .ci/pg-up.sh`); skipped without
them, a failure under CUSTOS_REQUIRE_SERVICES=1. The worker is `celery -A config worker` in a
subprocess, pointed at pytest-django's test database (the test is transactional, so the worker
sees committed rows) and at a queue of its own; it is stopped (TERM, then KILL) whatever
happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context, unscoped
from apps.tenants.models import Environment, Tenant
from config.celery_app import app as celery_app
from tests._ci import require_postgres, require_redis
from tests.core.celery_probe import PROBE_TASK

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
WORKER_START_TIMEOUT = 120.0  # a busy 2-core CI machine
TASK_TIMEOUT = 60.0


def _test_database_url() -> str:
    """DATABASE_URL with the database name replaced by pytest-django's test database."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[dict[str, Any]]:
    require_postgres()
    broker = require_redis()
    queue = f"custos-test-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": broker,
        "CUSTOS_VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(BASE_DIR),
    }
    celery = Path(sys.executable).with_name("celery")
    command = [
        str(celery),
        "-A",
        "config",
        "worker",
        "-I",
        "tests.core.celery_probe",
        "-Q",
        queue,
        "--pool=solo",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=INFO",
        f"--hostname={queue}@%h",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while "ready." not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the Celery worker did not start:\n{log.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.25)
        yield {"queue": queue, "log": log, "process": process}
    finally:
        _stop(process)
        assert process.poll() is not None, "the worker is still running"


def _wait_for_probe(marker: str, log: Path) -> Environment:
    deadline = time.monotonic() + TASK_TIMEOUT
    while time.monotonic() < deadline:
        with unscoped(reason="test: wait for the worker's row"):
            row = Environment.objects.filter(slug=marker).first()
        if row is not None:
            return row
        time.sleep(0.25)
    pytest.fail(f"the worker never ran the task:\n{log.read_text(errors='replace')[-3000:]}")


def test_worker_runs_a_tenant_task_inside_its_tenant(
    worker: dict[str, Any], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    marker = f"probe-{uuid.uuid4().hex[:8]}"
    celery_app.send_task(PROBE_TASK, args=[tenant_a.pk, marker], queue=worker["queue"])

    environment = _wait_for_probe(marker, worker["log"])
    assert environment.tenant_id == tenant_a.pk

    # The worker's statements ran with A's tenant in the database session, as the app role.
    with tenant_context(tenant_a):
        event = AuditEvent.objects.get(action="test.worker_probe", target_id=marker)
        assert Environment.objects.filter(slug=marker).exists()
    details = event.personal["details"]
    assert details["db_tenant"] == str(tenant_a.pk)
    assert details["db_role"] == connection.settings_dict["OPTIONS"]["app_role"]
    assert event.tenant_id == tenant_a.pk

    # Tenant B sees neither the row nor the event.
    with tenant_context(tenant_b):
        assert not Environment.objects.filter(slug=marker).exists()
        assert not AuditEvent.objects.filter(action="test.worker_probe").exists()
    with connection.cursor() as cursor:  # and raw SQL without context sees nothing at all
        cursor.execute("SELECT count(*) FROM tenants_environment WHERE slug = %s", [marker])
        assert cursor.fetchone()[0] == 0


def test_worker_refuses_a_tenant_task_for_an_unknown_tenant(
    worker: dict[str, Any], tenant_a: Tenant
) -> None:
    """A tenant id that does not exist never runs the body (and never writes anywhere)."""
    marker = f"probe-{uuid.uuid4().hex[:8]}"
    celery_app.send_task(PROBE_TASK, args=[tenant_a.pk + 10_000, marker], queue=worker["queue"])
    follow_up = f"probe-{uuid.uuid4().hex[:8]}"
    celery_app.send_task(PROBE_TASK, args=[tenant_a.pk, follow_up], queue=worker["queue"])
    _wait_for_probe(follow_up, worker["log"])  # the solo worker handled the first one before
    with unscoped(reason="test: nothing written for the unknown tenant"):
        assert not Environment.objects.filter(slug=marker).exists()
    assert "DoesNotExist" in worker["log"].read_text(errors="replace")
