"""Scale data for benchmarks on PostgreSQL: tenants, users with memberships, environments and
audit events whose hash chains verify.

Reusable: other benchmarks build on `base_dataset(...)` and add their own rows, e.g.

    from bench.generate import base_dataset
    data = base_dataset(tenants=1_000, users=100_000, events=1_000_000)
    data.admin_of[data.largest]   # a customer admin of the biggest tenant (user id)

Realistic rows, generated fast, nothing in the product's rules bypassed except speed:
  * tenants, users (one real password hash shared by all, computed once), memberships
    (Pareto-like tenant sizes, every tenant has customer admins, ~10 % of people belong to a
    second tenant) and environments go in with `bulk_create` in big batches inside an explicit
    `unscoped(...)` block (row-level security stays on);
  * audit events are built in worker processes with the real hashing code
    (apps.core.audit.hashing: personal digest, chained event hash, genesis hash), interleaved
    by time across chains as live appends lie in the heap, and loaded with COPY as the table
    owner (COPY FROM cannot run under FORCE ROW LEVEL SECURITY, so that is lifted for the load
    only). Chain heads are written to match, so `manage.py audit_verify` passes.

Full size (1,000 tenants, 100,000 users, 1,000,000 events) takes about 2-3 minutes on the
2-core bench VM (see bench/README.md). Command line (a migrated, disposable database):

    DATABASE_URL=postgres://owner@host:port/db .venv/bin/python bench/generate.py \
        [--tenants N --users N --events N]
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BATCH = 5_000
PASSWORD = "bench-password-1"  # noqa: S105 - every generated user's password (one hash, computed once)
PERIOD = timedelta(days=90)  # audit events spread over the last 90 days
FIRST = ["Alice", "Bob", "Chloé", "Jürgen", "Mia", "Sam", "Noah", "Léa", "Yuki", "Omar", "Ines"]
LAST = ["Admin", "Builder", "Dupont", "Müller", "Member", "Support", "Rossi", "Nakamura", "Silva"]
DEPARTMENTS = ["Finance", "Engineering", "Sales", "Operations", "Legal", "HR", "Research"]
ACTIONS = [
    ("login.succeeded", "identity.user", 30),
    ("login.failed", "identity.user", 4),
    ("logout", "identity.user", 10),
    ("mfa.enrolled", "identity.user", 1),
    ("membership.added", "tenants.membership", 4),
    ("membership.role_changed", "tenants.membership", 2),
    ("membership.removed", "tenants.membership", 1),
    ("environment.created", "tenants.environment", 1),
    ("access_request.approved", "requests.accessrequest", 8),
    ("access.grant.created", "access.grant", 8),
    ("access.grant.revoked", "access.grant", 3),
    ("seat.allocated", "licenses.seat", 3),
    ("api_key.created", "integrations.apikey", 1),
    ("audit.exported", "tenants.tenant", 1),
]
_ACTION_WEIGHTS = [w for _a, _t, w in ACTIONS]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "custos-scim/1.0",
]
AUDIT_COLUMNS = (
    "chain, seq, occurred_at, tenant_id, actor_id, on_behalf_of_id, action, outcome, "
    "target_type, target_id, request_id, personal, personal_salt, personal_digest, "
    "pseudonymised_at, prev_hash, hash"
)


@dataclass
class Dataset:
    """What was generated (ids), for the benchmark that asked for it."""

    tenant_ids: list[int]  # in generation order
    members: dict[int, int]  # tenant id -> active memberships
    admin_of: dict[int, int]  # tenant id -> user id of a customer admin
    events: dict[int | None, int]  # tenant id (None = platform) -> audit events
    staff: dict[str, int] = field(default_factory=dict)  # staff role -> user id
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def largest(self) -> int:
        return max(self.members, key=lambda t: (self.members[t], self.events.get(t, 0)))

    @property
    def smallest(self) -> int:
        return min(self.members, key=lambda t: (self.members[t], self.events.get(t, 0)))


def pareto_sizes(total: int, parts: int, rng: random.Random, *, exponent: float = 0.8) -> list[int]:
    """`total` split over `parts`: a few big ones, many small ones, every one >= 1, shuffled."""
    weights = [1.0 / (i + 1) ** exponent for i in range(parts)]
    scale = total / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    sizes[0] += total - sum(sizes)
    rng.shuffle(sizes)
    return sizes


def person_name(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]} {i}"


def _copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def build_chain(job: tuple[str, int | None, int, int, list[tuple[int, str]], float]) -> list[bytes]:
    """All events of one chain as COPY text lines, hashed exactly as the writer hashes them
    (seq 1.., prev_hash from the genesis hash), spread over PERIOD up to `end` (epoch s)."""
    from apps.core.audit.hashing import (
        GENESIS_HASH,
        canonical_json,
        event_hash,
        normalise,
        personal_digest,
    )

    chain, tenant_id, count, seed, actors, end = job
    rng = random.Random(seed)
    when = datetime.fromtimestamp(end, UTC) - PERIOD
    step = int(PERIOD.total_seconds() * 1_000_000 / count)
    prev = GENESIS_HASH
    lines = []
    picks = rng.choices(ACTIONS, weights=_ACTION_WEIGHTS, k=count)
    for seq in range(1, count + 1):
        when += timedelta(microseconds=rng.randint(1, 2 * step - 1))
        action, target_type, _w = picks[seq - 1]
        actor_id, actor_name = actors[rng.randrange(len(actors))] if actors else (None, "")
        target_id = str(rng.randint(1, 1_000_000))
        personal = normalise(
            {
                "actor": actor_name,
                "target": f"{target_type}:{target_id}",
                "ip": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                "user_agent": rng.choice(AGENTS),
                "before": {"role": "member"} if action == "membership.role_changed" else {},
                "after": {"role": "approver"} if action == "membership.role_changed" else {},
                "details": {"ticket": f"SUP-{rng.randint(1000, 99999)}"},
            }
        )
        salt = f"{rng.getrandbits(128):032x}"
        digest = personal_digest(salt, personal)
        outcome = "failure" if action == "login.failed" else "success"
        request_id = f"{rng.getrandbits(128):032x}"
        own = event_hash(
            chain=chain,
            seq=seq,
            occurred_at=when,
            tenant_id=tenant_id,
            actor_id=actor_id,
            on_behalf_of_id=None,
            action=action,
            outcome=outcome,
            target_type=target_type,
            target_id=target_id,
            request_id=request_id,
            personal_digest=digest,
            prev_hash=prev,
        )
        row = (
            chain,
            seq,
            when.isoformat(timespec="microseconds"),
            tenant_id,
            actor_id,
            None,
            action,
            outcome,
            target_type,
            target_id,
            request_id,
            canonical_json(personal),
            salt,
            digest,
            None,
            prev,
            own,
        )
        lines.append(("\t".join(_copy_text(v) for v in row) + "\n").encode())
        prev = own
    return lines


def _owner_copy(table: str, columns: str, lines: Any) -> None:
    """COPY text lines into a tenant-owned table as its owner (FORCE RLS lifted for the load)."""
    from django.db import connection

    connection.use_owner_role(True)  # type: ignore[attr-defined]
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    try:
        raw = connection.connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            buffer: list[bytes] = []
            for line in lines:
                buffer.append(line)
                if len(buffer) >= BATCH:
                    copy.write(b"".join(buffer))
                    buffer = []
            copy.write(b"".join(buffer))
        raw.commit()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        connection.use_owner_role(False)  # type: ignore[attr-defined]


def generate_people(
    *, tenants: int, users: int, rng: random.Random, prefix: str = "bench"
) -> Dataset:
    """Tenants, users, memberships (admins first) and environments."""
    from django.contrib.auth.hashers import make_password

    from apps.core.tenancy import unscoped
    from apps.identity.models import StaffRole, User, UserKind
    from apps.tenants.models import (
        Environment,
        EnvironmentKind,
        Membership,
        Region,
        Sensitivity,
        Tenant,
        TenantRole,
        Tier,
    )

    now = datetime.now(UTC)
    regions = list(Region.values)
    with unscoped(reason="benchmark data generation"):
        made = Tenant.objects.bulk_create(
            [
                Tenant(
                    slug=f"{prefix}-{i:05d}",
                    name=f"{prefix.title()} Customer {i:05d}",
                    tier=rng.choice([Tier.STANDARD] * 6 + [Tier.ENTERPRISE] * 3 + [Tier.STRATEGIC]),
                    region=rng.choice(regions),
                )
                for i in range(tenants)
            ],
            batch_size=BATCH,
        )
        tenant_ids = [t.pk for t in made]
        sizes = pareto_sizes(users, tenants, rng)
        password = make_password(PASSWORD)
        people: list[User] = []
        home: list[int] = []
        for tid, size in zip(tenant_ids, sizes, strict=True):
            for _ in range(size):
                n = len(people)
                people.append(
                    User(
                        email=f"user{n:07d}@{prefix}.example",
                        full_name=person_name(n),
                        kind=UserKind.CUSTOMER,
                        password=password,
                        language=rng.choice(["", "", "en", "de", "fr"]),
                        date_joined=now - timedelta(days=rng.randint(1, 700)),
                    )
                )
                home.append(tid)
        people.append(
            User(
                email=f"compliance@{prefix}-vendor.example",
                full_name="Cora Compliance",
                kind=UserKind.STAFF,
                staff_role=StaffRole.COMPLIANCE,
                password=password,
            )
        )
        User.objects.bulk_create(people, batch_size=BATCH)
        staff = {"compliance": people[-1].pk}
        people.pop()

        members: dict[int, int] = dict.fromkeys(tenant_ids, 0)
        admin_of: dict[int, int] = {}
        memberships: list[Membership] = []
        seen: set[tuple[int, int]] = set()

        def add(tid: int, user: User, role: str) -> None:
            if (tid, user.pk) in seen:
                return
            seen.add((tid, user.pk))
            memberships.append(
                Membership(
                    tenant_id=tid,
                    user=user,
                    role=role,
                    department=rng.choice(DEPARTMENTS),
                    title="Analyst",
                    is_active=rng.random() > 0.03,
                )
            )
            if memberships[-1].is_active:
                members[tid] += 1

        for user, tid in zip(people, home, strict=True):
            if tid not in admin_of:
                admin_of[tid] = user.pk
                add(tid, user, TenantRole.CUSTOMER_ADMIN)
                memberships[-1].is_active = True
                continue
            roll = rng.random()
            role = (
                TenantRole.CUSTOMER_ADMIN
                if roll < 0.01
                else TenantRole.APPROVER
                if roll < 0.06
                else TenantRole.REVIEWER
                if roll < 0.08
                else TenantRole.MEMBER
            )
            add(tid, user, role)
        members = dict.fromkeys(tenant_ids, 0)
        for m in memberships:
            members[m.tenant_id] += int(m.is_active)
        # ~10 % of people also belong to a second tenant (consultants, group companies).
        for user in rng.sample(people, len(people) // 10):
            before = len(memberships)
            add(rng.choice(tenant_ids), user, TenantRole.MEMBER)
            if len(memberships) > before:
                members[memberships[-1].tenant_id] += int(memberships[-1].is_active)
        Membership.objects.bulk_create(memberships, batch_size=BATCH)

        environments = []
        for tid, size in zip(tenant_ids, sizes, strict=True):
            for e in range(3 + size // 200):
                kind = rng.choice(list(EnvironmentKind.values))
                environments.append(
                    Environment(
                        tenant_id=tid,
                        slug=f"{kind}-{e}",
                        name=f"{kind.title()} {e}",
                        kind=kind,
                        sensitivity=rng.choice(list(Sensitivity.values)),
                        region=rng.choice(regions),
                        owner_id=admin_of[tid],
                        description="Generated for benchmarks.",
                    )
                )
        Environment.objects.bulk_create(environments, batch_size=BATCH)
    return Dataset(
        tenant_ids=tenant_ids, members=members, admin_of=admin_of, events={}, staff=staff
    )


def generate_audit_events(
    data: Dataset, *, events: int, rng: random.Random, workers: int | None = None
) -> None:
    """`events` audit events: ~5 % in the platform chain, the rest over the tenants roughly in
    proportion to their size; real hashes, chain heads to match."""
    from django.db import connection, connections

    from apps.core.models import AuditChainHead, AuditEvent, chain_key
    from apps.core.tenancy import unscoped
    from apps.identity.models import User
    from apps.tenants.models import Membership

    with unscoped(reason="benchmark data generation"):
        if AuditEvent.objects.exists():
            raise RuntimeError("the database has audit events already; use a fresh one")
        actors: dict[int, list[tuple[int, str]]] = {t: [] for t in data.tenant_ids}
        rows = (
            Membership.objects.filter(tenant_id__in=data.tenant_ids, is_active=True)
            .order_by("tenant_id", "-role", "id")
            .values_list("tenant_id", "user_id", "user__full_name")
        )
        for tid, uid, name in rows.iterator(chunk_size=BATCH):
            if len(actors[tid]) < 200:  # the people who do things: admins first, then others
                actors[tid].append((uid, name))
        staff = list(User.objects.filter(kind="staff").values_list("pk", "full_name"))
    platform = events // 20
    sizes = pareto_sizes(events - platform, len(data.tenant_ids), rng)
    # Bigger tenants (more members) get the bigger chains.
    by_members = sorted(data.tenant_ids, key=lambda t: -data.members[t])
    sizes.sort(reverse=True)
    end = time.time() - 60
    jobs = [(chain_key(None), None, platform, 1, staff, end)] if platform else []
    jobs += [
        (chain_key(tid), tid, size, tid, actors[tid], end)
        for tid, size in zip(by_members, sizes, strict=True)
    ]
    started = time.monotonic()
    connections.close_all()  # the hashing workers are forked: they must not share a socket
    with get_context("fork").Pool(workers or os.cpu_count() or 2) as pool:
        per_chain = pool.map(build_chain, jobs, chunksize=4)
    heads = {}
    for job, lines in zip(jobs, per_chain, strict=True):
        last = lines[-1].rstrip(b"\n").split(b"\t")
        heads[job[0]] = (job[1], int(last[1]), last[-1].decode())
        data.events[job[1]] = len(lines)
    data.seconds["audit hashing"] = time.monotonic() - started
    started = time.monotonic()
    by_time = heapq.merge(*per_chain, key=lambda line: line.split(b"\t", 3)[2])
    _owner_copy("core_auditevent", AUDIT_COLUMNS, by_time)
    del per_chain
    with unscoped(reason="benchmark data generation"):
        AuditChainHead.objects.bulk_create(
            [
                AuditChainHead(chain=c, tenant_id=t, last_seq=s, last_hash=h)
                for c, (t, s, h) in heads.items()
            ],
            batch_size=BATCH,
        )
    data.seconds["audit COPY"] = time.monotonic() - started
    assert connection.vendor == "postgresql"


def vacuum_analyze() -> None:
    """What autovacuum would have done on a live system (hint bits, visibility, statistics)."""
    from django.db import connection

    connection.use_owner_role(True)  # type: ignore[attr-defined]
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
    finally:
        connection.use_owner_role(False)  # type: ignore[attr-defined]


def base_dataset(
    *,
    tenants: int = 1_000,
    users: int = 100_000,
    events: int = 1_000_000,
    seed: int = 20261122,
    prefix: str = "bench",
    workers: int | None = None,
    vacuum: bool = True,
) -> Dataset:
    """Generate the base dataset into the (migrated, empty) default PostgreSQL database."""
    from django.db import connection

    if connection.vendor != "postgresql":
        raise RuntimeError("bench.generate needs PostgreSQL (COPY, row-level security)")
    rng = random.Random(seed)
    t0 = time.monotonic()
    data = generate_people(tenants=tenants, users=users, rng=rng, prefix=prefix)
    data.seconds["tenants, users, memberships, environments"] = time.monotonic() - t0
    if events:
        generate_audit_events(data, events=events, rng=rng, workers=workers)
    if vacuum:
        t1 = time.monotonic()
        vacuum_analyze()
        data.seconds["VACUUM ANALYZE"] = time.monotonic() - t1
    data.seconds["total"] = time.monotonic() - t0
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("DATABASE_URL must point at a migrated, disposable PostgreSQL database")
    import django

    django.setup()
    data = base_dataset(tenants=args.tenants, users=args.users, events=args.events)
    print(
        f"generated {len(data.tenant_ids):,} tenants, {sum(data.members.values()):,} active "
        f"memberships, {sum(data.events.values()):,} audit events"
    )
    for step, seconds in data.seconds.items():
        print(f"  {step}: {seconds:.1f} s")


if __name__ == "__main__":
    main()
