"""Access requests: the approver inbox with 10,000 pending items, and submit → pending.

* Inbox: one tenant with 10,000 pending requests (500 requesters, 60 entitlements), all routed
  to one approver (plus 2,000 pending elsewhere in the tenant and 2,000 in another tenant, which
  must not show). The inbox page (full render, first page and a keyset page deep down) is
  requested through Django's test client: p50/p95 over --runs requests, and the query count of
  each, which must not depend on the inbox size (compared with an inbox of 10 items).
* Submit: --submits requests through `access_request_submit` (eligibility by the engine, SoD,
  standing-policy maximum, routing computed, assignments and notifications written, the email
  task queued on commit): p50/p95 per submit until the request is pending.

Run: bench/run_requests.sh inbox   (PostgreSQL via .ci/pg-up.sh). Options: --pending N --runs N
--submits N
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.access.services import entitlement_create  # noqa: E402
from apps.core.tenancy import tenant_context  # noqa: E402
from apps.identity.models import User  # noqa: E402
from apps.requests.models import (  # noqa: E402
    AccessRequest,
    ApprovalAssignment,
    ApprovalStep,
    AssignmentVia,
    RequestStatus,
    StepState,
)
from apps.requests.services import access_request_submit  # noqa: E402
from apps.tenants import services as tenant_services  # noqa: E402
from apps.tenants.models import Membership, TenantRole  # noqa: E402

REASON = "Reconcile the quarterly ledger exports with the auditors before the close on Friday."


def ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
    return f"p50 {statistics.median(values):.1f} ms, p95 {p95:.1f} ms, max {values[-1]:.1f} ms"


def setup_tenant(slug: str, operator: User, *, members: int, envs: int) -> tuple:
    tenant = tenant_services.tenant_create(actor=operator, slug=slug, name=slug.title())
    with tenant_context(tenant):
        approver = User.objects.create_user(
            email=f"approver@{slug}.bench", full_name="Bench Approver"
        )
        Membership.objects.create(tenant=tenant, user=approver, role=TenantRole.APPROVER)
        users = User.objects.bulk_create(
            [User(email=f"user{i}@{slug}.bench", full_name=f"User {i}") for i in range(members)]
        )
        Membership.objects.bulk_create(
            [Membership(tenant=tenant, user=u, role=TenantRole.MEMBER) for u in users]
        )
        ents = []
        for e in range(envs):
            env = tenant_services.environment_create(
                actor=operator, tenant=tenant, slug=f"env-{e}", name=f"Env {e}", owner=approver
            )
            ents.extend(
                entitlement_create(
                    actor=operator, tenant=tenant, environment=env, level=level, risk="low"
                )
                for level in ("read", "write", "export")
            )
    return tenant, approver, users, ents


def bulk_pending(tenant, approver, users, ents, count: int) -> None:
    """Pending requests as routing leaves them (one open step, one active assignment)."""
    now = timezone.now()
    with tenant_context(tenant):
        for start in range(0, count, 2000):
            n = min(2000, count - start)
            reqs = AccessRequest.objects.bulk_create(
                [
                    AccessRequest(
                        tenant=tenant,
                        requester=users[(start + i) % len(users)],
                        entitlement=ents[(start + i) % len(ents)],
                        risk="low",
                        duration=timedelta(hours=8),
                        requested_duration=timedelta(hours=8),
                        justification=REASON,
                        status=RequestStatus.PENDING,
                        submitted_at=now,
                        expires_unanswered_at=now + timedelta(days=7),
                    )
                    for i in range(n)
                ]
            )
            steps = ApprovalStep.objects.bulk_create(
                [
                    ApprovalStep(
                        tenant=tenant,
                        request=r,
                        order=1,
                        label="Resource owner",
                        state=StepState.OPEN,
                        opened_at=now,
                        due_at=now + timedelta(hours=24),
                    )
                    for r in reqs
                ]
            )
            ApprovalAssignment.objects.bulk_create(
                [
                    ApprovalAssignment(
                        tenant=tenant,
                        step=s,
                        request=s.request,
                        approver=approver,
                        via=AssignmentVia.OWNER,
                        active=True,
                    )
                    for s in steps
                ]
            )


CPU: dict[str, list[float]] = {}


def measure_inbox(client: Client, url: str, runs: int) -> tuple[list[float], int]:
    """Wall time per request, and (in CPU) the CPU time of this process per request: the whole
    Django stack runs in-process, so on a machine shared with other jobs the CPU time is the
    figure that does not depend on the load."""
    client.get(url)  # warm
    times = []
    cpu = CPU.setdefault(url, [])
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return times, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--submits", type=int, default=300)
    args = parser.parse_args()
    setup_test_environment()
    operator = User.objects.create_superuser(email="operator@bench.test", password="x")  # noqa: S106 - throw-away bench database

    print(f"# Inbox with {args.pending:,} pending items")
    t0 = time.perf_counter()
    tenant, approver, users, ents = setup_tenant("inbox", operator, members=500, envs=20)
    bulk_pending(tenant, approver, users, ents, args.pending)
    # Noise the inbox must not show: pending for someone else here, and another tenant's.
    other_approver = User.objects.create_user(email="other@inbox.bench")
    with tenant_context(tenant):
        Membership.objects.create(tenant=tenant, user=other_approver, role=TenantRole.APPROVER)
    bulk_pending(tenant, other_approver, users, ents, 2000)
    t2, a2, u2, e2 = setup_tenant("noise", operator, members=50, envs=5)
    bulk_pending(t2, a2, u2, e2, 2000)
    print(f"setup {time.perf_counter() - t0:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    client = Client()
    client.force_login(approver)
    first, q_first = measure_inbox(client, "/t/inbox/requests/inbox/", args.runs)
    with tenant_context(tenant):
        deep = (
            ApprovalAssignment.objects.filter(approver=approver, active=True).order_by("id")[500].pk
        )
    deep_times, q_deep = measure_inbox(client, f"/t/inbox/requests/inbox/?before={deep}", args.runs)
    hx, q_hx = measure_inbox(client, f"/t/inbox/requests/inbox/?before={deep}", args.runs // 2)
    small_client = Client()
    small_client.force_login(a2)
    small, q_small = measure_inbox(small_client, "/t/noise/requests/inbox/", 20)
    first_url = "/t/inbox/requests/inbox/"
    deep_url = f"/t/inbox/requests/inbox/?before={deep}"
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"inbox page 1 (50 rows of {args.pending:,}): wall {ms(first)}; {q_first} queries")
    print(f"   CPU time per request: {ms(CPU[first_url])}")
    print(f"inbox keyset page deep in the list: wall {ms(deep_times)}; {q_deep} queries")
    print(f"   CPU time per request: {ms(CPU[deep_url][: args.runs])}")
    print(f"inbox, small tenant (2,000 items): wall {ms(small)}; {q_small} queries")

    print(f"\n# Submit → pending ({args.submits} requests)")
    sub_tenant, _sub_approver, sub_users, sub_ents = setup_tenant(
        "submit", operator, members=400, envs=10
    )
    times = []
    cpu_times = []
    for i in range(args.submits):
        user = sub_users[i % len(sub_users)]
        ent = sub_ents[(i * 7) % len(sub_ents)]
        with tenant_context(sub_tenant):
            t0, c0 = time.perf_counter(), time.process_time()
            req = access_request_submit(
                actor=user,
                tenant=sub_tenant,
                entitlement=ent,
                duration=timedelta(hours=4),
                justification=REASON,
            )
            times.append((time.perf_counter() - t0) * 1000)
            cpu_times.append((time.process_time() - c0) * 1000)
        assert req.status == RequestStatus.PENDING, req.status
    print(f"submit → pending: wall {ms(times)}")
    print(f"   CPU time per submit: {ms(cpu_times)}")
    with CaptureQueriesContext(connection) as queries, tenant_context(sub_tenant):
        access_request_submit(
            actor=sub_users[-1],
            tenant=sub_tenant,
            entitlement=sub_ents[-1],
            duration=timedelta(hours=4),
            justification=REASON,
        )
    print(f"   queries per submit: {len(queries)}")
    with tenant_context(sub_tenant):
        print(
            f"written: {AccessRequest.objects.count()} requests, "
            f"{ApprovalAssignment.objects.filter(active=True).count()} active assignments"
        )
    del hx, q_hx


if __name__ == "__main__":
    main()
