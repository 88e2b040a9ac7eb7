#!/usr/bin/env python
"""The cost of one API onboarding, in process (issue 7): the full WSGI stack (middleware,
ninja, API-key auth, throttle, idempotency, joiner, seats, audit) through Django's test client
against the database in DATABASE_URL (PostgreSQL: start a throw-away one with .ci/pg-up.sh).

    licenses_profile.py --requests 300 [--profile out.prof] [--queries]

Prints per request: SQL statements, application CPU (time.process_time of this process) and
PostgreSQL backend CPU (pg_stat_statements is not needed: the backend's own /proc stat).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("CUSTOS_VAR_DIR", tempfile.mkdtemp(prefix="custos-bench-"))
os.environ.setdefault("LICENSES_NOTIFY", "mail")  # queued: a Celery task on commit
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,testserver")


def _backend_cpu(pid: int) -> float:
    """utime + stime of a PostgreSQL backend, seconds (same machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--profile", default="")
    parser.add_argument("--queries", action="store_true", help="print one request's SQL")
    parser.add_argument("--products", default="office")
    parser.add_argument(
        "--floor", action="store_true", help="also time GET onboarding-jobs/0 (auth + a 404)"
    )
    args = parser.parse_args()

    import logging

    import django

    django.setup()
    logging.getLogger("django.request").setLevel(logging.ERROR)  # the floor's 404s
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apps.identity.models import User
    from apps.integrations.services.api_keys import api_key_create
    from apps.licenses.services import pool_create, product_create
    from apps.tenants import services as tenant_services
    from apps.tenants.models import TenantRole

    os.environ["LICENSES_TENANT_RATE"] = "100000"
    operator = User.objects.create_superuser(email=f"op-{uuid.uuid4().hex[:6]}@bench.test")
    slug = f"prof{uuid.uuid4().hex[:6]}"
    tenant = tenant_services.tenant_create(actor=operator, slug=slug, name="Profile")
    admin = User.objects.create_user(email=f"admin@{slug}.test")
    tenant_services.membership_add(
        actor=operator, tenant=tenant, user=admin, role=TenantRole.CUSTOMER_ADMIN
    )
    office = product_create(actor=operator, tenant=tenant, key="office", name="Office")
    pool_create(actor=operator, tenant=tenant, product=office, name="Office", capacity=10**6)
    issued = api_key_create(
        actor=admin,
        tenant=tenant,
        name="profile",
        scopes=["users:write", "users:read", "licenses:read"],
        technical_contact_email="ops@bench.test",
        rate_limit_per_minute=10**7,
        rate_limit_burst=10**6,
    )
    client = Client(
        HTTP_AUTHORIZATION=f"Bearer {issued.token}", REMOTE_ADDR="127.0.0.1", HTTP_HOST="127.0.0.1"
    )
    products = [p for p in args.products.split(",") if p]
    path = f"/api/v1/tenants/{slug}/users"

    def one(i: int) -> int:
        response = client.post(
            path,
            {"email": f"p{i}-{slug}@example.com", "products": products},
            content_type="application/json",
            headers={"Idempotency-Key": f"{slug}-{i}"},
        )
        if response.status_code != 201:
            raise SystemExit(f"{response.status_code}: {response.content[:300]!r}")
        return response.status_code

    for i in range(args.warmup):
        one(-1 - i)
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    if args.queries:
        with CaptureQueriesContext(connection) as ctx:
            one(10**6)
        for q in ctx.captured_queries:
            print(f"{q['time']:>6}  {q['sql'][:220]}")
        print(f"-- {len(ctx.captured_queries)} statements")
    walls: list[float] = []
    # CPU time, not wall time: on a shared machine wall time lands wherever the OS preempts us.
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    cpu0, db0 = time.process_time(), _backend_cpu(backend)
    with CaptureQueriesContext(connection) as ctx:
        if profiler:
            profiler.enable()
        for i in range(args.requests):
            start = time.perf_counter()
            one(i)
            walls.append((time.perf_counter() - start) * 1000)
        if profiler:
            profiler.disable()
    cpu = (time.process_time() - cpu0) * 1000 / args.requests
    db = (_backend_cpu(backend) - db0) * 1000 / args.requests
    n = len(ctx.captured_queries) / args.requests
    print(
        f"{args.requests} onboardings: {n:.1f} SQL statements, {cpu:.1f} ms app CPU, "
        f"{db:.1f} ms PostgreSQL backend CPU per request; wall p50 "
        f"{statistics.median(walls):.1f} ms; load {os.getloadavg()[0]:.2f}"
    )
    if args.floor:
        cpu0, db0 = time.process_time(), _backend_cpu(backend)
        with CaptureQueriesContext(connection) as ctx:
            for _i in range(args.requests):
                client.get(f"/api/v1/tenants/{slug}/onboarding-jobs/0")
        print(
            f"floor (GET a missing job: auth, ninja, one SELECT, call log): "
            f"{len(ctx.captured_queries) / args.requests:.1f} SQL statements, "
            f"{(time.process_time() - cpu0) * 1000 / args.requests:.1f} ms app CPU, "
            f"{(_backend_cpu(backend) - db0) * 1000 / args.requests:.1f} ms backend CPU"
        )
    if profiler:
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(60)


if __name__ == "__main__":
    main()
