"""Access analytics benchmarks (issue 6) on PostgreSQL:

1. Role mining over 10,000 people x 500 entitlements (target <= 60 s): one tenant from
   bench.generate.base_dataset, 100 environments x 5 levels = 500 entitlements, people holding
   1-2 of 40 planted job roles (8-14 entitlements each) plus 3 random entitlements as direct,
   open-ended grants (~60,000 grants). Timed: `role_mining_run` end to end (reading the grants,
   mining, storing the candidates), and whether the planted roles were recovered.
2. Anomaly detection throughput (target: keeps up with 1,000 access events/s):
   a. backlog: N events already recorded (realistic mix: sign-ins, reads, exports, failed
      sign-ins, IPs of the offline geo table, spread over a day); `anomalies_detect` drains them
      in batches of 5,000 -> events/s;
   b. live: a separate producer process records 1,000 events/s (`access_events_record_bulk`,
      100 every 0.1 s) for --live-seconds while this process runs the detector in a loop, as the
      Celery task does; reported: events produced, backlog at the end, and the lag from an
      event's time to its detection (p50/p99/max) — alerts reach the dashboard, which polls every
      10 s, within lag + 10 s.
   c. recording one event per call (`access_event_record`, the portal/API path): calls/s.

Command (throw-away cluster, see bench/RESULTS.md):
    source .ci/pg-up.sh && .venv/bin/python manage.py migrate -v0 && \
        DJANGO_SETTINGS_MODULE=config.settings.base .venv/bin/python bench/bench_analytics.py; \
        ci_services_down
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

IPS = [
    "192.0.2.10",  # Berlin
    "100.66.0.7",  # Munich
    "100.64.0.9",  # Paris
    "100.65.0.3",  # London
    "100.69.0.4",  # Zurich
    "198.51.100.5",  # New York
    "100.68.0.2",  # San Francisco
    "100.67.0.8",  # Singapore
    "203.0.113.20",  # Sydney
]
KIND_WEIGHTS = [("read", 70), ("login", 12), ("write", 10), ("export", 5), ("auth_failed", 3)]


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("ANALYTICS_DETECT_ON_RECORD", "0")
    import django

    django.setup()
    from django.conf import settings

    settings.ANALYTICS_DETECT_ON_RECORD = False  # the bench runs the detector itself


def catalog(tenant_id: int, rng: random.Random, *, envs: int, people: list[int]) -> dict[str, Any]:
    from apps.access.models import Entitlement, Grant
    from apps.core.tenancy import unscoped
    from apps.tenants.models import Environment

    levels = ["read", "write", "export", "admin", "operate"]
    with unscoped(reason="bench: build the catalog and grants"):
        environments = Environment.objects.bulk_create(
            [
                Environment(tenant_id=tenant_id, slug=f"mine-env-{i}", name=f"Mining env {i}")
                for i in range(envs)
            ]
        )
        ents = Entitlement.objects.bulk_create(
            [
                Entitlement(
                    tenant_id=tenant_id,
                    environment=env,
                    level=level,
                    risk="low",
                    name=f"{env.slug}-{level}",
                )
                for env in environments
                for level in levels
            ]
        )
        ent_ids = [e.pk for e in ents]
        roles = [rng.sample(ent_ids, rng.randint(8, 14)) for _ in range(40)]
        grants = []
        now = datetime.now(UTC)
        for user_id in people:
            held = set()
            for role in rng.sample(roles, rng.choice((1, 1, 2))):
                held |= set(role)
            held |= set(rng.sample(ent_ids, 3))
            grants.extend(
                Grant(
                    tenant_id=tenant_id,
                    user_id=user_id,
                    entitlement_id=e,
                    source="request",
                    starts_at=now - timedelta(days=30),
                    created_at=now - timedelta(days=30),
                )
                for e in held
            )
        Grant.objects.bulk_create(grants, batch_size=5000)
    return {"entitlements": len(ent_ids), "grants": len(grants), "roles": roles}


def bench_mining(tenant: Any, planted: list[list[int]]) -> dict[str, Any]:
    from apps.certification.analytics.models import AnalyticsSettings, RoleCandidate
    from apps.certification.analytics.services import role_mining_run
    from apps.core.tenancy import tenant_context

    with tenant_context(tenant):
        AnalyticsSettings.objects.update_or_create(
            tenant=tenant, defaults={"mining_min_support": 50}
        )
    t0 = time.perf_counter()
    run = role_mining_run(tenant=tenant)
    seconds = time.perf_counter() - t0
    with tenant_context(tenant):
        found = [set(c.entitlement_ids) for c in RoleCandidate.objects.filter(run=run)]
        top = RoleCandidate.objects.filter(run=run).order_by("rank").first()
    planted_sets = [set(r) for r in planted]
    recovered = sum(
        1 for f in found if any(f <= p and len(f) >= 0.8 * len(p) for p in planted_sets)
    )
    return {
        "seconds": seconds,
        "people": run.users,
        "entitlements": run.entitlements,
        "grants": run.grants,
        "candidates": len(found),
        "recovered": recovered,
        "top": (top.support, len(top.entitlement_ids), top.grants_consolidated) if top else None,
    }


def _ip_for(user_id: int, rng: random.Random) -> str:
    """A person's usual place (their "home" address), and 1 % of accesses from elsewhere."""
    if rng.random() < 0.01:
        return rng.choice(IPS)
    return IPS[user_id % 5]  # the five European places of the offline table


