"""Benchmark: portal dashboard and audit log pages with 1,000 tenants, 100,000 users and
1,000,000 audit events on PostgreSQL (target: p95 <= 150 ms, a constant number of queries).

Real requests through django.test.Client (the whole middleware stack: sessions, OTP, tenant
middleware with row-level security, templates), each client signed in with the second factor
done, as tests/conftest.py `verified_client` does. For every page: warm-up requests, then
`--requests` timed ones; the SQL statements of one more request are counted, for the smallest
and the largest tenant (a query count that grows with the tenant would be an N+1).

Run it through bench/run_dashboard.sh (throw-away cluster), or by hand against a migrated,
empty, disposable PostgreSQL database:

    DATABASE_URL=postgres://owner@host:port/db .venv/bin/python bench/dashboard.py
"""

from __future__ import annotations

import argparse
import html
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def verified_client(user: Any) -> Any:
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def older_url(client: Any, url: str, pages: int) -> str:
    """Follow the audit log's "Older" link up to `pages` times (keyset cursor), as a reader
    would; stops at the last page of a small log."""
    for _ in range(pages):
        body = client.get(url).content.decode()
        match = re.search(r'<a href="([^"]+)"[^>]*rel="next"', body)
        if match is None:
            break
        url = url.split("?")[0] + html.unescape(match.group(1))
    return url


def measure(client: Any, url: str, *, warmup: int, requests: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
    times, cpu, sql = [], [], []
    sql_ms = [0.0]

    def timed(execute: Any, statement: str, params: Any, many: bool, context: Any) -> Any:
        t = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            sql_ms[0] += (time.perf_counter() - t) * 1000

    with connection.execute_wrapper(timed):
        for _ in range(requests):
            sql_ms[0] = 0.0
            c0 = time.process_time()
            t0 = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            sql.append(sql_ms[0])
            assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    times.sort()
    return {
        "url": url,
        "p50": statistics.median(times),
        "p95": times[int(len(times) * 0.95) - 1],
        "max": times[-1],
        "cpu": statistics.median(cpu),  # Python (application) CPU per request, p50
        "sql_ms": statistics.median(sql),  # wall time inside SQL calls (incl. round trips), p50
        "queries": len(ctx.captured_queries),
        "sql": [q["sql"] for q in ctx.captured_queries],
        "bytes": len(response.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--show-sql", action="store_true", help="print each page's statements")
    args = parser.parse_args()
    import warnings

    warnings.filterwarnings("ignore", message="No directory at")  # static files: not served here
    scratch = Path(tempfile.mkdtemp(prefix="custos-bench-dashboard-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ["AUDIT_SIGNING_KEY_FILE"] = str(scratch / "keys" / "audit-signing.ed25519")
    os.environ["AUDIT_CHECKPOINT_DIR"] = str(scratch / "checkpoints")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("DATABASE_URL must point at a migrated, empty, disposable PostgreSQL database")

    import django

    django.setup()
    from apps.identity.models import User
    from apps.tenants.models import Tenant
    from bench.generate import base_dataset

    data = base_dataset(tenants=args.tenants, users=args.users, events=args.events)
    print(
        f"data: {len(data.tenant_ids):,} tenants, {sum(data.members.values()):,} active "
        f"memberships, {sum(data.events.values()):,} audit events; generated in "
        + ", ".join(f"{k} {v:.1f} s" for k, v in data.seconds.items())
    )
    staff = verified_client(User.objects.get(pk=data.staff["compliance"]))
    cases: list[tuple[str, Any, str]] = []
    for label, tid in (("small", data.smallest), ("large", data.largest)):
        slug = Tenant.objects.get(pk=tid).slug
        admin = verified_client(User.objects.get(pk=data.admin_of[tid]))
        print(
            f"{label} tenant {slug}: {data.members[tid]:,} members, "
            f"{data.events.get(tid, 0):,} audit events"
        )
        cases.append((f"tenant dashboard ({label})", admin, f"/t/{slug}/"))
        cases.append((f"tenant audit log ({label})", admin, f"/t/{slug}/audit/"))
        cases.append(
            (f"tenant audit log deep ({label})", admin, older_url(admin, f"/t/{slug}/audit/", 19))
        )
    cases.append(("staff home", staff, "/staff/"))
    cases.append(("staff audit search", staff, "/staff/audit/"))
    cases.append(("staff audit search p.20", staff, older_url(staff, "/staff/audit/", 19)))
    cases.append(("staff audit, one tenant", staff, f"/staff/audit/?tenant={slug}"))

    results = []
    for name, _client, url in cases:
        print(f"  {name}: {url}")
    print(
        f"{'page':36} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8} "
        f"{'app CPU':>8} {'SQL ms':>8}"
    )
    for name, client, url in cases:
        r = measure(client, url, warmup=args.warmup, requests=args.requests)
        results.append((name, r))
        print(
            f"{name:36} {r['p50']:8.1f} {r['p95']:8.1f} {r['max']:8.1f} {r['queries']:8d} "
            f"{r['cpu']:8.1f} {r['sql_ms']:8.1f}"
        )
        if args.show_sql:
            for sql in r["sql"]:
                print("    " + sql[:300])
    by_name = dict(results)
    constant = all(
        by_name[f"{page} (small)"]["queries"] == by_name[f"{page} (large)"]["queries"]
        for page in ("tenant dashboard", "tenant audit log", "tenant audit log deep")
    )
    worst = max(r["p95"] for _n, r in results)
    print(
        f"RESULT dashboard: worst p95 {worst:.1f} ms (target <= 150 ms), query counts "
        f"{'equal' if constant else 'DIFFERENT'} for the small and the large tenant"
    )
    sys.exit(0 if constant and worst <= 150 else 1)


if __name__ == "__main__":
    main()
