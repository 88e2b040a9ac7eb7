#!/usr/bin/env python
"""Set-based grant writes of apps.access (issue 5 targets), in-process on PostgreSQL:

  * revoke: `grants_revoke_for_user` for a user with --grants grants (target: the SCIM
    deactivate of a user with 200 grants <= 200 ms end to end), and the whole leaver
    (`apps.lifecycle.leaver.user_deprovision`, what SCIM deactivate runs) for the same shape;
  * reconcile: `grants_reconcile_mapped` with --roles IdP-mapped roles, first login (all
    created) and repeat login (one revoked, one created, the rest kept) — the access part of
    the federation sign-in target (p50 <= 40 ms for the whole sign-in);
  * for comparison, the per-grant path the services used before (grant_revoke per grant,
    grant_create per role), same data.

Each series reports wall p50/p90, CPU p50 (time.process_time: this process, i.e. Django +
psycopg, not PostgreSQL) and the SQL statement count.

Run (own throw-away cluster):
  source .ci/pg-up.sh; export DJANGO_SETTINGS_MODULE=config.settings.base
  .venv/bin/python manage.py migrate -v0
  .venv/bin/python bench/bench_access_bulk.py; ci_services_down
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("CUSTOS_VAR_DIR", tempfile.mkdtemp(prefix="custos-bench-"))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(func: Callable[[], Any]) -> tuple[Any, float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cpu, wall = time.process_time(), time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        value = func()
    return (
        value,
        (time.perf_counter() - wall) * 1000,
        (time.process_time() - cpu) * 1000,
        len(queries),
    )


def report(name: str, rows: list[tuple[float, float, int]]) -> None:
    if not rows:
        return
    walls = [r[0] for r in rows]
    cpus = [r[1] for r in rows]
    sql = sorted({r[2] for r in rows})
    print(
        f"{name:<46} n={len(rows):<3} wall p50={pct(walls, 50):7.1f} ms  "
        f"p90={pct(walls, 90):7.1f} ms  CPU p50={pct(cpus, 50):6.1f} ms  SQL={sql}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grants", type=int, default=200)
    parser.add_argument("--roles", type=int, default=20)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--per-row-runs", type=int, default=3)
    parser.add_argument(
        "--expiry",
        type=int,
        default=0,
        help="instead: N grants due at once in --tenants tenants, swept in this one process",
    )
    parser.add_argument("--tenants", type=int, default=5)
    args = parser.parse_args()
    if args.expiry:
        expiry(args)
        return

    import django

    django.setup()
    from apps.access import services
    from apps.access.models import Entitlement, Grant
    from apps.access.services import GrantSpec
    from apps.core.tenancy import tenant_context
    from apps.identity.models import User
    from apps.lifecycle import leaver
    from apps.tenants import services as tenant_services
    from apps.tenants.models import Environment, TenantRole

    operator = User.objects.create_superuser(email=f"op-{uuid.uuid4().hex[:6]}@bench.test")
    tenant = tenant_services.tenant_create(actor=operator, slug="bulkbench", name="Bulk bench")
    admin = User.objects.create_user(email="admin@bulkbench.test")
    tenant_services.membership_add(
        actor=operator, tenant=tenant, user=admin, role=TenantRole.CUSTOMER_ADMIN
    )
    with tenant_context(tenant):
        envs = Environment.objects.bulk_create(
            [Environment(tenant=tenant, slug=f"env-{i}", name=f"Env {i}") for i in range(220)]
        )
        ents = Entitlement.objects.bulk_create(
            [
                Entitlement(
                    tenant=tenant, environment=e, level="read", risk="low", name=f"env-{i}-read"
                )
                for i, e in enumerate(envs)
            ]
        )
    roles = [
        services.role_create(
            actor=operator,
            tenant=tenant,
            key=f"group-{i}",
            name=f"Group {i}",
            entitlements=ents[i * 5 : i * 5 + 5],
        )
        for i in range(args.roles + 1)
    ]
    for i in range(10):  # SoD rules the checks have to evaluate (none fires)
        services.sod_rule_save(
            actor=operator,
            tenant=tenant,
            key=f"sod-{i}",
            name=f"SoD {i}",
            entitlements=[ents[200 + 2 * i], ents[201 + 2 * i]],
        )
    counter = iter(range(1_000_000))

    def person() -> Any:
        user = User.objects.create_user(email=f"p{next(counter)}@bulkbench.test")
        tenant_services.membership_add(actor=operator, tenant=tenant, user=user)
        return user

    def holding(user: Any) -> None:
        services.grants_create_bulk(
            actor=admin,
            tenant=tenant,
            user=user,
            specs=[GrantSpec(entitlement=e) for e in ents[: args.grants]],
            source="manual",
        )

    print(
        f"tenant with {len(ents)} entitlements, {len(roles)} roles, 10 SoD rules; "
        f"{args.runs} runs per series",
        flush=True,
    )

    # --- revoke ------------------------------------------------------------------------------
    rows = []
    for _ in range(args.runs):
        user = person()
        holding(user)
        n, wall, cpu, sql = measure(
            lambda u=user: services.grants_revoke_for_user(
                actor=admin, user=u, reason="bench", tenant=tenant
            )
        )
        assert n == args.grants, n
        rows.append((wall, cpu, sql))
    report(f"grants_revoke_for_user, {args.grants} grants", rows)

    rows = []
    for _ in range(args.runs):
        user = person()
        holding(user)
        confirmations, wall, cpu, sql = measure(
            lambda u=user: leaver.user_deprovision(
                actor=None, user=u, tenant=tenant, reason="bench", trigger="manual"
            )
        )
        assert confirmations[0].grants_revoked == args.grants
        rows.append((wall, cpu, sql))
    report(f"leaver user_deprovision, {args.grants} grants", rows)

    rows = []
    for _ in range(args.per_row_runs):
        user = person()
        holding(user)
        with tenant_context(tenant):
            grants = list(Grant.objects.filter(user=user, revoked_at__isnull=True))

        def per_row(gs: list[Any] = grants) -> None:
            for g in gs:
                services.grant_revoke(actor=admin, grant=g, reason="bench")

        _, wall, cpu, sql = measure(per_row)
        rows.append((wall, cpu, sql))
    report(f"(before) grant_revoke x {args.grants}", rows)

    # --- reconcile ---------------------------------------------------------------------------
    keys = [r.key for r in roles]

    def reconcile(user: Any, desired: list[str]) -> Any:
        return services.grants_reconcile_mapped(
            actor=None,
            tenant=tenant,
            user=user,
            source="idp_mapping",
            desired=desired,
            mapping_prefix="idp:",
        )

    first, repeat = [], []
    for _ in range(args.runs):
        user = person()
        result, wall, cpu, sql = measure(lambda u=user: reconcile(u, keys[: args.roles]))
        assert len(result.created) == args.roles, result
        first.append((wall, cpu, sql))
        result, wall, cpu, sql = measure(lambda u=user: reconcile(u, keys[1 : args.roles + 1]))
        assert (len(result.created), len(result.revoked)) == (1, 1), result
        repeat.append((wall, cpu, sql))
    report(f"grants_reconcile_mapped first login, {args.roles} roles", first)
    report("grants_reconcile_mapped repeat login (1 -, 1 +)", repeat)

    rows = []
    for _ in range(args.per_row_runs):
        user = person()

        def per_row_create(u: Any = user) -> None:
            for role in roles[: args.roles]:
                services.grant_create(
                    actor=None,
                    tenant=tenant,
                    user=u,
                    role=role,
                    source="idp_mapping",
                    mapping_key=f"idp:{role.key}",
                )

        _, wall, cpu, sql = measure(per_row_create)
        rows.append((wall, cpu, sql))
    report(f"(before) grant_create x {args.roles} roles", rows)


def expiry(args: argparse.Namespace) -> None:
    """The sweeper alone, in-process: wall and CPU per grant of `grants_expire_due`."""
    import django

    django.setup()
    from datetime import timedelta

    from django.utils import timezone

    from apps.access.models import Entitlement, Grant
    from apps.access.services import grants_expire_due
    from apps.core.tenancy import tenant_context
    from apps.identity.models import User
    from apps.tenants import services as tenant_services
    from apps.tenants.models import Environment

    operator = User.objects.create_superuser(email=f"op-{uuid.uuid4().hex[:6]}@bench.test")
    now = timezone.now()
    per_tenant = args.expiry // args.tenants
    for t in range(args.tenants):
        tenant = tenant_services.tenant_create(actor=operator, slug=f"x{t}", name=f"X {t}")
        with tenant_context(tenant):
            users = User.objects.bulk_create([User(email=f"u{i}@x{t}.bench") for i in range(100)])
            env = Environment.objects.create(tenant=tenant, slug="app", name="App")
            ent = Entitlement.objects.create(
                tenant=tenant, environment=env, level="read", risk="low", name="app-read"
            )
            Grant.objects.bulk_create(
                [
                    Grant(
                        tenant=tenant,
                        user=users[i % 100],
                        entitlement=ent,
                        source="request",
                        starts_at=now - timedelta(hours=1),
                        expires_at=now + timedelta(seconds=1),
                        ends_at_due=now + timedelta(seconds=1),
                    )
                    for i in range(per_tenant)
                ],
                batch_size=2000,
            )
    time.sleep(1.1)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cpu, wall = time.process_time(), time.perf_counter()
    with CaptureQueriesContext(connection) as first:
        done = grants_expire_due(limit=1000)
    slowest = sorted(first.captured_queries, key=lambda q: -float(q["time"]))[:5]
    print(f"first call: {done} grants, {len(first.captured_queries)} SQL; slowest:")
    for q in slowest:
        print(f"  {float(q['time']) * 1000:7.1f} ms  {q['sql'][:110]}")
    while n := grants_expire_due(limit=1000):
        done += n
    wall_s, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"expiry, one process: {done:,} grants in {wall_s:.1f} s wall ({done / wall_s:,.0f}/s), "
        f"{cpu_s:.1f} s CPU in this process ({cpu_s / done * 1e6:.0f} us per grant)"
    )


if __name__ == "__main__":
    main()