def make_events(
    tenant_id: int, people: list[int], n: int, rng: random.Random, start: datetime
) -> list[dict[str, Any]]:
    """A working day: 90 % of accesses between 08:00 and 18:00 UTC, the rest at any hour."""
    kinds, weights = zip(*KIND_WEIGHTS, strict=True)
    events = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(n):
        kind = rng.choices(kinds, weights)[0]
        user = rng.choice(people)
        if rng.random() < 0.9:
            at = day + timedelta(hours=8) + timedelta(seconds=rng.uniform(0, 10 * 3600))
        else:
            at = day + timedelta(seconds=rng.uniform(0, 86400))
        events.append(
            {
                "kind": kind,
                "user_id": user,
                "at": at,
                "ip": _ip_for(user, rng),
                "rows": rng.randint(10, 8000) if kind == "export" else None,
            }
        )
    events.sort(key=lambda e: e["at"])
    return events


def load_backlog(tenant_id: int, events: list[dict[str, Any]]) -> None:
    from apps.certification.analytics.models import AccessEvent
    from apps.certification.analytics.services.events import _build
    from apps.core.tenancy import unscoped

    rows = []
    for e in events:
        row = _build(tenant_id=tenant_id, kind=e["kind"], ip=e["ip"], at=e["at"], rows=e["rows"])
        row.user_id = e["user_id"]
        rows.append(row)
    with unscoped(reason="bench: load the event backlog"):
        AccessEvent.objects.bulk_create(rows, batch_size=5000)


def drain(limit: int = 5000) -> tuple[int, int, float]:
    from apps.certification.analytics.services import anomalies_detect

    events = alerts = 0
    t0 = time.perf_counter()
    while True:
        result = anomalies_detect(limit=limit)
        events += result.events
        alerts += result.alerts
        if result.events == 0:
            break
    return events, alerts, time.perf_counter() - t0


