"""Benchmark: `manage.py audit_verify` over 1,000,000 audit events on PostgreSQL (target <= 20 s).

Generation is fast and honest: events are built in Python with the real hashing code
(apps.core.audit.hashing: personal digest, chained event hash), in worker processes, and
bulk-loaded with COPY as the database owner (FORCE RLS is lifted for the load only). Head rows
and a signed checkpoint are then written through the application's own code, and the verify
command runs as a separate process, exactly as an operator would run it.

Run it through bench/run_audit.sh (throw-away cluster), or by hand against a migrated,
disposable PostgreSQL database:

    DATABASE_URL=postgres://owner@host:port/db .venv/bin/python bench/audit_verify.py
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLUMNS = (
    "chain, seq, occurred_at, tenant_id, actor_id, on_behalf_of_id, action, outcome, "
    "target_type, target_id, request_id, personal, personal_salt, personal_digest, "
    "pseudonymised_at, prev_hash, hash"
)
ACTIONS = [
    ("login.succeeded", "identity.user"),
    ("login.failed", "identity.user"),
    ("mfa.verified", "identity.user"),
    ("membership.added", "tenants.membership"),
    ("access_request.approved", "requests.accessrequest"),
    ("grant.revoked", "access.grant"),
    ("admin.environment.changed", "tenants.environment"),
    ("logout", "identity.user"),
]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "custos-scim/1.0",
]
PERIOD = timedelta(days=90)
NAMES = ["Alice Admin", "Bob Builder", "Chloé Dupont", "Jürgen Müller", "Mia Member", "Sam Support"]


def _copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def build_chain(job: tuple[str, int | None, int, int]) -> list[bytes]:
    """All events of one chain as COPY text, hashed exactly as the writer hashes them."""
    from apps.core.audit.hashing import (
        GENESIS_HASH,
        canonical_json,
        event_hash,
        normalise,
        personal_digest,
    )

    chain, tenant_id, count, seed = job
    rng = random.Random(seed)
    # Every chain spreads over the same 90 days, so the load below interleaves chains in the
    # heap the way live appends do (a chain's events are not stored next to each other).
    when = datetime(2026, 1, 1, tzinfo=UTC)
    step = int(PERIOD.total_seconds() * 1_000_000 / count)
    prev = GENESIS_HASH
    lines = []
    for seq in range(1, count + 1):
        when += timedelta(microseconds=rng.randint(1, 2 * step))
        action, target_type = rng.choice(ACTIONS)
        actor_id = rng.randint(1, 100_000)
        target_id = str(rng.randint(1, 1_000_000))
        personal = normalise(
            {
                "actor": rng.choice(NAMES),
                "target": f"{target_type}:{target_id}",
                "ip": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                "user_agent": rng.choice(AGENTS),
                "before": {},
                "after": {"role": "member"} if action == "membership.added" else {},
                "details": {"ticket": f"SUP-{rng.randint(1000, 99999)}"},
            }
        )
        salt = f"{rng.getrandbits(128):032x}"
        digest = personal_digest(salt, personal)
        fields = {
            "chain": chain,
            "seq": seq,
            "occurred_at": when,
            "tenant_id": tenant_id,
            "actor_id": actor_id,
            "on_behalf_of_id": None,
            "action": action,
            "outcome": "failure" if action == "login.failed" else "success",
            "target_type": target_type,
            "target_id": target_id,
            "request_id": f"{rng.getrandbits(128):032x}",
            "personal_digest": digest,
            "prev_hash": prev,
        }
        own = event_hash(**fields)  # type: ignore[arg-type]
        row = [
            chain,
            seq,
            when.isoformat(timespec="microseconds"),
            tenant_id,
            actor_id,
            None,
            action,
            fields["outcome"],
            target_type,
            target_id,
            fields["request_id"],
            canonical_json(personal),
            salt,
            digest,
            None,
            prev,
            own,
        ]
        lines.append("\t".join(_copy_text(v) for v in row) + "\n")
        prev = own
    return [line.encode() for line in lines]


def chain_sizes(total: int, tenants: int, rng: random.Random) -> list[int]:
    """A few big tenants, many small ones (Pareto-ish), plus a platform chain of ~5%."""
    weights = [1.0 / (i + 1) ** 0.8 for i in range(tenants)]
    platform = total // 20
    rest = total - platform
    scale = rest / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    sizes[0] += rest - sum(sizes)
    rng.shuffle(sizes)
    return [platform, *sizes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--runs", type=int, default=3, help="timed audit_verify runs")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="custos-bench-audit-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ["AUDIT_SIGNING_KEY_FILE"] = str(scratch / "keys" / "audit-signing.ed25519")
    os.environ["AUDIT_CHECKPOINT_DIR"] = str(scratch / "checkpoints")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("DATABASE_URL must point at a disposable PostgreSQL database")

    import django

    django.setup()
    from django.db import connection, connections

    from apps.core.audit.checkpoints import checkpoint_create
    from apps.core.models import AuditChainHead, chain_key
    from apps.core.tenancy import unscoped
    from apps.tenants.models import Tenant

    rng = random.Random(20261122)
    started = time.monotonic()
    with unscoped(reason="benchmark set-up"):
        existing = AuditChainHead.objects.count()
        if existing:
            sys.exit("the database has audit events already; use a fresh one")
        Tenant.objects.bulk_create(
            [Tenant(slug=f"bench-{i:05d}", name=f"Bench {i}") for i in range(args.tenants)],
            batch_size=1000,
        )
        tenant_ids = list(
            Tenant.objects.filter(slug__startswith="bench-").values_list("pk", flat=True)
        )
    sizes = chain_sizes(args.events, len(tenant_ids), rng)
    jobs = [(chain_key(None), None, sizes[0], 0)] + [
        (chain_key(tid), tid, size, tid) for tid, size in zip(tenant_ids, sizes[1:], strict=True)
    ]
    heads: dict[str, tuple[int | None, int, str]] = {}

    connections.close_all()  # the hashing workers are forked: they must not share a socket
    with Pool(args.workers) as pool:
        per_chain = pool.map(build_chain, jobs, chunksize=4)
    for job, lines in zip(jobs, per_chain, strict=True):
        last = lines[-1].rstrip(b"\n").split(b"\t")
        heads[job[0]] = (job[1], int(last[1]), last[-1].decode())
    hashed = time.monotonic()

    connection.use_owner_role(True)  # type: ignore[attr-defined]
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE core_auditevent NO FORCE ROW LEVEL SECURITY")
    try:
        raw = connection.connection
        by_time = heapq.merge(*per_chain, key=lambda line: line.split(b"\t", 3)[2])
        sql = f"COPY core_auditevent ({COLUMNS}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            buffer: list[bytes] = []
            for line in by_time:
                buffer.append(line)
                if len(buffer) >= 5000:
                    copy.write(b"".join(buffer))
                    buffer = []
            copy.write(b"".join(buffer))
        del per_chain
        raw.commit()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE core_auditevent FORCE ROW LEVEL SECURITY")
        connection.use_owner_role(False)  # type: ignore[attr-defined]
    loaded = time.monotonic()
    with unscoped(reason="benchmark set-up"):
        AuditChainHead.objects.bulk_create(
            [
                AuditChainHead(chain=c, tenant_id=t, last_seq=s, last_hash=h)
                for c, (t, s, h) in heads.items()
            ],
            batch_size=1000,
        )
    connection.use_owner_role(True)  # type: ignore[attr-defined]
    with connection.cursor() as cursor:
        # What autovacuum would have done on a live system (hint bits, statistics).
        cursor.execute("VACUUM (ANALYZE) core_auditevent")
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('core_auditevent'))")
        size = cursor.fetchone()[0]
    connection.use_owner_role(False)  # type: ignore[attr-defined]
    checkpoint = checkpoint_create()
    assert checkpoint is not None
    total = sum(sizes)
    print(
        f"generated {total:,} events in {len(jobs):,} chains: hashing {hashed - started:.1f} s, "
        f"interleaved COPY {loaded - hashed:.1f} s, table {size}"
    )

    command = [sys.executable, str(ROOT / "manage.py"), "audit_verify"]
    times = []
    for run in range(1, args.runs + 1):
        t0 = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - t0
        times.append(elapsed)
        print(f"run {run}: exit {result.returncode}, wall {elapsed:.2f} s")
        print("  " + result.stdout.strip().replace("\n", "\n  "))
        if result.returncode != 0:
            print(result.stderr[-2000:])
            sys.exit(1)
    print(
        f"RESULT audit_verify over {total:,} events: best {min(times):.2f} s, "
        f"worst {max(times):.2f} s (target <= 20 s)"
    )

    # And a failure at this scale: edit one event in the middle of the biggest chain (as the
    # owner, with the append-only trigger off); the command must name it.
    big = max(heads, key=lambda c: heads[c][1])
    seq = heads[big][1] // 2
    connection.use_owner_role(True)  # type: ignore[attr-defined]
    with unscoped(reason="benchmark tamper"), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE core_auditevent DISABLE TRIGGER custos_audit_append_only")
        cursor.execute(
            "UPDATE core_auditevent SET outcome = 'success', action = 'login.succeeded' "
            "WHERE chain = %s AND seq = %s",
            [big, seq],
        )
        cursor.execute("ALTER TABLE core_auditevent ENABLE TRIGGER custos_audit_append_only")
    connection.use_owner_role(False)  # type: ignore[attr-defined]
    connections.close_all()
    t0 = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - t0
    named = f"chain {big} seq {seq}:" in result.stderr
    print(f"tampered {big} seq {seq}: exit {result.returncode}, wall {elapsed:.2f} s")
    print("  " + result.stderr.strip().replace("\n", "\n  "))
    print(
        f"RESULT tamper at 1M scale: {'detected and named' if named else 'NOT NAMED'} "
        f"in {elapsed:.2f} s"
    )
    if result.returncode == 0 or not named:
        sys.exit(1)


if __name__ == "__main__":
    main()
