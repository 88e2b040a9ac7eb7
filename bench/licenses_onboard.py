#!/usr/bin/env python
"""Onboarding through the API, and bulk import (issue 7). Run by bench/run_licenses.sh, which
starts PostgreSQL + Redis (.ci/pg-up.sh) and a real HTTP server (gunicorn) in between.

    licenses_onboard.py setup  --tenants 5 --state FILE        # tenants, pools, API keys
    licenses_onboard.py load   --state FILE --url URL --rate 200 --seconds 30 --clients 24
    licenses_onboard.py storm  --state FILE --url URL --clients 50 --requests 10000
    licenses_onboard.py verify --state FILE                    # over-allocation, duplicates
    licenses_onboard.py import --rows 50000                    # preview + run, with progress

`load` offers a paced (open-loop) rate and measures latency and the sustained rate of users
created. `storm` is 50 concurrent clients as fast as they go, including replays with the same
Idempotency-Key, the same person sent twice under different keys, and a scarce pool that runs
out: afterwards `verify` counts seats against capacity and users against distinct emails.
A client retries (up to 3 times, exponential backoff) on 409 idempotency_in_flight, 429, 5xx
and connection errors; retries are counted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("CUSTOS_VAR_DIR", tempfile.mkdtemp(prefix="custos-bench-"))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def django_setup() -> None:
    import django

    django.setup()


# --- setup -------------------------------------------------------------------------------------


def setup(args: argparse.Namespace) -> None:
    django_setup()
    from apps.identity.models import User
    from apps.integrations.services.api_keys import api_key_create
    from apps.licenses.services import pool_create, product_create
    from apps.tenants import services as tenant_services
    from apps.tenants.models import TenantRole

    operator = User.objects.create_superuser(email=f"op-{uuid.uuid4().hex[:6]}@bench.test")
    state = {"tenants": []}
    for i in range(args.tenants):
        slug = f"bench{i}"
        tenant = tenant_services.tenant_create(actor=operator, slug=slug, name=f"Bench {i}")
        admin = User.objects.create_user(email=f"admin@{slug}.test")
        tenant_services.membership_add(
            actor=operator, tenant=tenant, user=admin, role=TenantRole.CUSTOMER_ADMIN
        )
        office = product_create(actor=operator, tenant=tenant, key="office", name="Office")
        scarce = product_create(actor=operator, tenant=tenant, key="scarce", name="Scarce")
        pool_create(actor=operator, tenant=tenant, product=office, name="Office", capacity=10**6)
        pool_create(
            actor=operator, tenant=tenant, product=scarce, name="Scarce", capacity=args.scarce
        )
        issued = api_key_create(
            actor=admin,
            tenant=tenant,
            name="bench",
            scopes=["users:write", "users:read", "licenses:read"],
            technical_contact_email="ops@bench.test",
            rate_limit_per_minute=10**7,
            rate_limit_burst=10**6,
        )
        state["tenants"].append({"slug": slug, "token": issued.token, "scarce": args.scarce})
    Path(args.state).write_text(json.dumps(state))
    print(f"setup: {args.tenants} tenants, scarce pools of {args.scarce} seats")


# --- HTTP client -------------------------------------------------------------------------------


class Client:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: dict, headers: dict[str, str]) -> tuple[int, dict]:
        data = json.dumps(body).encode()
        for fresh in (False, True):
            if self.conn is None or fresh:
                if self.conn is not None:
                    self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request(
                    "POST", path, body=data,
                    headers={"Content-Type": "application/json", **headers},
                )  # fmt: skip
                response = self.conn.getresponse()
                payload = response.read()
                try:
                    return response.status, (json.loads(payload) if payload else {})
                except ValueError:  # not JSON (e.g. a proxy's or Django's plain error page)
                    return response.status, {}
            except (http.client.HTTPException, OSError):
                if fresh:
                    raise
        raise AssertionError("unreachable")


RETRYABLE = {409: "idempotency_in_flight", 429: None, 500: None, 502: None, 503: None}


def send(
    client: Client, tenant: dict, body: dict, key: str, stats: dict, path_suffix: str = ""
) -> tuple[int, dict, float]:
    """One logical request (with its retries). Returns status, body and the first attempt's
    latency."""
    headers = {"Authorization": f"Bearer {tenant['token']}", "Idempotency-Key": key}
    path = f"/api/v1/tenants/{tenant['slug']}/users{path_suffix}"
    first_latency = 0.0
    for attempt in range(1, 4):
        start = time.perf_counter()
        try:
            status, payload = client.post(path, body, headers)
        except (http.client.HTTPException, OSError):
            status, payload = 599, {}
        elapsed = time.perf_counter() - start
        if attempt == 1:
            first_latency = elapsed
        code = payload.get("error", {}).get("code") if isinstance(payload, dict) else None
        retry = status in (429, 500, 502, 503, 599) or (
            status == 409 and code == "idempotency_in_flight"
        )
        if not retry or attempt == 3:
            return status, payload, first_latency
        with stats["lock"]:
            stats["retries"] += 1
        time.sleep(min(5.0, 0.05 * 2 ** (attempt - 1)))
    raise AssertionError("unreachable")


# --- load: paced rate --------------------------------------------------------------------------


def load(args: argparse.Namespace) -> None:
    state = json.loads(Path(args.state).read_text())
    tenants = state["tenants"]
    total = int(args.rate * args.seconds)
    interval = 1.0 / args.rate
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stats = {"lock": threading.Lock(), "retries": 0}
    next_index = {"i": 0}
    users_made = {"n": 0}
    start_at = time.perf_counter() + 0.5
    run = uuid.uuid4().hex[:6]

    def worker() -> None:
        client = Client(args.url)
        while True:
            with stats["lock"]:
                i = next_index["i"]
                next_index["i"] += 1
            if i >= total:
                return
            due = start_at + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            tenant = tenants[i % len(tenants)]
            if args.batch > 1:
                body = {
                    "users": [
                        {"email": f"load-{run}-{i}-{j}@example.com", "products": ["office"]}
                        for j in range(args.batch)
                    ]
                }
                status, payload, latency = send(
                    client, tenant, body, f"load-{run}-{i}", stats, "/batch"
                )
                made = int(payload.get("created", 0)) if status == 200 else 0
            else:
                body = {"email": f"load-{run}-{i}@example.com", "products": ["office"]}
                status, payload, latency = send(client, tenant, body, f"load-{run}-{i}", stats)
                made = 1 if status == 201 else 0
            with stats["lock"]:
                latencies.append(latency)
                statuses[status] = statuses.get(status, 0) + 1
                users_made["n"] += made

    threads = [threading.Thread(target=worker) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start_at
    created = users_made["n"]
    ms = [x * 1000 for x in latencies]
    per = f" (batches of {args.batch} users)" if args.batch > 1 else ""
    print(
        f"load: offered {args.rate} requests/s{per} for {args.seconds}s with {args.clients} "
        f"clients -> {created} users created in {wall:.1f}s = {created / wall:.0f} users/s; "
        f"latency p50 {pct(ms, 50):.1f} ms, p95 {pct(ms, 95):.1f} ms, "
        f"p99 {pct(ms, 99):.1f} ms; statuses {dict(sorted(statuses.items()))}; "
        f"retries {stats['retries']} ({100 * stats['retries'] / max(1, total):.2f} %)"
    )


# --- storm: 50 clients, correctness ------------------------------------------------------------


def storm(args: argparse.Namespace) -> None:
    state = json.loads(Path(args.state).read_text())
    tenants = state["tenants"]
    stats = {"lock": threading.Lock(), "retries": 0}
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    run = uuid.uuid4().hex[:6]
    per_client = args.requests // args.clients
    created_emails: dict[str, int] = {}

    def worker(c: int) -> None:
        client = Client(args.url)
        for j in range(per_client):
            n = c * per_client + j
            tenant = tenants[n % len(tenants)]
            # Every 10th request repeats the previous one (same key): a replay. Every 10th
            # (offset 5) sends an earlier person again under a new key: must not duplicate.
            if j % 10 == 9:
                n_body, key = n - 1, f"storm-{run}-{n - 1}"
                tenant = tenants[(n - 1) % len(tenants)]
            elif j % 10 == 5 and n >= 2:
                n_body, key = n - 2, f"storm-{run}-dup-{n}"
                tenant = tenants[(n - 2) % len(tenants)]
            else:
                n_body, key = n, f"storm-{run}-{n}"
            products = ["office", "scarce"] if n_body % 4 == 0 else ["office"]
            body = {"email": f"storm-{run}-{n_body}@example.com", "products": products}
            status, payload, latency = send(client, tenant, body, key, stats)
            label = str(status)
            if isinstance(payload, dict) and "error" in payload:
                label += ":" + str(payload["error"].get("code"))
            with stats["lock"]:
                statuses[label] = statuses.get(label, 0) + 1
                latencies.append(latency)
                if status == 201:
                    created_emails[body["email"]] = created_emails.get(body["email"], 0) + 1

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    total = per_client * args.clients
    ms = [x * 1000 for x in latencies]
    print(
        f"storm: {args.clients} clients x {per_client} = {total} requests in {wall:.1f}s "
        f"({total / wall:.0f} req/s); p50 {pct(ms, 50):.1f} ms, "
        f"p95 {pct(ms, 95):.1f} ms; "
        f"statuses {dict(sorted(statuses.items()))}; retries {stats['retries']} "
        f"({100 * stats['retries'] / total:.2f} %)"
    )
    Path(args.state + ".storm").write_text(json.dumps({"run": run, "created": created_emails}))


# --- verify --------------------------------------------------------------------------------------


def verify(args: argparse.Namespace) -> None:
    django_setup()
    from django.db.models import Count

    from apps.core.tenancy import unscoped
    from apps.identity.models import User
    from apps.licenses.models import LicensePool, Seat
    from apps.tenants.models import Membership

    problems = []
    with unscoped(reason="bench verification"):
        for pool in LicensePool.objects.all():
            active = Seat.objects.filter(pool=pool, released_at__isnull=True).count()
            if pool.used > pool.capacity or active != pool.used:
                problems.append(f"{pool}: used {pool.used}, active {active}, cap {pool.capacity}")
        scarce = list(
            LicensePool.objects.filter(product__key="scarce").values_list("used", "capacity")
        )
        dup_seats = (
            Seat.objects.filter(released_at__isnull=True)
            .values("tenant_id", "product_id", "user_id")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .count()
        )
        dup_members = (
            Membership.objects.values("tenant_id", "user_id")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .count()
        )
    emails = list(User.objects.filter(email__startswith="storm-").values_list("email", flat=True))
    dup_users = len(emails) - len({e.lower() for e in emails})
    print(
        f"verify: pools over capacity or out of step: {len(problems)}; "
        f"scarce pools (used/capacity): "
        f"{scarce}; duplicate active seats: {dup_seats}; duplicate memberships: {dup_members}; "
        f"storm users: {len(emails)}, duplicate users: {dup_users}"
    )
    for p in problems[:10]:
        print("  ", p)
    if problems or dup_seats or dup_members or dup_users:
        sys.exit(1)


# --- import ------------------------------------------------------------------------------------


def bulk_import(args: argparse.Namespace) -> None:
    django_setup()
    from apps.identity.models import User
    from apps.licenses.models import OnboardingImport
    from apps.licenses.services import pool_create, product_create
    from apps.licenses.services.imports import import_confirm, import_preview
    from apps.lifecycle.joiner import joiner_import_run
    from apps.tenants import services as tenant_services
    from apps.tenants.models import TenantRole

    operator = User.objects.create_superuser(email=f"imp-{uuid.uuid4().hex[:6]}@bench.test")
    slug = f"imp{uuid.uuid4().hex[:6]}"
    tenant = tenant_services.tenant_create(actor=operator, slug=slug, name="Import bench")
    admin = User.objects.create_user(email=f"admin@{slug}.test")
    tenant_services.membership_add(
        actor=operator, tenant=tenant, user=admin, role=TenantRole.CUSTOMER_ADMIN
    )
    office = product_create(actor=operator, tenant=tenant, key="office", name="Office")
    pool_create(actor=operator, tenant=tenant, product=office, name="Office", capacity=10**6)
    lines = ["email,full_name,role,department,products"]
    lines += [f"imp{i}@{slug}.example,Person {i},member,Ops,office" for i in range(args.rows)]
    data = ("\n".join(lines) + "\n").encode()
    t0 = time.perf_counter()
    imp = import_preview(actor=admin, tenant=tenant, filename="bulk.csv", data=data)
    t1 = time.perf_counter()
    print(f"import: dry run of {imp.total_rows} rows in {t1 - t0:.1f}s ({imp.valid_rows} valid)")
    import_confirm(actor=admin, imp=imp)
    done = threading.Event()

    def progress() -> None:
        from django.db import connections

        from apps.core.tenancy import unscoped

        while not done.wait(15):
            with unscoped(reason="bench progress"):
                row = (
                    OnboardingImport.objects.filter(pk=imp.pk)
                    .values("processed_rows", "valid_rows")
                    .first()
                )
            print(f"  progress {row['processed_rows']}/{row['valid_rows']} after "
                  f"{time.perf_counter() - t1:.0f}s", flush=True)  # fmt: skip
        connections.close_all()

    watcher = threading.Thread(target=progress, daemon=True)
    watcher.start()
    result = joiner_import_run(import_id=imp.pk)
    done.set()
    t2 = time.perf_counter()
    print(
        f"import: run {result} in {t2 - t1:.1f}s = {args.rows / (t2 - t1):.0f} rows/s "
        f"(dry run + run {t2 - t0:.1f}s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("setup")
    p.add_argument("--tenants", type=int, default=5)
    p.add_argument("--scarce", type=int, default=300)
    p.add_argument("--state", required=True)
    p = sub.add_parser("load")
    p.add_argument("--state", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--clients", type=int, default=24)
    p.add_argument("--batch", type=int, default=1, help="users per request (POST …/users/batch)")
    p = sub.add_parser("storm")
    p.add_argument("--state", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--requests", type=int, default=10_000)
    p = sub.add_parser("verify")
    p.add_argument("--state", required=True)
    p = sub.add_parser("import")
    p.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    {"setup": setup, "load": load, "storm": storm, "verify": verify, "import": bulk_import}[
        args.cmd
    ](args)


if __name__ == "__main__":
    main()
