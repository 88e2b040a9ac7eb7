"""The throttled provisioning queue: per-tenant policy, token buckets, jobs waiting for a
token, batches claimed by the drain sweeper, retries with exponential backoff, queue depth and
its alert. The onboarding itself (the joiner) lives in apps/lifecycle/joiner.py and uses this."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.audit.services import audit_event_record
from apps.core.tenancy import tenant_context, unscoped
from apps.licenses.conf import conf
from apps.licenses.models import AlertKind, JobStatus, OnboardingPolicy, ProvisioningJob
from apps.licenses.services.seats import alert_open_for_tenant, alert_resolve_for_tenant
from apps.licenses.throttle import backoff_seconds, buckets_take, provisioning_buckets
from apps.tenants.models import Tenant

_POLICY_TTL = 30.0
_policy_cache: dict[int, tuple[float, PolicyValues]] = {}


@dataclass(frozen=True)
class PolicyValues:
    rate_per_second: int
    burst: int
    queue_alert_threshold: int
    review_sla_hours: int
    daily_signups_tighten_at: int
    reject_disposable_email: bool


def policy_for(tenant: Tenant) -> PolicyValues:
    """The tenant's onboarding policy (settings defaults when it has none), cached briefly:
    it is read on every provisioning request."""
    now = time.monotonic()
    cached = _policy_cache.get(tenant.pk)
    if cached is not None and now - cached[0] < _POLICY_TTL:
        return cached[1]
    with tenant_context(tenant):
        row = OnboardingPolicy.objects.filter().first()
    if row is None:
        values = PolicyValues(
            rate_per_second=int(conf("LICENSES_TENANT_RATE")),
            burst=int(conf("LICENSES_TENANT_BURST")),
            queue_alert_threshold=int(conf("LICENSES_QUEUE_ALERT_THRESHOLD")),
            review_sla_hours=int(conf("LICENSES_REVIEW_SLA_HOURS")),
            daily_signups_tighten_at=int(conf("LICENSES_SIGNUPS_TIGHTEN_PER_DAY")),
            reject_disposable_email=True,
        )
    else:
        values = PolicyValues(
            rate_per_second=row.rate_per_second,
            burst=row.burst,
            queue_alert_threshold=row.queue_alert_threshold,
            review_sla_hours=row.review_sla_hours,
            daily_signups_tighten_at=row.daily_signups_tighten_at,
            reject_disposable_email=row.reject_disposable_email,
        )
    _policy_cache[tenant.pk] = (now, values)
    return values


def policy_cache_clear() -> None:
    _policy_cache.clear()


def throttle_take(*, tenant: Tenant) -> float:
    """Take a provisioning token for `tenant` (and from the global bucket). 0.0 when taken,
    else the seconds to wait."""
    policy = policy_for(tenant)
    return buckets_take(
        provisioning_buckets(
            tenant_id=tenant.pk, tenant_rate=policy.rate_per_second, tenant_burst=policy.burst
        )
    )


def queue_depth(*, tenant: Tenant) -> int:
    with tenant_context(tenant):
        return ProvisioningJob.objects.filter(
            status__in=(JobStatus.PENDING, JobStatus.RUNNING)
        ).count()


def queue_depths() -> list[dict[str, Any]]:
    """Waiting and failed jobs per tenant (staff overview)."""
    with unscoped(reason="staff overview: provisioning queue depth per tenant"):
        rows = (
            ProvisioningJob.objects.values("tenant_id", "tenant__name", "tenant__slug")
            .annotate(
                waiting=Count("pk", filter=Q(status__in=(JobStatus.PENDING, JobStatus.RUNNING))),
                failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
            )
            .order_by("-waiting")
        )
        return [r for r in rows if r["waiting"] or r["failed"]]


def job_enqueue(
    *,
    actor: Any,
    tenant: Tenant,
    payload: dict[str, Any],
    source: str,
    idempotency_key: str = "",
    delay_seconds: float = 0.0,
) -> ProvisioningJob:
    """Queue one onboarding for the drain sweeper; alerts the tenant's admins when the queue
    passes its threshold."""
    with tenant_context(tenant), transaction.atomic():
        job = ProvisioningJob.objects.create(
            tenant=tenant,
            payload=payload,
            source=source,
            idempotency_key=idempotency_key,
            requested_by=actor if getattr(actor, "_meta", None) else None,
            next_attempt_at=timezone.now() + timedelta(seconds=delay_seconds),
        )
        audit_event_record(
            action="provisioning.queued",
            actor=actor,
            target=job,
            after={"email": payload.get("email", ""), "source": source},
        )
        depth = ProvisioningJob.objects.filter(
            status__in=(JobStatus.PENDING, JobStatus.RUNNING)
        ).count()
        threshold = policy_for(tenant).queue_alert_threshold
        if depth > threshold:
            alert_open_for_tenant(
                tenant_id=tenant.pk,
                kind=AlertKind.QUEUE_DEPTH,
                message=_("%(depth)d onboarding requests are waiting (threshold %(threshold)d).")
                % {"depth": depth, "threshold": threshold},
            )
    return job


def jobs_claim_due(*, limit: int | None = None, now: Any = None) -> list[ProvisioningJob]:
    """Claim a batch of due jobs (oldest first) for this worker: a lease set by a
    conditional UPDATE, so two drains never run the same job; an expired lease (a killed
    worker) makes the job due again."""
    now = now or timezone.now()
    limit = limit or int(conf("LICENSES_BATCH_SIZE"))
    lease = now + timedelta(seconds=int(conf("LICENSES_JOB_LEASE_SECONDS")))
    claimed: list[ProvisioningJob] = []
    with unscoped(reason="provisioning drain: claim due jobs of every tenant"):
        due = Q(status=JobStatus.PENDING, next_attempt_at__lte=now) | Q(
            status=JobStatus.RUNNING, lease_until__lt=now
        )
        candidates = list(
            ProvisioningJob.objects.filter(due)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", "status", "lease_until")[: limit * 2]
        )
        for pk, status, lease_until in candidates:
            taken = ProvisioningJob.objects.filter(
                pk=pk, status=status, lease_until=lease_until
            ).update(status=JobStatus.RUNNING, lease_until=lease)
            if taken:
                claimed.append(ProvisioningJob.objects.select_related("tenant").get(pk=pk))
            if len(claimed) >= limit:
                break
    return claimed


def job_finish(*, job: ProvisioningJob, user: Any) -> None:
    with tenant_context(job.tenant):
        ProvisioningJob.objects.filter(pk=job.pk).update(
            status=JobStatus.DONE,
            user=user,
            finished_at=timezone.now(),
            lease_until=None,
            attempts=job.attempts + 1,
            last_error="",
        )
        _queue_alert_refresh(job.tenant)


def job_retry_or_fail(*, job: ProvisioningJob, error: str, transient: bool) -> str:
    """After a failed attempt: back off and retry (transient errors, up to
    LICENSES_RETRY_ATTEMPTS), else fail for an admin to look at. Returns the new status."""
    attempts = job.attempts + 1
    with tenant_context(job.tenant), transaction.atomic():
        if transient and attempts < int(conf("LICENSES_RETRY_ATTEMPTS")):
            ProvisioningJob.objects.filter(pk=job.pk).update(
                status=JobStatus.PENDING,
                attempts=attempts,
                lease_until=None,
                last_error=error[:500],
                next_attempt_at=timezone.now() + timedelta(seconds=backoff_seconds(attempts)),
            )
            return JobStatus.PENDING
        ProvisioningJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED,
            attempts=attempts,
            lease_until=None,
            last_error=error[:500],
            finished_at=timezone.now(),
        )
        audit_event_record(
            action="provisioning.failed",
            outcome="failure",
            target=job,
            details={"error": error[:500], "attempts": attempts},
        )
        _queue_alert_refresh(job.tenant)
    return JobStatus.FAILED


def job_requeue(*, actor: Any, job: ProvisioningJob) -> bool:
    """An admin retries a failed job."""
    from apps.licenses.services.seats import require_manager

    require_manager(actor=actor, tenant=job.tenant)
    with tenant_context(job.tenant), transaction.atomic():
        done = ProvisioningJob.objects.filter(pk=job.pk, status=JobStatus.FAILED).update(
            status=JobStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), last_error=""
        )
        if done:
            audit_event_record(action="provisioning.requeued", actor=actor, target=job)
    return bool(done)


def _queue_alert_refresh(tenant: Tenant) -> None:
    depth = ProvisioningJob.objects.filter(
        tenant=tenant, status__in=(JobStatus.PENDING, JobStatus.RUNNING)
    ).count()
    if depth <= policy_for(tenant).queue_alert_threshold:
        alert_resolve_for_tenant(tenant_id=tenant.pk, kind=AlertKind.QUEUE_DEPTH)
