#!/usr/bin/env python
"""SCIM directory sync (issue 5). Run by bench/run_scim.sh, which starts PostgreSQL + Redis
(.ci/pg-up.sh) and a real HTTP server (gunicorn) in between.

    scim.py setup      --state FILE [--grants 200]     # tenant, SCIM token, a user with N grants
    scim.py create     --state FILE --url URL --users 10000 --clients 8
    scim.py deactivate --state FILE --url URL          # PATCH active=false on the user with grants
    scim.py verify     --state FILE                    # users/memberships created, no duplicates
    scim.py leaver     --grants 200                    # in-process: each leaver step timed
    scim.py profile-create --users 300                 # in-process: cProfile of SCIM creates

`create` POSTs /Users over HTTP (http.client, keep-alive, one connection per client thread) as
fast as the clients go and reports the sustained rate and latency percentiles. `deactivate`
sends (httpx2) the Entra-style PATCH that deactivates the user holding N grants and reports the
HTTP round trip and the leaver's own measurement (RevocationConfirmation.duration_ms: grants
revoked, licences reclaimed, API keys revoked, membership ended, sessions ended, confirmation
written).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
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

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def django_setup() -> None:
    import django

    django.setup()


def _grants_seed(*, tenant, actor, user, count: int) -> int:  # type: ignore[no-untyped-def]
    """N active grants for `user` through apps.access (one entitlement per environment)."""
    try:
        from apps.access import services as access_services
    except ImportError:
        print("apps.access is not available: the user holds no grants", file=sys.stderr)
        return 0
    from apps.core.tenancy import tenant_context
    from apps.tenants.services import environment_create

    specs = []
    with tenant_context(tenant):
        for i in range(count):
            env = environment_create(actor=actor, tenant=tenant, slug=f"env-{i}", name=f"Env {i}")
            entitlement = access_services.entitlement_create(
                actor=actor, tenant=tenant, environment=env, level="read", risk="low"
            )
            specs.append(access_services.GrantSpec(entitlement=entitlement, justification="bench"))
        # One set-based create (the per-row grant_create is what setup used to wait on).
        result = access_services.grants_create_bulk(
            actor=actor, tenant=tenant, user=user, specs=specs, source="manual"
        )
    if result.refused:
        print(f"refused grants: {result.refused[:3]}", file=sys.stderr)
    return len(result.created)


def setup(args: argparse.Namespace) -> None:
    django_setup()
    from apps.core.tenancy import tenant_context
    from apps.identity.models import User
    from apps.identity.scim import services as scim_services
    from apps.identity.scim.resources import canonical_user_document, user_input_from_document
    from apps.identity.scim.services import ScimActor
    from apps.tenants import services as tenant_services
    from apps.tenants.models import TenantRole

    operator = User.objects.create_superuser(email=f"op-{uuid.uuid4().hex[:6]}@bench.test")
    tenant = tenant_services.tenant_create(actor=operator, slug="scimbench", name="SCIM bench")
    admin = User.objects.create_user(email="admin@scimbench.test")
    tenant_services.membership_add(
        actor=operator, tenant=tenant, user=admin, role=TenantRole.CUSTOMER_ADMIN
    )
    scim_services.scim_settings_update(
        actor=admin,
        tenant=tenant,
        sync_interval_minutes=40,
        staleness_days=30,
        rate_limit_per_minute=10**6,
        rate_limit_burst=10**5,
    )
    issued = scim_services.scim_token_create(actor=admin, tenant=tenant, name="bench IdP")
    with tenant_context(tenant):
        doc = canonical_user_document(
            {"schemas": [USER_SCHEMA], "userName": "leaver@scimbench.test", "externalId": "L-1"}
        )
        leaver = scim_services.scim_user_create(
            tenant=tenant, data=user_input_from_document(doc), via=ScimActor("setup")
        )
    grants = _grants_seed(tenant=tenant, actor=admin, user=leaver.user, count=args.grants)
    state = {
        "tenant": tenant.slug,
        "token": str(issued.secret),
        "leaver_id": str(leaver.scim_id),
        "grants": grants,
    }
    Path(args.state).write_text(json.dumps(state))
    print(f"setup: tenant {tenant.slug}, leaver holds {grants} grants")


def _client(url: str, token: str):  # type: ignore[no-untyped-def]
    import httpx2

    return httpx2.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        timeout=30,
    )


def create(args: argparse.Namespace) -> int:
    state = json.loads(Path(args.state).read_text())
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(args.users))

    split = urlsplit(args.url)
    path = f"/scim/v2/{state['tenant']}/Users"
    headers = {
        "Authorization": f"Bearer {state['token']}",
        "Content-Type": "application/scim+json",
        "Accept": "application/scim+json",
    }

    def worker() -> None:
        # http.client with one keep-alive connection per thread: the lightest real HTTP client,
        # so the 2 cores go to the server under test rather than to the load generator.
        client = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
        mine: list[float] = []
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    break
                body = {
                    "schemas": [USER_SCHEMA, ENTERPRISE],
                    "userName": f"user{i:05d}@scimbench.test",
                    "externalId": f"ext-{i:05d}",
                    "name": {"givenName": "User", "familyName": f"{i:05d}"},
                    "displayName": f"User {i:05d}",
                    "emails": [
                        {"value": f"user{i:05d}@scimbench.test", "type": "work", "primary": True}
                    ],
                    "active": True,
                    ENTERPRISE: {"department": f"Dept {i % 20}"},
                }
                started = time.perf_counter()
                client.request("POST", path, body=json.dumps(body), headers=headers)
                response = client.getresponse()
                payload = response.read()
                mine.append((time.perf_counter() - started) * 1000.0)
                if response.status != 201:
                    with lock:
                        errors.append(f"{response.status} {payload[:200]!r}")
        finally:
            client.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(args.clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    done = len(latencies) - len(errors)
    rate = len(latencies) / elapsed
    print(
        f"create: {done} users created, {len(errors)} errors, {len(latencies)} requests in "
        f"{elapsed:.1f} s = {rate:.0f} req/s with {args.clients} clients; latency p50 "
        f"{pct(latencies, 50):.1f} ms, p95 {pct(latencies, 95):.1f} ms, p99 "
        f"{pct(latencies, 99):.1f} ms, mean {statistics.fmean(latencies):.1f} ms"
    )
    for error in errors[:5]:
        print("  error:", error)
    ok = not errors and rate >= args.min_rate
    print(f"create: {'PASS' if ok else 'FAIL'} (target >= {args.min_rate} req/s, no errors)")
    return 0 if ok else 1


def deactivate(args: argparse.Namespace) -> int:
    state = json.loads(Path(args.state).read_text())
    base = f"{args.url}/scim/v2/{state['tenant']}/"
    client = _client(base, state["token"])
    client.get("ServiceProviderConfig")  # connection warm
    body = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }
    started = time.perf_counter()
    response = client.patch(f"Users/{state['leaver_id']}", content=json.dumps(body))
    round_trip = (time.perf_counter() - started) * 1000.0
    client.close()
    if response.status_code != 200 or response.json().get("active") is not False:
        print("deactivate: FAIL", response.status_code, response.text[:300])
        return 1
    django_setup()
    from apps.core.tenancy import tenant_context
    from apps.lifecycle.models import RevocationConfirmation
    from apps.tenants.models import Tenant

    tenant = Tenant.objects.get(slug=state["tenant"])
    with tenant_context(tenant):
        confirmation = RevocationConfirmation.objects.latest("confirmed_at")
    active_left = _active_grants(tenant, confirmation.user)
    print(
        f"deactivate: HTTP PATCH round trip {round_trip:.1f} ms; "
        f"leaver {confirmation.duration_ms:.1f} ms "
        f"(grants revoked {confirmation.grants_revoked} of {state['grants']}, API keys "
        f"{confirmation.api_keys_revoked}, seats {confirmation.seats_reclaimed}, sessions ended "
        f"{confirmation.sessions_ended}, account disabled {confirmation.account_disabled}); "
        f"active grants left: {active_left}"
    )
    ok = (
        round_trip <= args.max_ms
        and confirmation.grants_revoked == state["grants"]
        and not active_left
    )
    print(f"deactivate: {'PASS' if ok else 'FAIL'} (target <= {args.max_ms} ms, nothing left)")
    return 0 if ok else 1


def _active_grants(tenant, user) -> int:  # type: ignore[no-untyped-def]
    try:
        from apps.access.models import Grant
    except ImportError:
        return 0
    from apps.core.tenancy import tenant_context

    with tenant_context(tenant):
        return Grant.objects.filter(user=user, revoked_at__isnull=True).count()


def verify(args: argparse.Namespace) -> int:
    django_setup()
    from django.db.models import Count

    from apps.core.tenancy import tenant_context
    from apps.identity.models import User
    from apps.identity.scim.models import ScimUser
    from apps.tenants.models import Membership, Tenant

    state = json.loads(Path(args.state).read_text())
    tenant = Tenant.objects.get(slug=state["tenant"])
    with tenant_context(tenant):
        scim_users = ScimUser.objects.count()
        members = Membership.objects.count()
    dupes = (
        User.objects.filter(email__endswith="@scimbench.test")
        .values("email")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    print(f"verify: {scim_users} SCIM users, {members} memberships, {dupes} duplicate accounts")
    return 0 if dupes == 0 else 1


def leaver_steps(args: argparse.Namespace) -> int:
    """In-process: a user with N grants, deprovisioned with each step of the leaver timed."""
    django_setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.identity.models import User
    from apps.lifecycle import leaver
    from apps.tenants import services as tenant_services
    from apps.tenants.models import TenantRole

    operator = User.objects.create_superuser(email=f"op-{uuid.uuid4().hex[:6]}@bench.test")
    slug = f"leaver{uuid.uuid4().hex[:6]}"
    tenant = tenant_services.tenant_create(actor=operator, slug=slug, name="Leaver bench")
    admin = User.objects.create_user(email=f"admin@{slug}.test")
    tenant_services.membership_add(
        actor=operator, tenant=tenant, user=admin, role=TenantRole.CUSTOMER_ADMIN
    )
    person = User.objects.create_user(email=f"person@{slug}.test")
    tenant_services.membership_add(actor=operator, tenant=tenant, user=person)
    grants = _grants_seed(tenant=tenant, actor=admin, user=person, count=args.grants)
    for name in ("_grants_revoke", "_seats_reclaim", "_api_keys_revoke", "_membership_end"):
        original = getattr(leaver, name)

        def timed(*a: object, _f=original, _n=name, **kw: object) -> object:  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                result = _f(*a, **kw)
            print(f"  {_n}: {(time.perf_counter() - started) * 1000:.1f} ms, {len(queries)} SQL")
            return result

        setattr(leaver, name, timed)
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        [confirmation] = leaver.user_deprovision(
            actor=None, user=person, tenant=tenant, reason="bench", trigger="manual"
        )
    total = (time.perf_counter() - started) * 1000
    print(
        f"leaver: {total:.1f} ms, {len(queries)} SQL statements, {confirmation.grants_revoked} "
        f"of {grants} grants revoked (confirmation.duration_ms {confirmation.duration_ms:.1f})"
    )
    return 0 if confirmation.grants_revoked == grants else 1


def profile_create(args: argparse.Namespace) -> int:
    """In-process (Django test client, full middleware): N SCIM creates under cProfile with a
    CPU-time clock, CPU per request and SQL per request — where the server's time goes."""
    import cProfile
    import pstats

    django_setup()
    from django.db import connection
    from django.test import Client

    from apps.identity.models import User
    from apps.identity.scim import services as scim_services
    from apps.tenants import services as tenant_services
    from apps.tenants.models import TenantRole

    slug = f"scimprof{uuid.uuid4().hex[:6]}"
    operator = User.objects.create_superuser(email=f"op-{slug}@bench.test")
    tenant = tenant_services.tenant_create(actor=operator, slug=slug, name="SCIM profile")
    admin = User.objects.create_user(email=f"admin@{slug}.test")
    tenant_services.membership_add(
        actor=operator, tenant=tenant, user=admin, role=TenantRole.CUSTOMER_ADMIN
    )
    scim_services.scim_settings_update(
        actor=admin,
        tenant=tenant,
        sync_interval_minutes=40,
        staleness_days=30,
        rate_limit_per_minute=10**6,
        rate_limit_burst=10**5,
    )
    issued = scim_services.scim_token_create(actor=admin, tenant=tenant, name="profile")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    path = f"/scim/v2/{slug}/Users"

    def body(i: int) -> str:
        return json.dumps(
            {
                "schemas": [USER_SCHEMA, ENTERPRISE],
                "userName": f"p{i:05d}@{slug}.test",
                "externalId": f"ext-{i:05d}",
                "name": {"givenName": "User", "familyName": f"{i:05d}"},
                "displayName": f"User {i:05d}",
                "emails": [{"value": f"p{i:05d}@{slug}.test", "type": "work", "primary": True}],
                "active": True,
                ENTERPRISE: {"department": f"Dept {i % 20}"},
            }
        )

    assert client.post(path, body(99999), content_type="application/scim+json").status_code == 201
    statements: list[str] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute(sql, params, many, context)

    # (CaptureQueriesContext sees nothing here: the test client's request_started signal
    # resets the query log.)
    with connection.execute_wrapper(record):
        client.post(path, body(99998), content_type="application/scim+json")
    profiler = cProfile.Profile(time.process_time)

    def series(first: int, profiled: bool) -> tuple[float, float]:
        cpu: list[float] = []
        wall: list[float] = []
        for i in range(first, first + args.users):
            payload = body(i)
            c0, t0 = time.process_time(), time.perf_counter()
            if profiled:
                profiler.enable()
            response = client.post(path, payload, content_type="application/scim+json")
            if profiled:
                profiler.disable()
            cpu.append((time.process_time() - c0) * 1000)
            wall.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 201, response.content[:200]
        return pct(cpu, 50), pct(wall, 50)

    # Without the profiler first (cProfile inflates call-heavy code several times over).
    cpu_plain, wall_plain = series(0, profiled=False)
    cpu_prof, _wall_prof = series(args.users, profiled=True)
    print(
        f"profile-create: {args.users} creates in-process (+ {args.users} under cProfile); "
        f"CPU p50 {cpu_plain:.1f} ms, wall p50 {wall_plain:.1f} ms (under cProfile: CPU "
        f"{cpu_prof:.1f} ms); {len(statements)} SQL statements per create "
        "(besides the tenant-scope set_config of each transaction)"
    )
    for sql in statements:
        print("   ", sql[:150])
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(25)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("setup")
    p.add_argument("--state", required=True)
    p.add_argument("--grants", type=int, default=200)
    p = sub.add_parser("create")
    p.add_argument("--state", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--min-rate", type=float, default=100.0)
    p = sub.add_parser("deactivate")
    p.add_argument("--state", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--max-ms", type=float, default=200.0)
    p = sub.add_parser("leaver")
    p.add_argument("--grants", type=int, default=200)
    p = sub.add_parser("profile-create")
    p.add_argument("--users", type=int, default=300)
    p.add_argument("--top", type=int, default=40, help="functions listed (cumulative)")
    p = sub.add_parser("verify")
    p.add_argument("--state", required=True)
    args = parser.parse_args()
    if args.cmd == "setup":
        setup(args)
        return 0
    commands = {
        "create": create,
        "deactivate": deactivate,
        "verify": verify,
        "leaver": leaver_steps,
        "profile-create": profile_create,
    }
    return commands[args.cmd](args)


if __name__ == "__main__":
    raise SystemExit(main())
