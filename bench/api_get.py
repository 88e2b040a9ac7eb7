#!/usr/bin/env python
"""REST API GET endpoints under concurrency (issue 8: p95 <= 50 ms at 50 concurrent clients on
PostgreSQL). Run through bench/run_api.sh (cluster, migrate, gunicorn, teardown).

    bench/api_get.py setup --state S [--users 2000] [--grants 5000] [--events 5000]
    bench/api_get.py load  --state S --url http://127.0.0.1:P [--clients 50] [--seconds 30]
                           [--processes 5] [--think-ms 0] [--warmup-clients 1]
                           [--server-pid P --db-pid P --redis-pid P]
    bench/api_get.py profile --state S [--requests 300] [--cprofile]

`setup` fills one tenant through the real services where it matters (tenant, admin, API key)
and in bulk for the volume (members, grants, audit events via audit_events_record_bulk), then
writes the key and slug to the state file. `load` runs `clients` HTTP/1.1 keep-alive clients
(split over `processes` processes so the clients' own GIL does not become the bottleneck), each
looping over the GET endpoints for `seconds` (closed loop; `think-ms` pauses between requests),
and prints per-endpoint p50/p95/p99, the statuses and the throughput. With `--server-pid`,
`--db-pid` (and `--redis-pid`) it also prints where the machine's CPU went during the run:
the clients' own share, gunicorn's, PostgreSQL's, Redis' — on one machine the 50 clients compete
with the server for the same cores, so the closed-loop figures read the whole box, not the API.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ENDPOINTS = [
    "/api/v1/me",
    "/api/v1/tenants/{slug}/members?limit=50",
    "/api/v1/tenants/{slug}/grants?limit=50",
    "/api/v1/tenants/{slug}/audit-events?limit=50",
    "/api/v1/tenants/{slug}/access-requests",
    "/api/v1/tenants/{slug}/license-pools",
    "/api/v1/tenants/{slug}/webhooks",
]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def setup(args: argparse.Namespace) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("CUSTOS_VAR_DIR", tempfile.mkdtemp(prefix="custos-bench-"))
    import django

    django.setup()
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from apps.access.models import Grant, GrantSource, PermissionLevel, RiskLevel
    from apps.access.services.catalog import entitlement_create
    from apps.core.audit.services import audit_events_record_bulk
    from apps.core.tenancy import tenant_context
    from apps.identity.models import User
    from apps.integrations.scopes import SCOPES
    from apps.integrations.services.api_keys import api_key_create
    from apps.tenants import services as tenant_services
    from apps.tenants.models import Membership

    started = time.perf_counter()
    operator = User.objects.create_superuser(email="api-bench-op@vendor.test", password=None)
    tenant = tenant_services.tenant_create(actor=operator, slug="apibench", name="API Bench")
    admin = User.objects.create_user(email="admin@apibench.test", password=None)
    tenant_services.membership_add(actor=operator, tenant=tenant, user=admin, role="customer_admin")
    users = User.objects.bulk_create(
        [
            User(email=f"u{i}@apibench.test", full_name=f"User {i}", password="!")  # noqa: S106 (unusable)
            for i in range(args.users)
        ],
        batch_size=1000,
    )
    now = timezone.now()
    with tenant_context(tenant), transaction.atomic():
        Membership.objects.bulk_create(
            [Membership(tenant=tenant, user=u, role="member") for u in users], batch_size=1000
        )
        entitlements = []
        for e in range(10):
            environment = tenant_services.environment_create(
                actor=operator, tenant=tenant, slug=f"env-{e}", name=f"Environment {e}"
            )
            entitlements.append(
                entitlement_create(
                    actor=operator,
                    tenant=tenant,
                    environment=environment,
                    level=PermissionLevel.READ,
                    risk=RiskLevel.LOW,
                    name=f"env-{e}-read",
                )
            )
        Grant.objects.bulk_create(
            [
                Grant(
                    tenant=tenant,
                    user=users[i % len(users)],
                    entitlement=entitlements[i % len(entitlements)],
                    source=GrantSource.MANUAL,
                    starts_at=now - timedelta(days=1),
                    expires_at=now + timedelta(days=30 + i % 60),
                    justification="bench",
                )
                for i in range(args.grants)
            ],
            batch_size=1000,
        )
        for start in range(0, args.events, 1000):
            audit_events_record_bulk(
                tenant=tenant,
                events=[
                    {"action": "bench.event", "actor": admin, "details": {"i": i}}
                    for i in range(start, min(args.events, start + 1000))
                ],
            )
    issued = api_key_create(
        actor=admin,
        tenant=tenant,
        name="bench",
        scopes=list(SCOPES),
        technical_contact_email="ops@apibench.test",
        rate_limit_per_minute=10_000_000,
        rate_limit_burst=10_000_000,
    )
    from bench.generate import vacuum_analyze

    vacuum_analyze()
    Path(args.state).write_text(json.dumps({"token": str(issued.token), "slug": tenant.slug}))
    print(
        f"setup: {args.users} members, {args.grants} grants, {args.events} audit events "
        f"in {time.perf_counter() - started:.1f} s"
    )


def _client(
    url: str, token: str, slug: str, seconds: float, think: float, offset: int, out: object
) -> None:
    parsed = urllib.parse.urlparse(url)
    paths = [p.format(slug=slug) for p in ENDPOINTS]
    headers = {"Authorization": f"Bearer {token}", "Connection": "keep-alive"}
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    results: list[tuple[int, float, int, float]] = []
    i = offset
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        index = i % len(paths)
        i += 1
        start = time.perf_counter()
        try:
            conn.request("GET", paths[index], headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        results.append((index, time.perf_counter() - start, status, start))
        if think:
            time.sleep(think)
    out.extend(results)  # type: ignore[attr-defined]


def _process(
    url: str,
    token: str,
    slug: str,
    seconds: float,
    think: float,
    threads: int,
    first: int,
    q: object,
) -> None:
    cpu_started = time.process_time()  # every thread of this client process
    collected: list[tuple[int, float, int, float]] = []
    workers = [
        threading.Thread(
            target=_client, args=(url, token, slug, seconds, think, first + n, collected)
        )
        for n in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    q.put((collected, time.process_time() - cpu_started))  # type: ignore[attr-defined]


# --- where the CPU went (Linux /proc) ----------------------------------------------------------
def _clock_ticks() -> int:
    return int(os.sysconf("SC_CLK_TCK"))


def _machine_jiffies() -> tuple[int, int, int]:
    """(busy, stolen by the hypervisor, total) jiffies of all CPUs since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields + [0] * (8 - len(fields))
    busy = user + nice + system + irq + softirq  # guest time is already counted in user
    return busy, steal, busy + steal + idle + iowait


