"""PDF report of 10,000 rows: wall time and peak memory (issue 6: <= 15 s, <= 500 MB).

Generates a tenant with --rows grants (bench/generate.py base_dataset for tenants, people and
audit events; the grants bulk-created over the largest tenant's members, entitlements and a
role, a tenth of them held by vendor staff), then generates the tenant's access inventory as a
PDF (and as a CSV) exactly as the Celery task does (apps.reports.services.report_job_run),
each in a fresh process so that its peak RSS is the report's and not the generator's:

* wall time from the claim of the job to the stored file;
* peak RSS of the process running the job (resource.getrusage RUSAGE_SELF) and of the largest
  PDF worker process (RUSAGE_CHILDREN); their sum with every worker counted at that peak is
  the upper bound reported against the 500 MB budget.

Run: bench/run_reports.sh  (a throw-away PostgreSQL cluster; options: --rows N --workers N,
--profile DIR: cProfile of each job process written to DIR/job-<format>.txt, and the
reports to DIR/report.<format>)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.core.tenancy import tenant_context, unscoped  # noqa: E402


def generate(rows: int) -> tuple[int, int]:
    """(tenant id, admin user id) of a tenant with `rows` grants."""
    from apps.access.models import Entitlement, Grant, Role, RoleEntitlement
    from apps.identity.models import StaffRole, User, UserKind
    from apps.tenants.models import Environment, Membership, Tenant
    from bench.generate import base_dataset

    data = base_dataset(tenants=20, users=6_000, events=20_000)
    tenant = Tenant.objects.get(pk=data.largest)
    admin_id = data.admin_of[tenant.pk]
    rng = random.Random(6)
    staff = [
        User(
            email=f"bench-staff-{i}@vendor.test",
            full_name=f"Vendor Engineer {i:02d}",
            kind=UserKind.STAFF,
            staff_role=StaffRole.SUPPORT_ENGINEER,
        )
        for i in range(40)
    ]
    User.objects.bulk_create(staff)
    with tenant_context(tenant):
        envs = list(Environment.objects.all()[:12])
        ents = []
        for env in envs:
            for level, risk in (("read", "low"), ("write", "medium"), ("export", "high")):
                ents.append(
                    Entitlement(
                        tenant=tenant,
                        environment=env,
                        level=level,
                        risk=risk,
                        name=f"{env.slug}-{level}",
                    )
                )
        Entitlement.objects.bulk_create(ents)
        ents = list(Entitlement.objects.select_related("environment"))
        role = Role.objects.create(tenant=tenant, key="analyst", name="Analyst")
        RoleEntitlement.objects.bulk_create(
            [RoleEntitlement(tenant=tenant, role=role, entitlement=e) for e in ents[:3]]
        )
        people = list(Membership.objects.values_list("user_id", flat=True))
        staff_ids = [
            u.pk for u in User.objects.filter(kind=UserKind.STAFF, email__startswith="bench-staff-")
        ]
        now = timezone.now()
        grants = []
        for i in range(rows):
            vendor = i % 10 == 0
            starts = now - timedelta(days=rng.randint(1, 400), minutes=rng.randint(0, 1440))
            grants.append(
                Grant(
                    tenant=tenant,
                    user_id=rng.choice(staff_ids) if vendor else rng.choice(people),
                    role=role if i % 7 == 0 else None,
                    entitlement=None if i % 7 == 0 else rng.choice(ents),
                    source="request" if vendor else rng.choice(("manual", "request", "scim")),
                    starts_at=starts,
                    expires_at=starts + timedelta(hours=8) if vendor else None,
                    ticket_ref=f"SUP-{10000 + i}" if vendor else "",
                    approval_ref=f"request:{i}" if vendor else "",
                    justification="Quarterly reconciliation of the ledger exports",
                )
            )
        Grant.objects.bulk_create(grants, batch_size=5_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return tenant.pk, admin_id


def run_job(
    tenant_id: int, admin_id: int, file_format: str, language: str, profile: str = ""
) -> dict[str, object]:
    """In this (fresh) process: request and generate one report, with its figures (and with
    `profile`, the job process's cProfile, costliest calls, written to that file and the
    report itself next to it, as report.<format>)."""
    from apps.identity.models import User
    from apps.reports import services
    from apps.reports.models import ReportJob
    from apps.tenants.models import Tenant

    tenant = Tenant.objects.get(pk=tenant_id)
    admin = User.objects.get(pk=admin_id)
    job = services.report_job_request(
        actor=admin,
        tenant=tenant,
        kind="inventory",
        file_format=file_format,
        parameters={"state": "all"},
        language=language,
        time_zone="Europe/Berlin",
    )
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    services.report_job_run(job_id=job.pk)
    seconds = time.perf_counter() - t0
    if profiler is not None:
        import io
        import pstats

        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(20)
        Path(profile).write_text(text.getvalue())
    with unscoped(reason="bench: read the result"):
        done = ReportJob.objects.get(pk=job.pk)
    if profile and done.content:
        Path(profile).with_name(f"report.{file_format}").write_bytes(bytes(done.content))
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_mb = own.ru_maxrss / 1024
    child_mb = children.ru_maxrss / 1024
    return {
        "format": file_format,
        "status": done.status,
        "error": done.error,
        "rows": done.rows,
        "pages": done.pages,
        "bytes": done.size,
        "seconds": round(seconds, 2),
        "rss_job_mb": round(self_mb),
        "rss_worker_peak_mb": round(child_mb),
        # CPU seconds (load-independent): the job's process, and all PDF workers together
        "cpu_job_s": round(own.ru_utime + own.ru_stime, 1),
        "cpu_workers_s": round(children.ru_utime + children.ru_stime, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=0, help="PDF worker processes (0: cores)")
    parser.add_argument("--language", default="de")
    parser.add_argument("--run-one", nargs=3, metavar=("TENANT", "ADMIN", "FORMAT"))
    parser.add_argument(
        "--profile", default="", metavar="DIR", help="write the jobs' cProfile and reports here"
    )
    args = parser.parse_args()
    if args.run_one:
        tenant_id, admin_id, file_format = args.run_one
        profile = f"{args.profile}/job-{file_format}.txt" if args.profile else ""
        result = run_job(int(tenant_id), int(admin_id), file_format, args.language, profile)
        print(json.dumps(result))
        return
    if connection.vendor != "postgresql":
        raise SystemExit("bench_reports needs PostgreSQL (DATABASE_URL)")
    t0 = time.perf_counter()
    tenant_id, admin_id = generate(args.rows)
    print(f"generated {args.rows:,} grants in {time.perf_counter() - t0:.1f} s")
    env = dict(os.environ)
    if args.workers:
        env["REPORTS_PDF_WORKERS"] = str(args.workers)
    workers = args.workers or max(1, min(4, os.cpu_count() or 1))
    for file_format in ("pdf", "csv"):
        out = (
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--language",
                    args.language,
                    *(["--profile", args.profile] if args.profile else []),
                    "--run-one",
                    str(tenant_id),
                    str(admin_id),
                    file_format,
                ],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        result = json.loads(out)
        if file_format == "pdf":
            bound = int(result["rss_job_mb"]) + workers * int(result["rss_worker_peak_mb"])
            result["workers"] = workers
            result["rss_upper_bound_mb"] = bound
        print(json.dumps(result))
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
