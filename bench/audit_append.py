"""Benchmark: audit append throughput from 4 concurrent writer processes on PostgreSQL
(target >= 2,000 events/s with an unbroken chain afterwards).

Two layouts, both reported:
  * 4 writers into 4 tenant chains (the normal case: tenants never wait on each other);
  * 4 writers into ONE chain (worst case: every append queues on that chain's head-row lock).

Each append is what the application does: `audit_event_record(...)` in its own transaction,
as the unprivileged application role with row-level security on, with request info (id, IP,
user agent) set. Afterwards `audit_verify` must pass.

Run it through bench/run_audit.sh (throw-away cluster), or by hand against a migrated,
disposable PostgreSQL database:

    DATABASE_URL=postgres://owner@host:port/db .venv/bin/python bench/audit_append.py
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def writer(tenant_id: int, count: int, number: int, start: mp.Event, done: mp.Queue) -> None:
    from django.db import transaction

    from apps.core.audit.services import audit_event_record
    from apps.core.requestcontext import RequestInfo, set_request_info

    for i in range(count):
        set_request_info(
            RequestInfo(
                request_id=f"bench{number:02d}{i:010d}",
                ip=f"10.0.{number}.{i % 250 + 1}",
                user_agent="Mozilla/5.0 (X11; Linux x86_64) bench/1.0",
            )
        )
        if i == 0:
            start.wait()
            began = time.monotonic()
        with transaction.atomic():
            audit_event_record(
                action="access_request.approved",
                actor=None,
                tenant=tenant_id,
                target_type="requests.accessrequest",
                target_id=str(i),
                details={"writer": number, "i": i, "ticket": f"SUP-{i}"},
            )
    done.put((number, began, time.monotonic()))


def run_layout(name: str, tenant_ids: list[int], per_writer: int) -> dict[str, float]:
    from django.db import connections

    connections.close_all()  # children open their own connections
    ctx = mp.get_context("fork")
    start = ctx.Event()
    done = ctx.Queue()
    procs = [
        ctx.Process(target=writer, args=(tid, per_writer, n, start, done))
        for n, tid in enumerate(tenant_ids)
    ]
    for proc in procs:
        proc.start()
    time.sleep(1.0)  # let every writer import, connect and wait at the start line
    t0 = time.monotonic()
    start.set()
    results = [done.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            sys.exit(f"writer failed with exit code {proc.exitcode}")
    wall = max(end for _n, _b, end in results) - t0
    total = per_writer * len(procs)
    rate = total / wall
    print(
        f"{name}: {total:,} events from {len(procs)} writer processes in {wall:.2f} s "
        f"-> {rate:,.0f} events/s"
    )
    return {"events": total, "seconds": wall, "rate": rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-writer", type=int, default=5_000)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="custos-bench-append-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ["AUDIT_SIGNING_KEY_FILE"] = str(scratch / "keys" / "audit-signing.ed25519")
    os.environ["AUDIT_CHECKPOINT_DIR"] = str(scratch / "checkpoints")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("DATABASE_URL must point at a disposable PostgreSQL database")

    import django

    django.setup()
    from apps.core.audit.checkpoints import checkpoint_create
    from apps.core.audit.verify import audit_verify
    from apps.core.models import chain_key
    from apps.tenants.models import Tenant

    tenants = [
        Tenant.objects.get_or_create(slug=f"append-{i}", defaults={"name": f"Append {i}"})[0]
        for i in range(args.writers)
    ]
    ids = [t.pk for t in tenants]
    results = {
        "separate": run_layout(
            f"{args.writers} writers -> {args.writers} chains", ids, args.per_writer
        ),
        "shared": run_layout(
            f"{args.writers} writers -> 1 chain", [ids[0]] * args.writers, args.per_writer
        ),
    }
    checkpoint_create()
    report = audit_verify()
    chains = ", ".join(chain_key(i) for i in ids)
    print(
        f"audit_verify after both runs: {'OK' if report.ok else 'FAILED'} - "
        f"{report.events_checked:,} events in {report.chains_checked} chains ({chains}) "
        f"in {report.seconds:.2f} s"
    )
    for problem in report.problems:
        print(f"  BROKEN {problem}")
    print(
        "RESULT audit append: "
        f"{results['separate']['rate']:,.0f} events/s into separate chains, "
        f"{results['shared']['rate']:,.0f} events/s into one chain (target >= 2,000)"
    )
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
