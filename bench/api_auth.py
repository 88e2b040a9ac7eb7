#!/usr/bin/env python
"""API-key authentication overhead per request (issue 8: target <= 1 ms), and the cost of
recording each API call.

    .venv/bin/python bench/api_auth.py [--requests 5000] [--keys 10000]

Database: DATABASE_URL (e.g. PostgreSQL from `source .ci/pg-up.sh`), otherwise a throw-away
SQLite file. Cache: CACHE_URL (redis://…) or local memory. The schema is migrated first, so
point it at a throw-away database only.

What is timed:
* `auth`: ApiKeyAuth on a request carrying `Authorization: Bearer cus_…` — header parsing,
  the indexed lookup by prefix (with tenant and owner), HMAC-SHA256 + constant-time compare,
  state/expiry/tenant/IP checks, the token-bucket rate limit (one cache read + write) and the
  throttled last-used write. This is everything API-key authentication adds to a request.
* `request`: a whole GET /api/v1/me through Django's test client with the key, for scale.
* `call log`: recording one ApiCallRecord, one insert per call vs. a 50-record buffer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_tmp = tempfile.mkdtemp(prefix="custos-bench-")
os.environ.setdefault("CUSTOS_VAR_DIR", _tmp)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("KEK_FILE", str(Path(_tmp) / "kek.json"))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"| {name} | {statistics.median(ms):.3f} | {pct(ms, 95):.3f} | {pct(ms, 99):.3f} | "
        f"{statistics.fmean(ms):.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--keys", type=int, default=10_000, help="other keys in the table")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, RequestFactory
    from django.utils import timezone

    from apps.core.tenancy import tenant_context
    from apps.identity.models import User
    from apps.integrations.auth import ApiKeyAuth
    from apps.integrations.models import ApiCallRecord, ApiKey
    from apps.integrations.services import calls
    from apps.integrations.services.api_keys import api_key_create
    from apps.integrations.tokens import token_generate, token_hash
    from apps.tenants import services as tenant_services

    call_command("migrate", verbosity=0)
    operator = User.objects.create_superuser(email="bench-op@vendor.test", password=None)
    tenant = tenant_services.tenant_create(actor=operator, slug="bench", name="Bench Corp")
    admin = User.objects.create_user(email="bench-admin@bench.test", password=None)
    tenant_services.membership_add(actor=operator, tenant=tenant, user=admin, role="customer_admin")
    issued = api_key_create(
        actor=admin,
        tenant=tenant,
        name="bench",
        scopes=["audit:read"],
        technical_contact_email="ops@bench.test",
        rate_limit_per_minute=10_000_000,
        rate_limit_burst=10_000_000,
    )
    expires = timezone.now() + timezone.timedelta(days=30)
    with tenant_context(tenant):
        ApiKey.objects.bulk_create(
            [
                ApiKey(
                    tenant=tenant,
                    name=f"filler {i}",
                    prefix=(t := token_generate("cus")).prefix,
                    secret_hash=token_hash(t.token),
                    scopes=["audit:read"],
                    technical_contact_email="x@bench.test",
                    expires_at=expires,
                )
                for i in range(args.keys)
            ],
            batch_size=1000,
        )

    auth = ApiKeyAuth()
    factory = RequestFactory()
    header = f"Bearer {issued.token}"

    auth_cpu: list[float] = []

    def one_auth() -> float:
        request = factory.get("/api/v1/me", HTTP_AUTHORIZATION=header)
        cpu = time.process_time()
        start = time.perf_counter()
        principal = auth(request)
        elapsed = time.perf_counter() - start
        auth_cpu.append(time.process_time() - cpu)
        assert principal is not None
        return elapsed

    for _ in range(200):  # warm caches, connection, code paths
        one_auth()
    auth_cpu.clear()
    auth_times = [one_auth() for _ in range(args.requests)]

    from apps.integrations.ratelimit import rate_limit_hit
    from apps.integrations.services.authn import _api_key_lookup

    def timed(func: object, n: int) -> list[float]:
        result = []
        for _ in range(n):
            start = time.perf_counter()
            func()  # type: ignore[operator]
            result.append(time.perf_counter() - start)
        return result

    lookup_times = timed(lambda: _api_key_lookup(issued.key.prefix), args.requests)
    limit_times = timed(
        lambda: rate_limit_hit(key="bench", per_minute=10**9, burst=10**9), args.requests
    )

    client = Client(HTTP_AUTHORIZATION=header)
    for _ in range(100):
        client.get("/api/v1/me")
    request_times = []
    for _ in range(min(args.requests, 2000)):
        start = time.perf_counter()
        response = client.get("/api/v1/me")
        request_times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.content

    def log_cost(buffer: int, n: int) -> list[float]:
        settings.API_CALL_LOG_BUFFER_SIZE = buffer
        result = []
        for _ in range(n):
            record = ApiCallRecord(
                occurred_at=timezone.now(),
                tenant_id=tenant.pk,
                principal_kind="api_key",
                principal_id="1",
                credential="cus_x_…",
                method="GET",
                endpoint="api/v1/me",
                status_code=200,
                latency_ms=1.0,
            )
            start = time.perf_counter()
            calls.call_log_record(record)
            result.append(time.perf_counter() - start)
        calls.call_log_flush()
        return result

    log_single = log_cost(1, min(args.requests, 3000))
    log_buffered = log_cost(50, min(args.requests, 3000))

    cache = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    print(
        f"\nDatabase: {connection.vendor}, cache: {cache}, API keys in the table: "
        f"{args.keys + 1}, samples: {args.requests}\n"
    )
    print("| measure | p50 ms | p95 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|")
    print(summary("API-key authentication (ApiKeyAuth)", auth_times))
    print(summary("  the same, CPU time of this process only", auth_cpu))
    print(summary("  of which: key lookup (one SQL statement)", lookup_times))
    print(summary("  of which: rate-limit bucket (cache)", limit_times))
    print(summary("whole GET /api/v1/me with the key (test client)", request_times))
    print(summary("call record, one insert per call", log_single))
    print(summary("call record, buffered (50 per bulk insert), per call", log_buffered))
    verdict = "meets" if pct([t * 1000 for t in auth_times], 95) <= 1.0 else "MISSES"
    print(f"\nAuthentication overhead p95 {verdict} the 1 ms target.")


if __name__ == "__main__":
    main()
