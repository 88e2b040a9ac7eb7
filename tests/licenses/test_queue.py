"""The throttled provisioning queue: depth alert to the tenant's admins above the threshold
(resolved once drained), retries with exponential backoff (3 attempts, at most 5 s apart),
then a failed job an admin can see and retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import OperationalError
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.licenses.models import AlertKind, JobStatus, LicenseAlert, ProvisioningJob
from apps.licenses.services.provisioning import (
    job_enqueue,
    job_requeue,
    job_retry_or_fail,
    jobs_claim_due,
    queue_depth,
)
from apps.licenses.throttle import backoff_seconds
from apps.lifecycle.joiner import joiner_queue_drain, with_retries

pytestmark = pytest.mark.django_db


def _enqueue(tenant, actor, n, start=0):
    return [
        job_enqueue(
            actor=actor,
            tenant=tenant,
            payload={"email": f"q{i}@acme.test", "products": ["office"]},
            source="api",
        )
        for i in range(start, start + n)
    ]


def _open_alerts(tenant):
    with tenant_context(tenant):
        return list(
            LicenseAlert.objects.filter(kind=AlertKind.QUEUE_DEPTH, resolved_at__isnull=True)
        )


def test_queue_depth_alerts_admins_once_and_resolves_when_drained(
    tenant_a, admin_a, make_pool, settings, django_capture_on_commit_callbacks
):
    settings.LICENSES_QUEUE_ALERT_THRESHOLD = 2
    settings.LICENSES_TENANT_RATE = settings.LICENSES_TENANT_BURST = 1000
    settings.LICENSES_GLOBAL_RATE = settings.LICENSES_GLOBAL_BURST = 1000
    make_pool(capacity=10)
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue(tenant_a, admin_a, 2)
    assert queue_depth(tenant=tenant_a) == 2
    assert not _open_alerts(tenant_a)  # at the threshold, not above it
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue(tenant_a, admin_a, 2, start=2)
    alerts = _open_alerts(tenant_a)
    assert len(alerts) == 1  # one alert, not one per job
    assert "3 onboarding requests are waiting" in alerts[0].message  # the crossing one
    assert [m.to for m in mail.outbox if "alert" in m.subject.lower()] == [["alice@acme.test"]]

    counts = joiner_queue_drain()
    assert counts["done"] == 4
    assert queue_depth(tenant=tenant_a) == 0
    assert not _open_alerts(tenant_a)


def test_transient_failures_back_off_exponentially_then_fail_for_an_admin(
    tenant_a, admin_a, settings
):
    settings.LICENSES_RETRY_BASE_SECONDS = 0.5
    settings.LICENSES_RETRY_MAX_SECONDS = 5.0
    (job,) = _enqueue(tenant_a, admin_a, 1)
    delays = []
    for attempt in (1, 2):
        (claimed,) = jobs_claim_due(now=timezone.now() + timedelta(seconds=60))
        before = timezone.now()
        assert job_retry_or_fail(job=claimed, error="OperationalError", transient=True) == (
            JobStatus.PENDING
        )
        with tenant_context(tenant_a):
            row = ProvisioningJob.objects.get(pk=job.pk)
        assert row.attempts == attempt
        delays.append((row.next_attempt_at - before).total_seconds())
    assert delays[0] == pytest.approx(0.5, abs=0.3)
    assert delays[1] == pytest.approx(1.0, abs=0.3)  # doubled
    (claimed,) = jobs_claim_due(now=timezone.now() + timedelta(seconds=60))
    assert job_retry_or_fail(job=claimed, error="OperationalError", transient=True) == (
        JobStatus.FAILED  # the third attempt was the last
    )
    with tenant_context(tenant_a):
        row = ProvisioningJob.objects.get(pk=job.pk)
        assert row.status == JobStatus.FAILED
        assert row.attempts == 3
        assert AuditEvent.objects.filter(
            action="provisioning.failed", target_id=str(job.pk)
        ).exists()
    # The cap: never more than LICENSES_RETRY_MAX_SECONDS apart.
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 5, 6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    # An admin puts it back in the queue.
    row.tenant = tenant_a
    assert job_requeue(actor=admin_a, job=row)
    with tenant_context(tenant_a):
        assert ProvisioningJob.objects.get(pk=job.pk).status == JobStatus.PENDING


def test_a_permanent_refusal_fails_the_job_at_once(tenant_a, admin_a, settings):
    settings.LICENSES_TENANT_RATE = settings.LICENSES_TENANT_BURST = 1000
    job = job_enqueue(
        actor=admin_a,
        tenant=tenant_a,
        payload={"email": "x@acme.test", "products": ["no-such-product"]},
        source="api",
    )
    counts = joiner_queue_drain()
    assert counts["failed"] == 1
    with tenant_context(tenant_a):
        row = ProvisioningJob.objects.get(pk=job.pk)
    assert row.status == JobStatus.FAILED
    assert row.attempts == 1
    assert "no-such-product" in row.last_error


def test_in_request_retries_stop_after_three_attempts(settings):
    settings.LICENSES_RETRY_ATTEMPTS = 3
    calls = []

    def flaky_twice():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("could not serialize access")
        return "done"

    assert with_retries(flaky_twice, sleep=False) == "done"
    assert len(calls) == 3

    calls.clear()

    def always_failing():
        calls.append(1)
        raise OperationalError("deadlock detected")

    with pytest.raises(OperationalError):
        with_retries(always_failing, sleep=False)
    assert len(calls) == 3