def producer(tenant_id: int, people: list[int], seconds: float, rate: int, seed: int) -> None:
    setup()
    from django.db import connection

    from apps.certification.analytics.services import access_events_record_bulk
    from apps.core.tenancy import unscoped
    from apps.identity.models import User

    rng = random.Random(seed)
    users = User.objects.in_bulk(people[:2000])
    pool = list(users.values())
    batch = max(1, rate // 10)
    deadline = time.monotonic() + seconds
    tick = time.monotonic()
    while time.monotonic() < deadline:
        now = datetime.now(UTC)
        specs = [
            {
                "kind": rng.choices(*zip(*KIND_WEIGHTS, strict=True))[0],
                "user": (person := rng.choice(pool)),
                "at": now,
                "ip": _ip_for(person.pk, rng),
            }
            for _ in range(batch)
        ]
        with unscoped(reason="bench producer"):
            access_events_record_bulk(tenant=tenant_id, events=specs)
        tick += 0.1
        time.sleep(max(0.0, tick - time.monotonic()))
    connection.close()


def bench_live(tenant_id: int, people: list[int], seconds: float, rate: int) -> dict[str, Any]:
    from django.db import connection

    from apps.certification.analytics.models import AccessEvent
    from apps.certification.analytics.services import anomalies_detect
    from apps.core.tenancy import unscoped

    start = datetime.now(UTC)
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=producer, args=(tenant_id, people, seconds, rate, 7))
    proc.start()
    processed = 0
    busy_time = 0.0
    while proc.is_alive():
        t0 = time.perf_counter()
        result = anomalies_detect(limit=5000)
        busy_time += time.perf_counter() - t0
        processed += result.events
        if result.events == 0:
            time.sleep(0.2)
    proc.join()
    processed += drain()[0]
    with unscoped(reason="bench: lag"), connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXTRACT(EPOCH FROM detected_at - at) FROM analytics_accessevent "
            "WHERE at >= %s AND detected_at IS NOT NULL",
            [start],
        )
        lags = sorted(float(r[0]) for r in cursor.fetchall())
        produced = AccessEvent.objects.filter(at__gte=start).count()
    return {
        "produced": produced,
        "rate": produced / seconds,
        "detector_busy_share": busy_time / seconds,
        "lag_p50": statistics.median(lags) if lags else None,
        "lag_p99": lags[int(len(lags) * 0.99) - 1] if lags else None,
        "lag_max": lags[-1] if lags else None,
    }


def bench_record(tenant_id: int, people: list[int], n: int) -> float:
    from apps.certification.analytics.services import access_event_record
    from apps.core.tenancy import unscoped
    from apps.identity.models import User

    users = list(User.objects.filter(pk__in=people[:100]))
    t0 = time.perf_counter()
    with unscoped(reason="bench: one event per call"):
        for i in range(n):
            access_event_record(
                tenant=tenant_id, kind="read", user=users[i % len(users)], ip=IPS[i % len(IPS)]
            )
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--environments", type=int, default=100)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--live-seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=1000)
    args = parser.parse_args()
    setup()
    from apps.core.tenancy import unscoped
    from apps.tenants.models import Membership, Tenant
    from bench.generate import base_dataset

    rng = random.Random(20261202)
    t0 = time.perf_counter()
    data = base_dataset(tenants=1, users=args.users, events=0)
    tenant_id = data.tenant_ids[0]
    with unscoped(reason="bench: members"):
        people = list(
            Membership.objects.filter(tenant_id=tenant_id).values_list("user_id", flat=True)
        )
    built = catalog(tenant_id, rng, envs=args.environments, people=people)
    print(
        f"setup: {len(people)} people, {built['entitlements']} entitlements, "
        f"{built['grants']} grants in {time.perf_counter() - t0:.1f} s"
    )
    tenant = Tenant.objects.get(pk=tenant_id)

    mining = bench_mining(tenant, built["roles"])
    print(
        f"role mining: {mining['seconds']:.2f} s for {mining['people']} people x "
        f"{mining['entitlements']} entitlements ({mining['grants']} direct grants); "
        f"{mining['candidates']} candidates, {mining['recovered']} of them planted roles "
        f"(>= 80 % of a planted role); top: support {mining['top'][0]}, "
        f"{mining['top'][1]} entitlements, {mining['top'][2]} grants consolidated"
    )

    start = datetime.now(UTC) - timedelta(days=2)
    load_backlog(tenant_id, make_events(tenant_id, people, args.events, rng, start))
    events, alerts, seconds = drain()
    print(
        f"detection backlog: {events} events in {seconds:.2f} s = {events / seconds:,.0f} "
        f"events/s ({alerts} alerts)"
    )

    rate = bench_record(tenant_id, people, 2000)
    print(f"recording one event per call: {rate:,.0f} calls/s (single process)")
    drain()

    live = bench_live(tenant_id, people, args.live_seconds, args.rate)
    print(
        f"live: {live['produced']} events at {live['rate']:,.0f}/s for {args.live_seconds:.0f} s; "
        f"detector busy {live['detector_busy_share'] * 100:.0f} % of the time; lag from event "
        f"to detection p50 {live['lag_p50']:.2f} s, p99 {live['lag_p99']:.2f} s, "
        f"max {live['lag_max']:.2f} s"
    )


if __name__ == "__main__":
    main()
