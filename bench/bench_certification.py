"""Certification campaigns (issue 6): generation of 100,000 review items, and the reviewer page
of a reviewer with 5,000 items.

Data (one tenant, PostgreSQL with row-level security on): --users people (default 10,000) in 7
departments with managers, 40 environments x 3 levels (read/write/admin) = 120 entitlements,
--grants grants (default 100,000; 10 distinct entitlements per person, standing), two SoD rules
in flag mode. Environments 0 and 1 are owned by one reviewer, so that reviewer gets ~5,000
items; the other environments by ten other owners. Rows go in with bulk_create inside an explicit
`unscoped(...)` block (bench data; the product's services are what is timed).

Timed:
* generation: `campaign_create` + `campaign_launch` over the whole tenant (scope "tenant",
  reviewers = resource owners): every item with its context snapshot (last used, source,
  approval, risk, SoD findings, peer comparison), wall-clock seconds and items/s;
* reviewer page: GET /t/<tenant>/certification/campaigns/<id>/review/ through Django's test
  client (full middleware, signed in, MFA verified) as the reviewer with ~5,000 items: first
  page, deep pages and filtered views, --runs requests; p50/p95 and the query count per request
  (compared with a reviewer with ~2,500 items: it must not grow);
* bulk: certify 1,000 items over a filtered selection (`review_items_decide_bulk`).

Run (a migrated, throw-away PostgreSQL; see bench/RESULTS.md for the exact command):
    DATABASE_URL=postgres://... .venv/bin/python bench/bench_certification.py [--grants N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.access.models import Entitlement, Grant, SodRule  # noqa: E402
from apps.certification import services  # noqa: E402
from apps.certification.models import ReviewItem  # noqa: E402
from apps.core.tenancy import tenant_context, unscoped  # noqa: E402
from apps.identity.models import User  # noqa: E402
from apps.tenants import services as tenant_services  # noqa: E402
from apps.tenants.models import Environment, Membership, TenantRole  # noqa: E402
from bench.generate import vacuum_analyze  # noqa: E402

DEPARTMENTS = ["Finance", "Engineering", "Sales", "Operations", "Legal", "HR", "Research"]
SOURCES = ["request", "idp_mapping", "scim", "manual", "template"]
LEVELS = (("read", "low"), ("write", "medium"), ("admin", "high"))


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def ms(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values):.1f} ms, p95 {pct(values, 0.95):.1f} ms, "
        f"max {max(values):.1f} ms"
    )


def build(users: int, grants: int, seed: int = 7) -> dict[str, object]:
    rng = random.Random(seed)
    operator = User.objects.create_superuser(
        email="bench-op@vendor.test",
        password="bench-password-1",  # noqa: S106 - a throw-away benchmark database
    )
    tenant = tenant_services.tenant_create(
        actor=operator, slug="bigcorp", name="BigCorp", tier="enterprise", region="eu"
    )
    password = make_password("bench-password-1")
    started = time.monotonic()
    with unscoped(reason="benchmark data generation"):
        people = User.objects.bulk_create(
            [
                User(email=f"u{i}@bigcorp.test", full_name=f"Person {i}", password=password)
                for i in range(users)
            ],
            batch_size=5_000,
        )
        owners = people[:11]
        managers = people[11:60]
        Membership.objects.bulk_create(
            [
                Membership(
                    tenant=tenant,
                    user=u,
                    role=TenantRole.CUSTOMER_ADMIN if i == 0 else TenantRole.MEMBER,
                    department=DEPARTMENTS[i % len(DEPARTMENTS)],
                    manager=managers[i % len(managers)] if i >= 60 else None,
                )
                for i, u in enumerate(people)
            ],
            batch_size=5_000,
        )
        envs = Environment.objects.bulk_create(
            [
                Environment(
                    tenant=tenant,
                    slug=f"env-{e}",
                    name=f"Environment {e}",
                    owner=owners[0] if e < 2 else owners[1 + e % 10],
                )
                for e in range(40)
            ]
        )
        ents = Entitlement.objects.bulk_create(
            [
                Entitlement(
                    tenant=tenant,
                    environment=env,
                    level=level,
                    risk=risk,
                    name=f"{env.slug}-{level}",
                )
                for env in envs
                for level, risk in LEVELS
            ]
        )
        now = timezone.now()
        per_user = max(1, grants // users)
        rows = []
        for i, user in enumerate(people[11:], start=11):
            for ent in rng.sample(ents, per_user):
                rows.append(
                    Grant(
                        tenant=tenant,
                        user=user,
                        entitlement=ent,
                        source=rng.choice(SOURCES),
                        starts_at=now - timedelta(days=rng.randint(1, 700)),
                        created_at=now - timedelta(days=rng.randint(1, 700)),
                        approval_ref=f"request:{i}" if rng.random() < 0.4 else "",
                        last_used_at=(
                            now - timedelta(days=rng.randint(0, 200))
                            if rng.random() < 0.7
                            else None
                        ),
                        justification="Quarterly reporting and reconciliation",
                    )
                )
                if len(rows) >= grants:
                    break
            if len(rows) >= grants:
                break
        Grant.objects.bulk_create(rows, batch_size=5_000)
        for k in range(2):
            rule = SodRule.objects.create(
                tenant=tenant, key=f"sod-{k}", name=f"SoD rule {k}", mode="flag", threshold=2
            )
            rule.entitlements.set([ents[k * 3 + 1], ents[k * 3 + 7]])
    vacuum_analyze()
    return {
        "tenant": tenant,
        "admin": people[0],
        "reviewer": owners[0],
        "other_reviewer": owners[1],
        "grants": len(rows),
        "setup_s": time.monotonic() - started,
    }


def verified_client(user: User) -> Client:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def measure(client: Client, urls: list[str], runs: int) -> tuple[list[float], list[int]]:
    times: list[float] = []
    queries: list[int] = []
    for i in range(runs):
        url = urls[i % len(urls)]
        with CaptureQueriesContext(connection) as ctx:
            t = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries.append(len(ctx))
    return times, queries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--grants", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    # Not setup_test_environment(): its instrumented template rendering would be timed too.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    data = build(args.users, args.grants)
    tenant = data["tenant"]
    print(f"setup: {data['grants']:,} grants, {args.users:,} people in {data['setup_s']:.1f} s")

    with tenant_context(tenant):  # type: ignore[arg-type]
        t = time.monotonic()
        campaign = services.campaign_create(
            actor=data["admin"],
            tenant=tenant,  # type: ignore[arg-type]
            name="Q4 access review",
            scope_kind="tenant",
            due_at=timezone.now() + timedelta(days=21),
        )
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
        campaign = services.campaign_launch(actor=data["admin"], campaign=campaign)
        seconds = time.monotonic() - t
        if args.profile:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        mine = ReviewItem.objects.filter(campaign=campaign, reviewer=data["reviewer"]).count()
        other = ReviewItem.objects.filter(
            campaign=campaign, reviewer=data["other_reviewer"]
        ).count()
        sod = ReviewItem.objects.filter(campaign=campaign, has_sod=True).count()
    # Reviewers arrive after autovacuum has visited the new items (it does so within a minute of
    # a 100,000-row insert); do not time the page against a table without statistics. As the
    # table owner: the app role may not analyse (PostgreSQL skips it with a mere warning).
    vacuum_analyze()
    print(
        f"generation: {campaign.items_total:,} items in {seconds:.1f} s "
        f"({campaign.items_total / seconds:,.0f} items/s); {sod:,} with SoD findings; "
        f"target <= 60 s"
    )

    base = f"/t/{tenant.slug}/certification/campaigns/{campaign.pk}/review/"  # type: ignore[attr-defined]
    urls = [
        base,
        base + "?page=2",
        base + "?page=50",
        base + "?page=99",
        base + "?state=all&page=40",
        base + "?risk=high",
        base + "?unused=1&page=3",
        base + "?q=Person%2012",
        base + "?sod=1",
        base + "?source=request&page=5",
    ]
    client = verified_client(data["reviewer"])  # type: ignore[arg-type]
    measure(client, urls, 10)  # warm up
    times, queries = measure(client, urls, args.runs)
    print(
        f"reviewer page, {mine:,} items: {ms(times)}; "
        f"queries per request {min(queries)}-{max(queries)}"
    )
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        measure(client, urls, 20)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    small = verified_client(data["other_reviewer"])  # type: ignore[arg-type]
    base_small = base
    measure(small, [base_small], 5)
    times_small, queries_small = measure(small, [base_small, base_small + "?page=20"], 40)
    print(
        f"reviewer page, {other:,} items: {ms(times_small)}; queries per request "
        f"{min(queries_small)}-{max(queries_small)}"
    )

    with tenant_context(tenant):  # type: ignore[arg-type]
        ids = list(
            ReviewItem.objects.filter(
                campaign=campaign, reviewer=data["reviewer"], risk="low"
            ).values_list("pk", flat=True)[:1000]
        )
        t = time.monotonic()
        result = services.review_items_decide_bulk(
            actor=data["reviewer"], campaign=campaign, item_ids=ids, decision="certify"
        )
        print(f"bulk certify: {result.decided:,} items in {(time.monotonic() - t) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
