"""Emergency suspension at scale (issue 8): one tenant with 10,000 users, 50,000 grants and
1,000 API keys (plus OAuth clients with live tokens and vendor staff holding grants there), on
top of bench/generate.py's base dataset as background load. Target: the suspension <= 5 s.

Measured, each in its own transaction as the staff console runs them:
  * open    - incident_open over the tenant (whole-tenant scope): the grant snapshot;
  * dry run - suspension_preview (the plan: every id, counts, fingerprint);
  * suspend - suspension_execute (accounts disabled + sessions ended, keys/clients/tokens
              revoked, grants suspended through apps.access grants_suspend_bulk, one audit
              event per batch of up to 1,000 objects of a kind, tenant isolated);
then `audit_verify` over the tenant's chain (the bulk-appended events must verify).

Run (a throw-away PostgreSQL cluster; see bench/RESULTS.md):
    source .ci/pg-up.sh && export CUSTOS_VAR_DIR=$(mktemp -d) \\
      && .venv/bin/python manage.py migrate -v0 && .venv/bin/python bench/bench_incidents.py; \\
      ci_services_down
Options: --users N --grants-per-user N --keys N --background-tenants N --background-users N
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.access.models import Entitlement, Grant, GrantSource  # noqa: E402
from apps.core.models import AuditEvent  # noqa: E402
from apps.core.tenancy import tenant_context, unscoped  # noqa: E402
from apps.identity.models import StaffRole, User, UserKind  # noqa: E402
from apps.integrations.models import ApiKey, OAuthAccessToken, OAuthClient  # noqa: E402
from apps.tenants.models import Environment, Membership, Tenant, TenantRole  # noqa: E402
from bench.generate import base_dataset  # noqa: E402

BATCH = 5_000
UNUSABLE = "!"
LEVELS = ("read", "write", "admin", "export", "operate")


def build_target(*, users: int, grants_per_user: int, keys: int, rng: random.Random) -> Tenant:
    """The tenant under attack, in bulk (nothing in the product's rules bypassed but speed)."""
    now = timezone.now()
    until = now + timedelta(days=30)
    with unscoped(reason="benchmark data generation"):
        tenant = Tenant.objects.create(slug="breached", name="Breached Corp", tier="enterprise")
        people = User.objects.bulk_create(
            [
                User(email=f"p{i:06d}@breached.example", full_name=f"Person {i}", password=UNUSABLE)
                for i in range(users)
            ],
            batch_size=BATCH,
        )
        staff = User.objects.bulk_create(
            [
                User(
                    email=f"eng{i:03d}@vendor.example",
                    kind=UserKind.STAFF,
                    staff_role=StaffRole.SUPPORT_ENGINEER,
                    password=UNUSABLE,
                )
                for i in range(25)
            ]
        )
        Membership.objects.bulk_create(
            [
                Membership(
                    tenant=tenant,
                    user=u,
                    role=TenantRole.CUSTOMER_ADMIN if i < 5 else TenantRole.MEMBER,
                )
                for i, u in enumerate(people)
            ],
            batch_size=BATCH,
        )
        environments = Environment.objects.bulk_create(
            [Environment(tenant=tenant, slug=f"env-{e}", name=f"Env {e}") for e in range(40)]
        )
        entitlements = Entitlement.objects.bulk_create(
            [
                Entitlement(
                    tenant=tenant,
                    environment=env,
                    level=level,
                    risk="low",
                    name=f"{env.slug}-{level}",
                )
                for env in environments
                for level in LEVELS
            ]
        )
        rows = [
            Grant(
                tenant=tenant,
                user=u,
                entitlement=ent,
                source=GrantSource.MANUAL,
                expires_at=until,
                ends_at_due=until,
            )
            for u in people
            for ent in rng.sample(entitlements, grants_per_user)
        ]
        rows += [
            Grant(
                tenant=tenant,
                user=s,
                entitlement=rng.choice(entitlements),
                source=GrantSource.REQUEST,
                expires_at=now + timedelta(hours=4),
                ends_at_due=now + timedelta(hours=4),
            )
            for s in staff
        ]
        Grant.objects.bulk_create(rows, batch_size=BATCH)
        ApiKey.objects.bulk_create(
            [
                ApiKey(
                    tenant=tenant,
                    name=f"integration {i}",
                    prefix=f"bk{i:08d}",
                    secret_hash="0" * 64,
                    technical_contact_email="ops@breached.example",
                    owner=people[i % len(people)],
                    expires_at=until,
                )
                for i in range(keys)
            ],
            batch_size=BATCH,
        )
        clients = OAuthClient.objects.bulk_create(
            [
                OAuthClient(
                    tenant=tenant,
                    name=f"erp {i}",
                    client_id=f"bc{i:08d}",
                    public_key_pem="-",
                    technical_contact_email="ops@breached.example",
                )
                for i in range(20)
            ]
        )
        OAuthAccessToken.objects.bulk_create(
            [
                OAuthAccessToken(
                    tenant=tenant,
                    client=c,
                    prefix=f"bt{c.pk:04d}{t:04d}",
                    token_hash="0" * 64,
                    expires_at=now + timedelta(minutes=10),
                )
                for c in clients
                for t in range(10)
            ]
        )
    return tenant


def timed(label: str, results: dict[str, float], func, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    value = func(*args, **kwargs)
    results[label] = time.perf_counter() - started
    print(f"  {label}: {results[label]:.3f} s", flush=True)
    return value


def main() -> None:
    from apps.core.audit.verify import audit_verify
    from apps.incidents import services
    from apps.incidents.models import TenantScope

    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--grants-per-user", type=int, default=5)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--background-tenants", type=int, default=200)
    parser.add_argument("--background-users", type=int, default=20_000)
    parser.add_argument("--background-events", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="cProfile the suspension")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("needs PostgreSQL (DATABASE_URL)")
    rng = random.Random(20261202)
    t0 = time.perf_counter()
    base_dataset(
        tenants=args.background_tenants,
        users=args.background_users,
        events=args.background_events,
        vacuum=False,
    )
    tenant = build_target(
        users=args.users, grants_per_user=args.grants_per_user, keys=args.keys, rng=rng
    )
    connection.use_owner_role(True)  # type: ignore[attr-defined]
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    connection.use_owner_role(False)  # type: ignore[attr-defined]
    print(f"setup: {time.perf_counter() - t0:.1f} s", flush=True)
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    with tenant_context(tenant):
        counts = {
            "members": Membership.objects.count(),
            "grants": Grant.objects.count(),
            "api_keys": ApiKey.objects.count(),
            "oauth_clients": OAuthClient.objects.count(),
        }
    print(f"target tenant: {counts}")
    actor = User.objects.create_user(
        email="sec@vendor.example", kind=UserKind.STAFF, staff_role=StaffRole.SECURITY
    )
    results: dict[str, float] = {}
    incident = timed(
        "open (incident + snapshot)",
        results,
        services.incident_open,
        actor=actor,
        title="Credential dump",
        severity="critical",
        tenants=[tenant],
        scope=TenantScope.WHOLE_TENANT,
    )
    preview = timed(
        "dry run (preview)",
        results,
        services.suspension_preview,
        actor=actor,
        incident=incident,
        isolate=[tenant.pk],
    )
    print(f"  plan: {preview.totals}")
    chain = f"tenant:{tenant.pk}"
    with unscoped(reason="benchmark: audit events of the target tenant"):
        events_before = AuditEvent.objects.filter(chain=chain).count()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    # Its own transaction (suspension_execute is atomic), as the staff console runs it: the
    # figure includes the COMMIT.
    records = timed(
        "suspend now (execute, one transaction)",
        results,
        services.suspension_execute,
        actor=actor,
        incident=incident,
        fingerprint_seen=preview.fingerprint,
        confirm_reference=incident.reference,
        reason="benchmark",
        isolate=[tenant.pk],
    )
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    record = records[0]
    print(
        f"  done: {len(record.user_ids)} accounts, {len(record.session_user_ids)} staff "
        f"sessions, {len(record.api_key_ids)} keys, {len(record.oauth_client_ids)} clients, "
        f"{record.tokens_revoked} tokens, {record.grants_suspended} grants, isolated="
        f"{record.isolated}; in-service time {record.duration_ms:.0f} ms"
    )
    with unscoped(reason="benchmark: audit events of the target tenant"):
        appended = AuditEvent.objects.filter(chain=chain).count() - events_before
    print(f"  audit events appended by the suspension: {appended}")
    report = timed(
        "audit_verify (tenant chain)",
        results,
        audit_verify,
        chains=[chain],
        use_checkpoint=False,
    )
    print(f"  chain ok: {report.ok}")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    target = results["suspend now (execute, one transaction)"]
    print(
        f"RESULT suspension {target:.2f} s (target <= 5 s): {'met' if target <= 5 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
