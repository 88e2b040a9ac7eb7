#!/usr/bin/env python
"""Explain pages with 1,000,000 grants on PostgreSQL (issue 3, "Speed"). Run by
bench/run_access_explain.sh, which starts a throw-away cluster (.ci/pg-up.sh) and migrates.

    access_explain.py setup   --tenants 50 --grants 1000000     # catalog via ORM, grants via COPY
    access_explain.py measure --requests 200                     # p50/p95/max + query counts

`setup` builds, per tenant, 40 environments x 4 levels, 30 roles of ~10 entitlements, 400
customer users (members) and 4 service accounts; 40 vendor-staff users are shared by all
tenants (the context-switching view). Grants are written with COPY as the database owner
(app.cross_tenant on), interleaved across tenants as real traffic would be: 82 % customer
users, 15 % vendor staff (mostly ended), 3 % service accounts; half role grants, half direct;
about a third ended (expired or revoked). A small tenant (1 environment, a handful of grants)
is the "small case" for the query counts.

`measure` drives the real views (Django test client: middleware, tenant scope, RLS, templates)
in-process and reports per page p50/p95/max over `--requests` requests against random
environments/people, and the number of SQL queries for the small and the big case.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("CUSTOS_VAR_DIR", tempfile.mkdtemp(prefix="custos-bench-"))

LEVELS = ("read", "write", "admin", "export")
RISK = {"read": "low", "write": "medium", "admin": "critical", "export": "high"}
SOURCES_CUSTOMER = ("manual", "idp_mapping", "scim", "template", "request")
ENVS_PER_TENANT = 40
ROLES_PER_TENANT = 30
USERS_PER_TENANT = 400
STAFF = 40
BENCH_PASSWORD = "bench-only-not-a-secret"  # noqa: S105


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def django_setup() -> None:
    import django

    django.setup()


# --- setup ---------------------------------------------------------------------------------------


def _catalog(tenant, operator, rng: random.Random, *, envs: int, roles: int, users: int):  # type: ignore[no-untyped-def]
    from django.contrib.auth.hashers import make_password

    from apps.access.models import Entitlement, Role, RoleEntitlement, ServiceAccount
    from apps.core.tenancy import tenant_context
    from apps.identity.models import User
    from apps.tenants.models import Environment, Membership

    password = make_password(None)
    with tenant_context(tenant):
        env_objs = Environment.objects.bulk_create(
            Environment(tenant=tenant, slug=f"env-{i}", name=f"{tenant.slug} env {i}")
            for i in range(envs)
        )
        ents = Entitlement.objects.bulk_create(
            Entitlement(
                tenant=tenant,
                environment=env,
                level=level,
                risk=RISK[level],
                name=f"{env.slug}-{level}",
            )
            for env in env_objs
            for level in LEVELS
        )
        role_objs = Role.objects.bulk_create(
            Role(tenant=tenant, key=f"role-{i}", name=f"Role {i}") for i in range(roles)
        )
        RoleEntitlement.objects.bulk_create(
            RoleEntitlement(tenant=tenant, role=role, entitlement=ent)
            for role in role_objs
            for ent in rng.sample(ents, min(10, len(ents)))
        )
        people = User.objects.bulk_create(
            User(
                email=f"u{i}@{tenant.slug}.bench",
                full_name=f"User {i} of {tenant.slug}",
                password=password,
            )
            for i in range(users)
        )
        Membership.objects.bulk_create(
            Membership(tenant=tenant, user=u, role="member") for u in people
        )
        accounts = ServiceAccount.objects.bulk_create(
            ServiceAccount(tenant=tenant, name=f"svc-{i}") for i in range(4)
        )
    return {
        "envs": [e.pk for e in env_objs],
        "ents": [e.pk for e in ents],
        "roles": [r.pk for r in role_objs],
        "users": [u.pk for u in people],
        "accounts": [a.pk for a in accounts],
    }


def _copy_grants(rows: list[tuple]) -> None:  # type: ignore[type-arg]
    """COPY as the database owner; the RLS policy admits cross-tenant rows only with
    app.cross_tenant on (the same switch unscoped() uses)."""
    import psycopg

    columns = (
        "tenant_id, user_id, service_account_id, entitlement_id, role_id, source, starts_at, "
        "expires_at, justification, ticket_ref, approval_ref, mapping_key, created_at, "
        "revoked_at, revoke_reason, suspend_reason, last_used_at, ends_at_due"
    )
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute("SET app.cross_tenant = 'on'")
        # COPY refuses tables under row-level security: stage, then INSERT ... SELECT.
        select = f"SELECT {columns} FROM access_grant"  # noqa: S608  # constant column list
        stage = "CREATE TEMP TABLE grant_stage ON COMMIT DROP AS " + select
        cur.execute(stage + " WITH NO DATA")
        with cur.copy(f"COPY grant_stage ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO access_grant ({columns}) SELECT {columns} FROM grant_stage"  # noqa: S608
        )
        conn.commit()


def setup(args: argparse.Namespace) -> None:
    django_setup()
    from apps.identity.models import StaffRole, User, UserKind
    from apps.tenants import services as tenant_services
    from apps.tenants.models import TenantRole

    rng = random.Random(20261122)
    t0 = time.perf_counter()
    operator = User.objects.create_superuser(email="operator@bench.test", password=BENCH_PASSWORD)
    staff = [
        User.objects.create_user(
            email=f"staff{i}@vendor.bench",
            full_name=f"Staff {i}",
            kind=UserKind.STAFF,
            staff_role=rng.choice([StaffRole.SUPPORT_ENGINEER, StaffRole.DEVOPS]),
        )
        for i in range(STAFF)
    ]
    User.objects.create_user(
        email="cora@vendor.bench",
        password=BENCH_PASSWORD,
        full_name="Cora Compliance",
        kind=UserKind.STAFF,
        staff_role=StaffRole.COMPLIANCE,
    )
    catalogs = []
    for i in range(args.tenants):
        tenant = tenant_services.tenant_create(
            actor=operator, slug=f"big{i}", name=f"Big {i}", time_zone="Europe/Berlin"
        )
        admin = User.objects.create_user(email=f"admin@big{i}.bench", password=BENCH_PASSWORD)
        tenant_services.membership_add(
            actor=operator, tenant=tenant, user=admin, role=TenantRole.CUSTOMER_ADMIN
        )
        catalogs.append(
            (
                tenant.pk,
                _catalog(
                    tenant,
                    operator,
                    rng,
                    envs=ENVS_PER_TENANT,
                    roles=ROLES_PER_TENANT,
                    users=USERS_PER_TENANT,
                ),
            )
        )
    small = tenant_services.tenant_create(actor=operator, slug="small", name="Small")
    small_admin = User.objects.create_user(email="admin@small.bench", password=BENCH_PASSWORD)
    tenant_services.membership_add(
        actor=operator, tenant=small, user=small_admin, role=TenantRole.CUSTOMER_ADMIN
    )
    small_cat = _catalog(small, operator, rng, envs=1, roles=1, users=3)
    print(f"catalog: {args.tenants} tenants in {time.perf_counter() - t0:.1f} s", flush=True)

    now = datetime.now(tz=UTC)
    staff_ids = [s.pk for s in staff]

    def one(tenant_id: int, cat: dict) -> tuple:  # type: ignore[type-arg]
        r = rng.random()
        user_id = account_id = None
        if r < 0.82:
            user_id = rng.choice(cat["users"])
            source = rng.choice(SOURCES_CUSTOMER)
            ended_p = 0.3
        elif r < 0.97:
            user_id = rng.choice(staff_ids)
            source = "break_glass" if rng.random() < 0.05 else "request"
            ended_p = 0.85
        else:
            account_id = rng.choice(cat["accounts"])
            source = "manual"
            ended_p = 0.1
        if rng.random() < 0.5:
            ent_id, role_id = rng.choice(cat["ents"]), None
        else:
            ent_id, role_id = None, rng.choice(cat["roles"])
        starts = now - timedelta(days=rng.uniform(0.1, 365))
        ended = rng.random() < ended_p
        revoked = None
        vendor = user_id in staff_set
        if ended:
            expires = starts + timedelta(hours=rng.uniform(1, 72))
            if expires > now:
                expires = now - timedelta(minutes=5)
                starts = min(starts, expires - timedelta(hours=1))
            if rng.random() < 0.3:
                revoked = starts + (expires - starts) / 2
        elif vendor or rng.random() < 0.4:
            expires = now + timedelta(hours=rng.uniform(0.5, 8 if vendor else 24 * 30))
        else:
            expires = None
        due = None if (ended or expires is None) else expires
        last_used = starts + timedelta(minutes=rng.uniform(1, 600)) if rng.random() < 0.6 else None
        if last_used is not None and last_used > now:
            last_used = None
        ticket = f"SUP-{rng.randint(1000, 99999)}" if vendor else ""
        return (
            tenant_id,
            user_id,
            account_id,
            ent_id,
            role_id,
            source,
            starts,
            expires,
            "Bench justification",
            ticket,
            f"request:{rng.randint(1, 10**6)}" if source == "request" else "",
            "",
            starts,
            revoked,
            "ticket closed" if revoked else "",
            "",
            last_used,
            due,
        )

    staff_set = set(staff_ids)
    t1 = time.perf_counter()
    batch: list[tuple] = []  # type: ignore[type-arg]
    written = 0
    for _ in range(args.grants):
        tenant_id, cat = rng.choice(catalogs)
        batch.append(one(tenant_id, cat))
        if len(batch) >= 100_000:
            _copy_grants(batch)
            written += len(batch)
            batch = []
            print(f"  {written:,} grants", flush=True)
    for _ in range(6):  # the small case
        batch.append(one(small.pk, small_cat))
    quiet = User.objects.create_user(
        email="quiet@vendor.bench",
        full_name="Quiet Staff",
        kind=UserKind.STAFF,
        staff_role=StaffRole.SUPPORT_ENGINEER,
    )
    for expired in (False, True):  # one current, one ended grant in the small tenant
        row = list(one(small.pk, small_cat))
        row[1], row[2] = quiet.pk, None
        row[6] = now - timedelta(days=2)
        row[7] = now - timedelta(days=1) if expired else now + timedelta(hours=4)
        row[13] = None
        row[17] = None if expired else row[7]
        batch.append(tuple(row))
    _copy_grants(batch)
    written += len(batch)
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("ANALYZE")  # as the owner: the app role may not analyze
    print(f"grants: {written:,} via COPY in {time.perf_counter() - t1:.1f} s", flush=True)


# --- measure -------------------------------------------------------------------------------


def _client(user):  # type: ignore[no-untyped-def]
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user)
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="bench", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def measure(args: argparse.Namespace) -> None:
    django_setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.access.models import Grant
    from apps.core.tenancy import tenant_context, unscoped
    from apps.identity.models import User
    from apps.tenants.models import Environment, Tenant

    rng = random.Random(7)
    with unscoped(reason="bench: pick targets"):
        total = Grant.objects.count()
        tenants = list(Tenant.objects.filter(slug__startswith="big").order_by("pk"))
        envs = list(
            Environment.objects.filter(tenant__in=tenants).values_list("tenant__slug", "pk")
        )
        users = list(
            Grant.objects.filter(tenant__in=tenants, user__kind="customer")
            .values_list("tenant__slug", "user_id")
            .distinct()[:5000]
        )
        small = Tenant.objects.get(slug="small")
        small_env = Environment.objects.filter(tenant=small).values_list("pk", flat=True)[0]
        small_user = Grant.objects.filter(tenant=small, user__isnull=False).values_list(
            "user_id", flat=True
        )[0]
        staff = list(
            User.objects.filter(kind="staff", staff_role__in=["support_engineer", "devops"])
        )
        per_staff = {s.pk: Grant.objects.filter(user=s).count() for s in staff[:3]}
    envs_by_tenant: dict[str, list[int]] = {}
    for slug, pk in envs:
        envs_by_tenant.setdefault(slug, []).append(pk)
    print(f"grants in the database: {total:,} ({len(tenants)} big tenants + 'small')")
    print(f"grants per staff member (first 3): {per_staff}")
    admins = {t.slug: _client(User.objects.get(email=f"admin@{t.slug}.bench")) for t in tenants}
    admins["small"] = _client(User.objects.get(email="admin@small.bench"))
    cora = _client(User.objects.get(email="cora@vendor.bench"))

    def env_page(query: str = "") -> tuple:  # type: ignore[type-arg]
        slug, env = rng.choice(envs)
        return admins[slug], f"/t/{slug}/access/explain/environments/{env}/{query}"

    def next_page() -> tuple:  # type: ignore[type-arg]
        slug, env = rng.choice(envs)
        with tenant_context(Tenant.objects.get(slug=slug)):
            from apps.access import selectors_explain as sel

            env_obj = Environment.objects.get(pk=env)
            page = sel.environment_access_page(
                environment=env_obj, filters=sel.ExplainFilter(state="all")
            )
        cursor = page.cursor or ""
        return admins[
            slug
        ], f"/t/{slug}/access/explain/environments/{env}/?state=all&after={cursor}"

    def user_page() -> tuple:  # type: ignore[type-arg]
        slug, uid = rng.choice(users)
        return admins[slug], f"/t/{slug}/access/explain/users/{uid}/"

    def why_page() -> tuple:  # type: ignore[type-arg]
        slug, uid = rng.choice(users)
        env = rng.choice(envs_by_tenant[slug])
        return admins[slug], f"/t/{slug}/access/explain/environments/{env}/why/user/{uid}/"

    def vendor_page() -> tuple:  # type: ignore[type-arg]
        slug = rng.choice(tenants).slug
        return admins[slug], f"/t/{slug}/access/explain/vendor/"

    def explorer() -> tuple:  # type: ignore[type-arg]
        return cora, f"/staff/access/users/{rng.choice(staff).pk}/"

    def baseline() -> tuple:  # type: ignore[type-arg]
        slug = rng.choice(tenants).slug
        return admins[slug], f"/t/{slug}/environments/"

    pages = {
        "baseline: environment list (not explain)": baseline,
        "environment (who, current)": env_page,
        "environment ?level=admin&side=vendor": lambda: env_page("?level=admin&side=vendor"),
        "environment ?state=ended": lambda: env_page("?state=ended"),
        "environment next page (keyset)": next_page,
        "user (what, in tenant)": user_page,
        "why (engine decide x 5 levels)": why_page,
        "vendor staff in tenant": vendor_page,
        "staff explorer (all tenants)": explorer,
    }
    small_urls = {
        "baseline: environment list (not explain)": "/t/small/environments/",
        "environment (who, current)": f"/t/small/access/explain/environments/{small_env}/",
        "environment ?level=admin&side=vendor": (
            f"/t/small/access/explain/environments/{small_env}/?level=admin&side=vendor"
        ),
        "environment ?state=ended": (
            f"/t/small/access/explain/environments/{small_env}/?state=ended"
        ),
        "environment next page (keyset)": (
            f"/t/small/access/explain/environments/{small_env}/?state=all&after=999999999"
        ),
        "user (what, in tenant)": f"/t/small/access/explain/users/{small_user}/",
        "why (engine decide x 5 levels)": (
            f"/t/small/access/explain/environments/{small_env}/why/user/{small_user}/"
        ),
        "vendor staff in tenant": "/t/small/access/explain/vendor/",
        "staff explorer (all tenants)": None,
    }

    def count_queries(client, url: str) -> int:  # type: ignore[no-untyped-def]
        client.get(url)  # warm (engine compile, template cache)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return len(ctx.captured_queries)

    # Warm every process-level cache once per tenant: template loader, and the policy engine's
    # compiled tenant state (decide() with warm caches is what the why page measures; the cold
    # compile of a tenant is reported on its own).
    from apps.access import engine

    compile_ms = []
    for t in tenants:
        admins[t.slug].get(f"/t/{t.slug}/access/explain/vendor/")
        engine.cache_invalidate(t.pk)
        start = time.perf_counter()
        engine.state_for(t)
        compile_ms.append((time.perf_counter() - start) * 1000)
    print(
        f"engine compile per tenant (cold, ~{total // max(1, len(tenants)):,} grants): "
        f"p50 {statistics.median(compile_ms):.0f} ms, max {max(compile_ms):.0f} ms"
    )
    print(
        f"\n{'page':42} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'rows':>5} "
        f"{'queries small':>14} {'queries big':>12}"
    )
    results = {}
    for name, make in pages.items():
        client, url = make()
        for _ in range(3):
            client.get(url)
        timings = []
        sizes = []
        big_counts = set()
        for i in range(args.requests):
            client, url = make()
            start = time.perf_counter()
            if i % 20 == 0:
                with CaptureQueriesContext(connection) as ctx:
                    response = client.get(url)
                big_counts.add(len(ctx.captured_queries))
            else:
                response = client.get(url)
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            sizes.append(response.content.count(b'<tr class="grant-'))
        small_url = small_urls[name]
        if small_url is not None:
            small_q = str(count_queries(admins["small"], small_url))
        else:
            # the explorer: a staff member with two grants vs ones with tens of thousands
            quiet_user = User.objects.get(email="quiet@vendor.bench")
            small_q = str(count_queries(cora, f"/staff/access/users/{quiet_user.pk}/"))
        big_q = "/".join(str(c) for c in sorted(big_counts))
        results[name] = timings
        print(
            f"{name:42} {statistics.median(timings):8.1f} {pct(timings, 95):8.1f} "
            f"{max(timings):8.1f} {statistics.mean(sizes):5.0f} {small_q:>14} {big_q:>12}",
            flush=True,
        )
    worst = max(pct(t, 95) for name, t in results.items() if not name.startswith("baseline"))
    print(f"\nworst p95: {worst:.1f} ms (target <= 150 ms): {'OK' if worst <= 150 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--tenants", type=int, default=50)
    s.add_argument("--grants", type=int, default=1_000_000)
    m = sub.add_parser("measure")
    m.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    {"setup": setup, "measure": measure}[args.cmd](args)


if __name__ == "__main__":
    main()
