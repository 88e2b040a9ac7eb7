#!/usr/bin/env python
"""Federation sign-in processing (issue 5): SAML ACS and OIDC callback, each = validation +
JIT provisioning + reconcile of 20 IdP-mapped access roles. Run by bench/run_federation.sh on
a throw-away PostgreSQL cluster (.ci/pg-up.sh).

    federation.py [--logins 200]

In-process through Django's test client (full middleware stack, sessions in the database):
  * SAML: SP-initiated start, then the IdP's response (RSA-SHA256-signed by xmlsec, built
    outside the timer) is POSTed to /federation/saml/<tenant>/acs/. Timed: the POST.
  * OIDC: start, the local OpenID provider (HTTP, thread) issues a code, then GET
    /federation/oidc/<tenant>/callback/ — timed: the callback, including the token request
    over HTTP to the provider (PKCE verifier, ID token RS256) and JWKS (cached).
  Two series each: "first login" (a new person: user + membership + 20 grants created) and
  "repeat login" (same person; the group set changes by one group each time: one grant
  revoked, one created, 19 kept).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("CUSTOS_VAR_DIR", tempfile.mkdtemp(prefix="custos-bench-"))
os.environ.setdefault("FEDERATION_BASE_URL", "https://custos.example.com")

ROLES = 20


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(name: str, values: list[float], cpu: list[float] | None = None) -> None:
    extra = f"  cpu p50={pct(cpu, 50):6.1f} ms" if cpu else ""
    print(
        f"{name:<34} n={len(values):<4} p50={pct(values, 50):6.1f} ms  "
        f"p90={pct(values, 90):6.1f} ms  p99={pct(values, 99):6.1f} ms  "
        f"mean={statistics.mean(values):6.1f} ms{extra}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument(
        "--profile",
        choices=("saml-first", "saml-repeat", "oidc-repeat"),
        help="instead of the series: cProfile that series and print the top functions",
    )
    parser.add_argument("--sql", action="store_true", help="print the SQL of one login each")
    parser.add_argument(
        "--series", choices=("all", "saml", "oidc"), default="all", help="which sign-ins to time"
    )
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    # The local OpenID provider listens on http://127.0.0.1: let the SSRF guard through for it
    # (a real deployment fetches https:// on public addresses only).
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = True
    settings.FEDERATION_ALLOW_HTTP = True
    from django.db import connection
    from django.test import Client

    from apps.access import services as access_services
    from apps.core.tenancy import tenant_context
    from apps.identity.federation import services as fed
    from apps.identity.models import User
    from apps.tenants import services as tenant_services
    from apps.tenants.models import TenantRole
    from tests.federation.idp import SamlTestIdp
    from tests.federation.op import LocalProvider

    print(f"database: {connection.vendor}; logins per series: {args.logins}; roles: {ROLES}")
    suffix = str(int(time.time()))
    operator = User.objects.create_superuser(
        email=f"op-{suffix}@vendor.test",
        password="bench-password-123456",  # noqa: S106
    )
    tenant = tenant_services.tenant_create(
        actor=operator, slug=f"fed-{suffix}", name="Federation bench"
    )
    admin = User.objects.create_user(email=f"admin-{suffix}@fedbench.test")
    tenant_services.membership_add(
        actor=operator, tenant=tenant, user=admin, role=TenantRole.CUSTOMER_ADMIN
    )
    domain = fed.domain_add(actor=admin, tenant=tenant, domain=f"b{suffix}.test")
    fed.domain_verify(actor=operator, domain=domain)
    idp = SamlTestIdp(entity_id=f"https://idp{suffix}.example.test/saml")
    saml_conn = fed.connection_save(
        actor=admin, tenant=tenant, kind="saml", name="SAML", status="active"
    )
    fed.metadata_import(actor=admin, connection=saml_conn, xml=idp.metadata())
    provider = LocalProvider()
    provider.__enter__()
    oidc_conn = fed.connection_save(
        actor=admin,
        tenant=tenant,
        kind="oidc",
        name="OIDC",
        status="active",
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
    )
    with tenant_context(tenant):
        for i in range(ROLES + 1):
            access_services.role_create(actor=admin, tenant=tenant, key=f"r{i}", name=f"R{i}")
    for conn in (saml_conn, oidc_conn):
        for i in range(ROLES + 1):
            fed.mapping_rule_save(
                actor=admin,
                connection=conn,
                attribute="groups",
                value=f"g{i}",
                target_kind="access_role",
                target=f"r{i}",
            )
    base = os.environ["FEDERATION_BASE_URL"]
    acs = f"{base}/federation/saml/{tenant.slug}/acs/"
    audience = f"{base}/federation/saml/{tenant.slug}/metadata/"

    def groups_for(i: int) -> list[str]:
        # 20 of the 21 groups; which one is missing changes on every login
        return [f"g{k}" for k in range(ROLES + 1) if k != i % (ROLES + 1)]

    def statements_of(action: Any, *args: Any) -> list[str]:
        """The SQL an action runs (not CaptureQueriesContext: the test client's
        request_started signal resets the query log it reads). The tenant-scope set_config
        of each transaction is not counted."""
        seen: list[str] = []

        def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            action(*args)
        return seen

    profiler: Any = None
    cpu: list[float] = []  # CPU time of this process per timed request (load-independent-ish)

    def saml_login(email: str, i: int, *, encrypt: bool = False) -> float:
        client = Client()
        client.get(f"/federation/saml/{tenant.slug}/login/")
        rid = client.session["federation_saml_requests"][-1]
        xml = idp.response(
            acs=acs,
            audience=audience,
            name_id=email,
            in_response_to=rid,
            attributes={"email": [email], "name": ["Bench Person"], "groups": groups_for(i)},
            encrypt_for=saml_conn.sp_certificate if encrypt else None,
        )
        data = {"SAMLResponse": SamlTestIdp.encode(xml)}
        t0, c0 = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        response = client.post(f"/federation/saml/{tenant.slug}/acs/", data)
        if profiler:
            profiler.disable()
        elapsed = (time.perf_counter() - t0) * 1000
        cpu.append((time.process_time() - c0) * 1000)
        assert response.status_code == 302, response.content[:300]
        return elapsed

    def oidc_login(email: str, i: int) -> float:
        client = Client()
        start = client.get(f"/federation/oidc/{tenant.slug}/login/")
        location = start["Location"]
        code = provider.authorize(
            auth_url=location, sub=email, email=email, extra={"groups": groups_for(i)}
        )
        state = parse_qs(urlsplit(location).query)["state"][0]
        t0, c0 = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        response = client.get(
            f"/federation/oidc/{tenant.slug}/callback/", {"code": code, "state": state}
        )
        if profiler:
            profiler.disable()
        elapsed = (time.perf_counter() - t0) * 1000
        cpu.append((time.process_time() - c0) * 1000)
        assert response.status_code == 302, response.content[:300]
        return elapsed

    if args.profile:
        import cProfile
        import pstats

        fn = oidc_login if args.profile.startswith("oidc") else saml_login
        fn(f"warmup@b{suffix}.test", 0)
        profiler = cProfile.Profile(time.process_time)  # CPU time: less noise on a shared machine
        for i in range(args.logins):
            email = (
                f"p{i}@b{suffix}.test" if args.profile.endswith("first") else f"p@b{suffix}.test"
            )
            fn(email, i)  # the timed request inside runs under the profiler
        stats = pstats.Stats(profiler)
        if os.environ.get("PROFILE_OUT"):
            stats.dump_stats(os.environ["PROFILE_OUT"])
        stats.sort_stats("cumulative").print_stats(int(os.environ.get("PROFILE_TOP", "45")))
        stats.sort_stats("tottime").print_stats(25)
        provider.__exit__()
        return

    series = [("SAML ACS", saml_login), ("OIDC callback", oidc_login)]
    if args.series != "all":
        series = [(n, f) for n, f in series if n.lower().startswith(args.series)]
    for name, fn in series:
        fn(f"warmup-{name[:4].lower()}@b{suffix}.test", 0)
        cpu.clear()
        first = [fn(f"{name[:4].lower()}{i}@b{suffix}.test", i) for i in range(args.logins)]
        report(f"{name}: first login (JIT + 20)", first, cpu)
        cpu.clear()
        repeat = [fn(f"{name[:4].lower()}-same@b{suffix}.test", i) for i in range(args.logins)]
        report(f"{name}: repeat login (reconcile)", repeat, cpu)
        first_q = statements_of(fn, f"{name[:4].lower()}-q@b{suffix}.test", 1)
        repeat_q = statements_of(fn, f"{name[:4].lower()}-q@b{suffix}.test", 2)
        print(f"{name}: SQL per login incl. start: first {len(first_q)}, repeat {len(repeat_q)}")
        if args.sql:
            for label, captured in (("first", first_q), ("repeat", repeat_q)):
                print(f"  -- {name}, {label} login:")
                for sql in captured:
                    print("    ", sql[:160])
        if name == "SAML ACS":
            cpu.clear()
            encrypted = [
                saml_login(f"saml-same@b{suffix}.test", i, encrypt=True) for i in range(args.logins)
            ]
            report("SAML ACS: repeat login, encrypted", encrypted, cpu)
    provider.__exit__()


if __name__ == "__main__":
    main()
