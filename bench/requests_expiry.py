"""Time-bound grants that end on time: 100,000 grants expiring in the same minute, ended by
apps.access's sweeper (`grants_expire_due`, what the beat task `access.expire_grants` runs)
with 2 worker processes on the machine's 2 cores, plus the requests sweeper recording the end
on the requests that created them.

The grants (and the requests that created them) are spread over --tenants tenants; all expire
at the same second T. Two workers loop the sweeper from T on; the figure is the time from T
until the last grant is recorded as ended, and until the last request is marked ended.
(Access itself stops at `expires_at` whatever the sweeper does: the engine compares the time.)

Run: bench/run_requests.sh expiry   (PostgreSQL). Options: --grants N --tenants N --workers N
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.access.models import Entitlement, Grant  # noqa: E402
from apps.core.tenancy import tenant_context, unscoped  # noqa: E402
from apps.identity.models import User  # noqa: E402
from apps.requests.models import AccessRequest, RequestStatus  # noqa: E402
from apps.tenants import services as tenant_services  # noqa: E402
from apps.tenants.models import Membership, TenantRole  # noqa: E402

REASON = "Nightly batch reconciliation of the ledger exports for the auditors."


def worker(kind: str) -> None:
    from apps.access.services import grants_expire_due
    from apps.requests.services.sweep import requests_end_due

    idle = 0
    while idle < 3:
        n = grants_expire_due(limit=1000) if kind == "grants" else requests_end_due(limit=2000)
        idle = idle + 1 if n == 0 else 0
        if n == 0:
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grants", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lead", type=int, default=0, help="seconds until T (0: after setup)")
    parser.add_argument("--worker", choices=["grants", "requests"], default=None)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    operator = User.objects.create_superuser(email="operator@bench.test", password="x")  # noqa: S106 - throw-away bench database
    per_tenant = args.grants // args.tenants
    users_per_tenant = 100
    t0 = time.perf_counter()
    now = timezone.now()
    expires = now + timedelta(days=1)  # placeholder, set to T just before the run
    for t in range(args.tenants):
        tenant = tenant_services.tenant_create(actor=operator, slug=f"t{t}", name=f"Tenant {t}")
        with tenant_context(tenant):
            users = User.objects.bulk_create(
                [User(email=f"u{i}@t{t}.bench") for i in range(users_per_tenant)]
            )
            Membership.objects.bulk_create(
                [Membership(tenant=tenant, user=u, role=TenantRole.MEMBER) for u in users]
            )
            env = tenant_services.environment_create(
                actor=operator, tenant=tenant, slug="app", name="App"
            )
            ents = Entitlement.objects.bulk_create(
                [
                    Entitlement(
                        tenant=tenant, environment=env, level=lv, risk="low", name=f"app-{lv}"
                    )
                    for lv in ("read", "write", "export", "operate", "admin")
                ]
            )
            grants = Grant.objects.bulk_create(
                [
                    Grant(
                        tenant=tenant,
                        user=users[i % users_per_tenant],
                        entitlement=ents[(i // users_per_tenant) % len(ents)],
                        source="request",
                        starts_at=now - timedelta(hours=1),
                        expires_at=expires,
                        ends_at_due=expires,
                        justification=REASON,
                    )
                    for i in range(per_tenant)
                ],
                batch_size=2000,
            )
            AccessRequest.objects.bulk_create(
                [
                    AccessRequest(
                        tenant=tenant,
                        requester=g.user,
                        entitlement=g.entitlement,
                        duration=timedelta(hours=1),
                        requested_duration=timedelta(hours=1),
                        justification=REASON,
                        status=RequestStatus.ACTIVE,
                        submitted_at=now - timedelta(hours=2),
                        granted_at=now - timedelta(hours=1),
                        grant=g,
                        ends_at=expires,
                        access_until=expires,
                    )
                    for g in grants
                ],
                batch_size=2000,
            )
    total = per_tenant * args.tenants
    setup_s = time.perf_counter() - t0
    print(f"setup: {total:,} grants (+ their requests) in {args.tenants} tenants, {setup_s:.0f} s")
    T = timezone.now() + timedelta(seconds=args.lead or 2)
    with unscoped(reason="bench: move every expiry to T"):
        Grant.objects.update(expires_at=T, ends_at_due=T)
        AccessRequest.objects.update(ends_at=T, access_until=T)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()
    while timezone.now() < T:
        time.sleep(0.01)
    start = time.perf_counter()
    me = [sys.executable, __file__]
    procs = [subprocess.Popen([*me, "--worker", "grants"]) for _ in range(args.workers)]
    req_proc = subprocess.Popen([*me, "--worker", "requests"])
    grants_done_at = None
    while grants_done_at is None:
        time.sleep(0.5)
        with unscoped(reason="bench: progress"):
            left = Grant.objects.filter(ends_at_due__isnull=False).count()
        if left == 0:
            grants_done_at = time.perf_counter() - start
    for p in procs:
        p.wait()
    req_proc.wait()
    req_done_at = time.perf_counter() - start
    with unscoped(reason="bench: result"):
        ended = Grant.objects.filter(expired_at__isnull=False).count()
        req_ended = AccessRequest.objects.filter(status=RequestStatus.ENDED).count()
        from apps.core.models import AuditEvent

        audited = AuditEvent.objects.filter(action="access.grant.expired").count()
    print(
        f"grants recorded as ended: {ended:,}/{total:,} ({audited:,} audit events), "
        f"last one {grants_done_at:.1f} s after T"
    )
    print(
        f"requests marked ended:    {req_ended:,}/{total:,}, "
        f"last one by {req_done_at:.1f} s after T (workers stopped)"
    )


if __name__ == "__main__":
    main()