def _proc_times(pid: int) -> tuple[int, int, int] | None:
    """(ppid, own utime+stime, reaped children's cutime+cstime) in jiffies."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def _tree_snapshot(root: int) -> dict[int, int]:
    """CPU jiffies of a process and its live children (gunicorn master + workers; postmaster
    + backends), keyed by pid; key 0 holds what the root reaped from exited children."""
    snap: dict[int, int] = {}
    own = _proc_times(root)
    if own is None:
        return snap
    snap[root], snap[0] = own[1], own[2]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != root:
            times = _proc_times(int(entry.name))
            if times is not None and times[0] == root:
                snap[int(entry.name)] = times[1]
    return snap


def _tree_delta(before: dict[int, int], after: dict[int, int]) -> int:
    """Jiffies used between the snapshots (a child born in between counts from zero; one that
    exited shows up in the root's reaped-children time)."""
    return sum(value - before.get(pid, 0) for pid, value in after.items())


def _cpu_report(
    before: dict[str, Any], after: dict[str, Any], clients_cpu: float, requests: int, wall: float
) -> None:
    tick = _clock_ticks()
    cores = os.cpu_count() or 1
    busy, steal, total = ((after["machine"][n] - before["machine"][n]) / tick for n in range(3))
    parts = {"clients (this benchmark)": clients_cpu}
    for name in ("gunicorn", "PostgreSQL", "Redis"):
        if name in before:
            parts[name] = _tree_delta(before[name], after[name]) / tick
    parts["rest of the machine"] = max(0.0, busy - sum(parts.values()))
    print(
        f"CPU during the run ({wall:.1f} s): {cores} cores x {total / cores:.1f} s = "
        f"{total:.1f} core-s, busy {busy:.1f} core-s ({100 * busy / total:.0f}%), "
        f"stolen by the hypervisor {steal:.1f} core-s"
    )
    print("| process | CPU core-s | share of the machine | CPU ms per request |")
    print("|---|---|---|---|")
    for name, seconds in parts.items():
        print(
            f"| {name} | {seconds:.1f} | {100 * seconds / total:.0f}% | "
            f"{1000 * seconds / max(1, requests):.2f} |"
        )


def load(args: argparse.Namespace) -> int:
    state = json.loads(Path(args.state).read_text())
    per_process = [args.clients // args.processes] * args.processes
    for n in range(args.clients % args.processes):
        per_process[n] += 1
    # warm-up: every endpoint, from `warmup_clients` connections at once (1: one connection,
    # i.e. one server thread and its database connection; the others start cold)
    warmers = [
        threading.Thread(
            target=_client, args=(args.url, state["token"], state["slug"], 2.0, 0.0, n, [])
        )
        for n in range(max(1, args.warmup_clients))
    ]
    for w in warmers:
        w.start()
    for w in warmers:
        w.join()
    queue: multiprocessing.Queue = multiprocessing.Queue()
    procs = []
    first = 0
    watched = {
        name: pid
        for name, pid in (
            ("gunicorn", args.server_pid), ("PostgreSQL", args.db_pid), ("Redis", args.redis_pid)
        )
        if pid
    }  # fmt: skip
    cpu_before: dict[str, Any] = {"machine": _machine_jiffies()}
    cpu_before.update({name: _tree_snapshot(pid) for name, pid in watched.items()})
    started = time.perf_counter()
    for threads in per_process:
        p = multiprocessing.Process(
            target=_process,
            args=(
                args.url, state["token"], state["slug"], args.seconds, args.think_ms / 1000,
                threads, first, queue,
            ),
        )  # fmt: skip
        first += threads
        p.start()
        procs.append(p)
    results: list[tuple[int, float, int, float]] = []
    clients_cpu = 0.0
    for _ in procs:
        rows, cpu = queue.get()
        results.extend(rows)
        clients_cpu += cpu
    cpu_after: dict[str, Any] = {"machine": _machine_jiffies()}
    cpu_after.update({name: _tree_snapshot(pid) for name, pid in watched.items()})
    for p in procs:
        p.join()
    wall = time.perf_counter() - started
    print(
        f"{args.clients} clients ({args.processes} processes), {args.seconds:.0f} s, "
        f"think {args.think_ms} ms: {len(results)} requests, {len(results) / wall:.0f} req/s"
    )
    print("| endpoint | requests | p50 ms | p95 ms | p99 ms | statuses |")
    print("|---|---|---|---|---|---|")
    bad = 0
    for index, template in enumerate([*ENDPOINTS, "all GET endpoints"]):
        rows = results if index == len(ENDPOINTS) else [r for r in results if r[0] == index]
        if not rows:
            continue
        ms = [r[1] * 1000 for r in rows]
        statuses: dict[int, int] = {}
        for r in rows:
            statuses[r[2]] = statuses.get(r[2], 0) + 1
        if index < len(ENDPOINTS):
            bad += sum(c for s, c in statuses.items() if s != 200)
        label = template.replace("{slug}", "<t>")
        print(
            f"| `{label}` | {len(rows)} | {statistics.median(ms):.1f} | {pct(ms, 95):.1f} | "
            f"{pct(ms, 99):.1f} | {', '.join(f'{s}x{c}' for s, c in sorted(statuses.items()))} |"
        )
    # The same requests without the first moments: all clients start at once, and server
    # threads open their database connections on first use. Printed in addition, never instead.
    settle = max(1.0, 2 * args.think_ms / 1000)
    steady = [r[1] * 1000 for r in results if r[3] - started >= settle]
    if steady and len(steady) < len(results):
        print(
            f"without the requests started in the first {settle:.1f} s: {len(steady)} requests, "
            f"p50 {statistics.median(steady):.1f} ms, p95 {pct(steady, 95):.1f} ms, "
            f"p99 {pct(steady, 99):.1f} ms"
        )
    if watched:
        _cpu_report(cpu_before, cpu_after, clients_cpu, len(results), wall)
    return 1 if bad else 0


def profile(args: argparse.Namespace) -> int:
    """In-process cost of each GET endpoint (Django test client, same stack and database, no
    HTTP server): SQL statements, application CPU time and wall time per request. CPU time
    does not grow with other jobs' load the way wall time does on a shared machine."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    state = json.loads(Path(args.state).read_text())
    client = Client(HTTP_AUTHORIZATION=f"Bearer {state['token']}", HTTP_HOST="127.0.0.1")
    from apps.core.tenancy import unscoped
    from apps.integrations.models import ApiCallRecord

    def recorded() -> int:
        from apps.integrations.services.calls import call_log_flush

        call_log_flush()  # the records still in this process's buffer
        with unscoped(reason="bench: count the call log"):
            return ApiCallRecord.objects.count()

    before, sent = recorded(), 0
    print("| endpoint | SQL statements | app CPU p50 ms | wall p50 ms | wall p95 ms |")
    print("|---|---|---|---|---|")
    for template in ENDPOINTS:
        path = template.format(slug=state["slug"])
        for _ in range(20):
            assert client.get(path).status_code == 200, path
        queries: list[str] = []

        def count(
            execute: Any, sql: str, params: Any, many: bool, context: Any, seen: list[str] = queries
        ) -> Any:
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            client.get(path)
        cpu, wall = [], []
        for _ in range(args.requests):
            c0, w0 = time.process_time(), time.perf_counter()
            client.get(path)
            cpu.append((time.process_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
        sent += 21 + args.requests
        label = template.replace("{slug}", "<t>")
        print(
            f"| `{label}` | {len(queries)} | {statistics.median(cpu):.2f} | "
            f"{statistics.median(wall):.2f} | {pct(wall, 95):.2f} |"
        )
    print(f"call log: {recorded() - before} records for {sent} requests")
    if args.cprofile:
        import cProfile
        import pstats

        path = ENDPOINTS[1].format(slug=state["slug"])
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(200):
            client.get(path)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--state", required=True)
    s.add_argument("--users", type=int, default=2000)
    s.add_argument("--grants", type=int, default=5000)
    s.add_argument("--events", type=int, default=5000)
    ld = sub.add_parser("load")
    ld.add_argument("--state", required=True)
    ld.add_argument("--url", required=True)
    ld.add_argument("--clients", type=int, default=50)
    ld.add_argument("--processes", type=int, default=5)
    ld.add_argument("--seconds", type=float, default=30)
    ld.add_argument("--think-ms", type=float, default=0)
    ld.add_argument("--warmup-clients", type=int, default=1, help="concurrent warm-up clients")
    ld.add_argument("--server-pid", type=int, default=0, help="gunicorn master (CPU report)")
    ld.add_argument("--db-pid", type=int, default=0, help="postmaster (CPU report)")
    ld.add_argument("--redis-pid", type=int, default=0, help="redis-server (CPU report)")
    pr = sub.add_parser("profile")
    pr.add_argument("--state", required=True)
    pr.add_argument("--requests", type=int, default=300)
    pr.add_argument("--cprofile", action="store_true")
    args = parser.parse_args()
    if args.command == "profile":
        return profile(args)
    if args.command == "setup":
        setup(args)
        return 0
    return load(args)


if __name__ == "__main__":
    sys.exit(main())
