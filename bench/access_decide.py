# ruff: noqa: E501, PERF401 — report lines and policy text read best unwrapped; loops build data
"""Access decisions: apps.access.engine.decide() side by side with cedarpy and casbin.

One realistic policy set (100 roles x 10 entitlements, 1,000 users, 200 environments, 50 ABAC
rules including data residency with customer-approved exceptions, MFA, risk, attestations and
time of day in the tenant's zone, 20 SoD rules enforced at grant time) is written to the
database through the real models and services, and expressed once more for Cedar (policies and
entities pre-parsed once: its fastest use) and for Casbin (FastEnforcer for the grants, an ABAC
enforcer for the rules). All three answer the same queries; every decision is compared.

Mid-run a grant is revoked and a rule edited through the services: the engine's next decision
reflects it (version-keyed cache), Cedar and Casbin are rebuilt, and the run is compared again.

Run: bench/run_access_decide.sh  (PostgreSQL via .ci/pg-up.sh). Options: --queries N --seed N
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django

django.setup()

from django.db import transaction  # noqa: E402

from apps.access import engine, services  # noqa: E402
from apps.access.engine import Context  # noqa: E402
from apps.access.models import (  # noqa: E402
    Entitlement,
    Grant,
    PolicyException,
    Role,
    RoleEntitlement,
)
from apps.access.rules import MFA_RANK  # noqa: E402
from apps.core.tenancy import tenant_context  # noqa: E402
from apps.identity.models import User, UserKind  # noqa: E402
from apps.tenants.models import Environment, Tenant  # noqa: E402

LEVELS = ("read", "write", "admin", "export", "operate")
IMPLIES = engine.LEVEL_IMPLIES
REGIONS = ("eu", "us", "apac", "uk")
SENS = ("public", "internal", "confidential", "restricted")
KINDS = ("application", "dataset", "workspace")
FLAGS = ("hipaa", "pci", "sox", "gdpr")
TZ = ZoneInfo("Europe/Berlin")
BIG = 2**62  # "no expiry" for Cedar/Casbin (Cedar has no infinity)


# --- the policy set (plain data, shared by the three encodings) --------------------------------


def generate(rng: random.Random, now: datetime) -> dict[str, Any]:
    envs = [
        {
            "i": i,
            "slug": f"env-{i:03d}",
            "region": rng.choice(REGIONS),
            "sensitivity": rng.choice(SENS),
            "kind": rng.choice(KINDS),
        }
        for i in range(200)
    ]
    ents = [(e["i"], lv) for e in envs for lv in LEVELS]  # 1,000 entitlements (index = id)
    roles = [rng.sample(range(len(ents)), 10) for _ in range(100)]
    # ABAC rules: 5 shapes, parameters varied, 50 in all.
    rules: list[dict[str, Any]] = []
    for region in REGIONS:  # data residency (4)
        rules.append({"shape": "residency", "key": f"residency-{region}", "region": region})
    for n in range(12):  # MFA by sensitivity and action
        rules.append(
            {
                "shape": "mfa",
                "key": f"mfa-{n}",
                "sensitivity": SENS[n % 4],
                "actions": sorted(rng.sample(LEVELS, 2)),
                "level": rng.choice(("backup_code", "totp", "webauthn")),
            }
        )
    for n in range(12):  # risk score by environment kind
        rules.append(
            {
                "shape": "risk",
                "key": f"risk-{n}",
                "kind": KINDS[n % 3],
                "below": rng.choice((60, 70, 80, 90)),
            }
        )
    for n in range(12):  # compliance attestations for named environments
        rules.append(
            {
                "shape": "attest",
                "key": f"attest-{n}",
                "slugs": sorted(rng.sample([e["slug"] for e in envs], 8)),
                "flag": FLAGS[n % 4],
            }
        )
    for n in range(10):  # time of day in the tenant's zone
        lo = rng.choice((5, 6, 7, 8))
        rules.append(
            {
                "shape": "hours",
                "key": f"hours-{n}",
                "sensitivity": SENS[n % 4],
                "actions": sorted(rng.sample(("write", "admin", "export", "operate"), 2)),
                "from": lo,
                "to": lo + rng.choice((10, 12, 14)),
            }
        )
    assert len(rules) == 50
    # SoD: 20 pairs of entitlements that must not be held together (deny at grant time).
    sod = [tuple(rng.sample(range(len(ents)), 2)) for _ in range(20)]
    users = [{"i": i, "vendor": i % 10 == 0} for i in range(1000)]  # 100 vendor staff
    waivers = {u["i"]: {"residency-eu"} for u in users if u["vendor"] and rng.random() < 0.2}
    role_ents = {r: set(es) for r, es in enumerate(roles)}
    grants: list[dict[str, Any]] = []
    for u in users:
        held: set[int] = set()
        targets: list[tuple[str, int]] = [
            ("role", r) for r in rng.sample(range(100), rng.randint(1, 3))
        ]
        targets += [("ent", e) for e in rng.sample(range(len(ents)), rng.randint(0, 2))]
        for kind, ref in targets:
            members = role_ents[ref] if kind == "role" else {ref}
            if any((a in held | members) and (b in held | members) for a, b in sod):
                continue  # grant_create would refuse it (SoD deny)
            held |= members
            if u["vendor"] or rng.random() < 0.3:
                starts = now + timedelta(hours=rng.uniform(-48, 6))
                expires = starts + timedelta(hours=rng.uniform(1, 12))
            else:
                starts, expires = now - timedelta(days=30), None
            grants.append(
                {"user": u["i"], "kind": kind, "ref": ref, "starts": starts, "expires": expires}
            )
    return {
        "envs": envs,
        "ents": ents,
        "roles": roles,
        "rules": rules,
        "sod": sod,
        "users": users,
        "waivers": waivers,
        "grants": grants,
    }


def rule_json(rule: dict[str, Any]) -> dict[str, Any]:
    """The engine's rule language (apps/access/rules.py)."""
    shape = rule["shape"]
    if shape == "residency":
        return {
            "applies": {
                "all": [
                    {"attr": "environment.region", "op": "eq", "value": rule["region"]},
                    {"attr": "subject.is_vendor_staff", "op": "eq", "value": True},
                ]
            },
            "require": {
                "attr": "context.location_region",
                "op": "eq",
                "attr2": "environment.region",
            },
        }
    if shape == "mfa":
        return {
            "applies": {
                "all": [
                    {"attr": "environment.sensitivity", "op": "eq", "value": rule["sensitivity"]},
                    {"attr": "action", "op": "in", "value": rule["actions"]},
                ]
            },
            "require": {"attr": "context.mfa_level", "op": "gte", "value": rule["level"]},
        }
    if shape == "risk":
        return {
            "applies": {"attr": "environment.kind", "op": "eq", "value": rule["kind"]},
            "require": {"attr": "context.risk_score", "op": "lt", "value": rule["below"]},
        }
    if shape == "attest":
        return {
            "applies": {"attr": "environment.slug", "op": "in", "value": rule["slugs"]},
            "require": {"attr": "context.attested", "op": "contains", "value": rule["flag"]},
        }
    return {
        "applies": {
            "all": [
                {"attr": "action", "op": "in", "value": rule["actions"]},
                {"attr": "environment.sensitivity", "op": "eq", "value": rule["sensitivity"]},
            ]
        },
        "require": {
            "attr": "context.local_hour",
            "op": "between",
            "value": [rule["from"], rule["to"]],
        },
    }


# --- 1. the database (real models; rules, SoD rules, exceptions through the services) ---------


def load_database(data: dict[str, Any]) -> dict[str, Any]:
    operator = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser(
        email="bench-operator@vendor.test", password=None
    )
    tenant, _ = Tenant.objects.get_or_create(
        slug="bench-decide",
        defaults={
            "name": "Bench decide",
            "tier": "enterprise",
            "region": "eu",
            "time_zone": TZ.key,
        },
    )
    with tenant_context(tenant), transaction.atomic():
        envs = Environment.objects.bulk_create(
            [
                Environment(
                    tenant=tenant,
                    slug=e["slug"],
                    name=e["slug"],
                    region=e["region"],
                    sensitivity=e["sensitivity"],
                    kind=e["kind"],
                )
                for e in data["envs"]
            ]
        )
        ents = Entitlement.objects.bulk_create(
            [
                Entitlement(
                    tenant=tenant,
                    environment=envs[env_i],
                    level=level,
                    risk="low",
                    name=f"{envs[env_i].slug}-{level}",
                )
                for env_i, level in data["ents"]
            ]
        )
        roles = Role.objects.bulk_create(
            [
                Role(tenant=tenant, key=f"role-{r}", name=f"Role {r}")
                for r in range(len(data["roles"]))
            ]
        )
        RoleEntitlement.objects.bulk_create(
            [
                RoleEntitlement(tenant=tenant, role=roles[r], entitlement=ents[e])
                for r, members in enumerate(data["roles"])
                for e in members
            ]
        )
        users = User.objects.bulk_create(
            [
                User(
                    email=f"bench-user-{u['i']}@example.test",
                    kind=UserKind.STAFF if u["vendor"] else UserKind.CUSTOMER,
                    password="!",  # noqa: S106 — an unusable password marker
                )
                for u in data["users"]
            ]
        )
        grants = Grant.objects.bulk_create(
            [
                Grant(
                    tenant=tenant,
                    user=users[g["user"]],
                    entitlement=ents[g["ref"]] if g["kind"] == "ent" else None,
                    role=roles[g["ref"]] if g["kind"] == "role" else None,
                    source="request" if g["expires"] else "idp_mapping",
                    starts_at=g["starts"],
                    expires_at=g["expires"],
                    ends_at_due=g["expires"],
                )
                for g in data["grants"]
            ]
        )
        for rule in data["rules"]:
            services.policy_rule_save(
                actor=operator,
                tenant=tenant,
                key=rule["key"],
                name=rule["key"],
                conditions=rule_json(rule),
            )
        for n, (a, b) in enumerate(data["sod"]):
            services.sod_rule_save(
                actor=operator,
                tenant=tenant,
                key=f"sod-{n}",
                name=f"SoD {n}",
                entitlements=[ents[a], ents[b]],
            )
        PolicyException.objects.bulk_create(
            [
                PolicyException(tenant=tenant, rule_key=key, user=users[i], reason="bench")
                for i, keys in data["waivers"].items()
                for key in keys
            ]
        )
        services.policy_version_bump(tenant=tenant)
    return {"tenant": tenant, "operator": operator, "envs": envs, "users": users, "grants": grants}


# --- 2. Cedar -----------------------------------------------------------------------------------


def cedar_build(data: dict[str, Any], revoked: set[int]) -> tuple[Any, Any, float]:
    import cedarpy

    t0 = time.perf_counter()
    windows: dict[int, dict[str, dict[str, int]]] = {}
    for gi, g in enumerate(data["grants"]):
        if gi in revoked:
            continue
        key = f"{'r' if g['kind'] == 'role' else 'e'}{g['ref']}"
        windows.setdefault(g["user"], {})[key] = {
            "s": int(g["starts"].timestamp()),
            "e": int(g["expires"].timestamp()) if g["expires"] else BIG,
        }
    entities = [
        {
            "uid": {"type": "User", "id": str(u["i"])},
            "attrs": {
                "vendor": u["vendor"],
                "win": windows.get(u["i"], {}),
                "waivers": sorted(data["waivers"].get(u["i"], ())),
            },
            "parents": [],
        }
        for u in data["users"]
    ] + [
        {
            "uid": {"type": "Env", "id": str(e["i"])},
            "attrs": {
                "region": e["region"],
                "sensitivity": e["sensitivity"],
                "kind": e["kind"],
                "slug": e["slug"],
            },
            "parents": [],
        }
        for e in data["envs"]
    ]
    ent_roles: dict[int, list[int]] = {}
    for r, members in enumerate(data["roles"]):
        for e in members:
            ent_roles.setdefault(e, []).append(r)
    policies = []
    for ent_id, (env_i, level) in enumerate(data["ents"]):
        paths = [f"e{ent_id}"] + [f"r{r}" for r in ent_roles.get(ent_id, [])]
        active = " || ".join(
            f'(principal.win has "{p}" && principal.win["{p}"].s <= context.now && '
            f'context.now < principal.win["{p}"].e)'
            for p in paths
        )
        actions = ", ".join(f'Action::"{a}"' for a in sorted(IMPLIES[level]))
        policies.append(
            f'permit(principal, action in [{actions}], resource == Env::"{env_i}") when {{ {active} }};'
        )
    for rule in data["rules"]:
        policies.append(cedar_rule(rule))
    policy_set = cedarpy.PolicySet.from_str("\n".join(policies))
    ents = cedarpy.Entities.from_json_str(json.dumps(entities))
    return policy_set, ents, time.perf_counter() - t0


def cedar_rule(rule: dict[str, Any]) -> str:
    shape = rule["shape"]
    if shape == "residency":
        return (
            f'forbid(principal, action, resource) when {{ resource.region == "{rule["region"]}" && '
            f"principal.vendor }} unless {{ context.loc == resource.region || "
            f'principal.waivers.contains("{rule["key"]}") }};'
        )
    if shape == "mfa":
        acts = ", ".join(f'Action::"{a}"' for a in rule["actions"])
        return (
            f"forbid(principal, action in [{acts}], resource) when {{ resource.sensitivity == "
            f'"{rule["sensitivity"]}" }} unless {{ context.mfa >= {MFA_RANK[rule["level"]]} }};'
        )
    if shape == "risk":
        return (
            f'forbid(principal, action, resource) when {{ resource.kind == "{rule["kind"]}" }} '
            f"unless {{ context.risk < {rule['below']} }};"
        )
    if shape == "attest":
        slugs = ", ".join(f'"{s}"' for s in rule["slugs"])
        return (
            f"forbid(principal, action, resource) when {{ [{slugs}].contains(resource.slug) }} "
            f'unless {{ context.attested.contains("{rule["flag"]}") }};'
        )
    acts = ", ".join(f'Action::"{a}"' for a in rule["actions"])
    lo, hi = rule["from"], rule["to"]
    inside = (
        f"(context.hour >= {lo} && context.hour < {hi})"
        if lo <= hi
        else f"(context.hour >= {lo} || context.hour < {hi})"
    )
    return (
        f"forbid(principal, action in [{acts}], resource) when {{ resource.sensitivity == "
        f'"{rule["sensitivity"]}" }} unless {{ {inside} }};'
    )


# --- 3. Casbin ----------------------------------------------------------------------------------

CASBIN_RBAC = """
[request_definition]
r = sub, obj, act, now
[policy_definition]
p = sub, obj, act, start, end
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = r.sub == p.sub && r.obj == p.obj && r.act == p.act && num(p.start) <= r.now && r.now < num(p.end)
"""
# A request is denied when any ABAC rule "fires" (applies and its requirement fails).
CASBIN_ABAC = """
[request_definition]
r = sub, obj, act, ctx
[policy_definition]
p = rule
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = eval(p.rule)
"""


def casbin_rule(rule: dict[str, Any]) -> str:
    shape = rule["shape"]
    if shape == "residency":
        return (
            f"r.obj.region == '{rule['region']}' && r.sub.vendor && r.ctx.loc != r.obj.region "
            f"&& !('{rule['key']}' in r.sub.waivers)"
        )
    if shape == "mfa":
        acts = repr(tuple(rule["actions"]))
        return (
            f"r.obj.sensitivity == '{rule['sensitivity']}' && r.act in {acts} "
            f"&& r.ctx.mfa < {MFA_RANK[rule['level']]}"
        )
    if shape == "risk":
        return f"r.obj.kind == '{rule['kind']}' && r.ctx.risk >= {rule['below']}"
    if shape == "attest":
        return f"r.obj.slug in {tuple(rule['slugs'])!r} && !('{rule['flag']}' in r.ctx.attested)"
    acts = repr(tuple(rule["actions"]))
    lo, hi = rule["from"], rule["to"]
    return (
        f"r.act in {acts} && r.obj.sensitivity == '{rule['sensitivity']}' "
        f"&& !(r.ctx.hour >= {lo} && r.ctx.hour < {hi})"
    )


class Obj:
    """Casbin ABAC reads request attributes as object attributes."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


def casbin_build(data: dict[str, Any], revoked: set[int], tmp: Path) -> tuple[Any, Any, float]:
    import casbin

    t0 = time.perf_counter()
    (tmp / "rbac.conf").write_text(CASBIN_RBAC)
    (tmp / "abac.conf").write_text(CASBIN_ABAC)
    lines = []
    for gi, g in enumerate(data["grants"]):
        if gi in revoked:
            continue
        members = data["roles"][g["ref"]] if g["kind"] == "role" else [g["ref"]]
        start = g["starts"].timestamp()
        end = g["expires"].timestamp() if g["expires"] else float(BIG)
        for ent_id in members:
            env_i, level = data["ents"][ent_id]
            for act in sorted(IMPLIES[level]):
                lines.append(f"p, u{g['user']}, e{env_i}, {act}, {start!r}, {end!r}")
    (tmp / "rbac.csv").write_text("\n".join(lines) + "\n")
    # Commas inside the rules sit in parentheses, which Casbin's line parser keeps together.
    (tmp / "abac.csv").write_text("\n".join(f"p, {casbin_rule(r)}" for r in data["rules"]) + "\n")
    rbac = casbin.FastEnforcer(
        str(tmp / "rbac.conf"), str(tmp / "rbac.csv"), cache_key_order=[0, 1]
    )
    rbac.add_function("num", float)
    abac = casbin.Enforcer(str(tmp / "abac.conf"), str(tmp / "abac.csv"))
    return rbac, abac, time.perf_counter() - t0


# --- queries --------------------------------------------------------------------------------------


def make_queries(
    data: dict[str, Any], rng: random.Random, now: datetime, n: int
) -> list[dict[str, Any]]:
    by_user: dict[int, list[int]] = {}
    for g in data["grants"]:
        members = data["roles"][g["ref"]] if g["kind"] == "role" else [g["ref"]]
        by_user.setdefault(g["user"], []).extend(data["ents"][m][0] for m in members)
    queries = []
    for _ in range(n):
        user = rng.randrange(1000)
        env = (
            rng.choice(by_user[user])
            if by_user.get(user) and rng.random() < 0.7
            else rng.randrange(200)
        )
        at = now + timedelta(hours=rng.uniform(-2, 8))
        env_region = data["envs"][env]["region"]
        queries.append(
            {
                "user": user,
                "env": env,
                # half the time an action the user's grants could give, else any action
                "action": rng.choice(("read", "write") if rng.random() < 0.5 else LEVELS),
                "now": at,
                # mostly well-behaved traffic: located where the data is, strong MFA, low risk
                "loc": env_region if rng.random() < 0.8 else rng.choice(REGIONS),
                "mfa": rng.choices(("none", "backup_code", "totp", "webauthn"), (5, 10, 70, 15))[0],
                "risk": min(99, int(rng.expovariate(1 / 15))),
                "attested": frozenset(f for f in FLAGS if rng.random() < 0.85),
            }
        )
    return queries


def prepare(queries: list[dict[str, Any]], db: dict[str, Any], data: dict[str, Any]) -> None:
    env_facts = {
        e["i"]: Obj(
            region=e["region"], sensitivity=e["sensitivity"], kind=e["kind"], slug=e["slug"]
        )
        for e in data["envs"]
    }
    user_facts = {
        u["i"]: Obj(vendor=u["vendor"], waivers=frozenset(data["waivers"].get(u["i"], ())))
        for u in data["users"]
    }
    for q in queries:
        ts = q["now"].timestamp()
        hour = q["now"].astimezone(TZ).hour
        q["engine"] = (
            db["users"][q["user"]],
            q["action"],
            db["envs"][q["env"]],
            Context(
                now=q["now"],
                mfa_level=q["mfa"],
                location_region=q["loc"],
                risk_score=q["risk"],
                attested=q["attested"],
            ),
        )
        q["cedar"] = {
            "principal": {"type": "User", "id": str(q["user"])},
            "action": {"type": "Action", "id": q["action"]},
            "resource": {"type": "Env", "id": str(q["env"])},
            "context": {
                "now": int(ts),
                "loc": q["loc"],
                "mfa": MFA_RANK[q["mfa"]],
                "risk": q["risk"],
                "attested": sorted(q["attested"]),
                "hour": hour,
            },
        }
        q["casbin_rbac"] = (f"u{q['user']}", f"e{q['env']}", q["action"], ts)
        q["casbin_abac"] = (
            user_facts[q["user"]],
            env_facts[q["env"]],
            q["action"],
            Obj(
                loc=q["loc"],
                mfa=MFA_RANK[q["mfa"]],
                risk=q["risk"],
                attested=q["attested"],
                hour=hour,
            ),
        )


# --- timing ---------------------------------------------------------------------------------------


def time_engine(queries: list[dict[str, Any]], rounds: int) -> tuple[list[bool], list[int], float]:
    decide = engine.decide
    args = [q["engine"] for q in queries]
    for a in args:  # warm: compile + per-(environment, action) rule memo
        decide(*a)
    samples: list[int] = []
    clock = time.perf_counter_ns
    gc.disable()
    for _ in range(rounds):
        for a in args:
            t0 = clock()
            decide(*a)
            samples.append(clock() - t0)
    # Throughput: best of 5 passes (timeit's convention: the machine is shared, and the best pass
    # is the one least disturbed by other processes).
    elapsed = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(rounds):
            for a in args:
                decide(*a)
        elapsed = min(elapsed, time.perf_counter() - t0)
    gc.enable()
    results = [decide(*a).allowed for a in args]
    return results, samples, (len(args) * rounds) / elapsed


def time_cedar(
    queries: list[dict[str, Any]], policies: Any, entities: Any
) -> tuple[list[bool], list[int], float]:
    import cedarpy

    reqs = [q["cedar"] for q in queries]
    cedarpy.is_authorized(reqs[0], policies, entities)
    samples, results = [], []
    clock = time.perf_counter_ns
    for req in reqs:
        t0 = clock()
        result = cedarpy.is_authorized(req, policies, entities)
        samples.append(clock() - t0)
        results.append(result.allowed)
    t0 = time.perf_counter()
    batch = cedarpy.is_authorized_batch(reqs, policies, entities)
    batch_rate = len(reqs) / (time.perf_counter() - t0)
    assert [r.allowed for r in batch] == results
    return results, samples, batch_rate


def time_casbin(
    queries: list[dict[str, Any]], rbac: Any, abac: Any
) -> tuple[list[bool], list[int], float]:
    samples, results = [], []
    clock = time.perf_counter_ns
    t_all = time.perf_counter()
    for q in queries:
        t0 = clock()
        allowed = rbac.enforce(*q["casbin_rbac"]) and not abac.enforce(*q["casbin_abac"])
        samples.append(clock() - t0)
        results.append(allowed)
    rate = len(queries) / (time.perf_counter() - t_all)
    return results, samples, rate


def pct(samples: list[int], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] / 1000


def compare(name: str, ours: list[bool], theirs: list[bool], queries: list[dict[str, Any]]) -> None:
    diffs = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
    if diffs:
        q = queries[diffs[0]]
        detail = engine.decide(*q["engine"])
        print(
            f"MISMATCH engine vs {name}: {len(diffs)} of {len(ours)}; first {q['user']=} "
            f"{q['env']=} {q['action']=} engine={ours[diffs[0]]} {name}={theirs[diffs[0]]} "
            f"reasons={[r.ref for r in detail.reasons]}"
        )
        raise SystemExit(1)


def report(label: str, samples: list[int], rate: float) -> dict[str, float]:
    p50, p95, p99 = pct(samples, 0.5), pct(samples, 0.95), pct(samples, 0.99)
    print(
        f"  {label:<34} p50 {p50:9.2f} µs   p95 {p95:9.2f} µs   p99 {p99:9.2f} µs   {rate:12,.0f} decisions/s"
    )
    return {"p50": p50, "rate": rate}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument(
        "--rounds", type=int, default=20, help="engine timing rounds over the queries"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    now = datetime.now(UTC).replace(microsecond=0)
    data = generate(rng, now)
    t0 = time.perf_counter()
    db = load_database(data)
    print(
        f"policy set: {len(data['envs'])} environments, {len(data['ents'])} entitlements, "
        f"{len(data['roles'])} roles x 10, {len(data['users'])} users "
        f"({sum(u['vendor'] for u in data['users'])} vendor staff), {len(data['grants'])} grants, "
        f"{len(data['rules'])} ABAC rules, {len(data['sod'])} SoD rules, "
        f"{sum(len(v) for v in data['waivers'].values())} residency exceptions "
        f"(loaded in {time.perf_counter() - t0:.1f} s)"
    )
    queries = make_queries(data, rng, now, args.queries)
    prepare(queries, db, data)
    tmp = Path(tempfile.mkdtemp(prefix="custos-bench-casbin-"))

    t0 = time.perf_counter()
    engine.cache_invalidate()
    engine.state_for(db["tenant"])
    compile_s = time.perf_counter() - t0
    policies, entities, cedar_s = cedar_build(data, set())
    rbac, abac, casbin_s = casbin_build(data, set(), tmp)
    print(
        f"build: engine compile {compile_s * 1000:.0f} ms, cedar parse {cedar_s * 1000:.0f} ms, "
        f"casbin load {casbin_s * 1000:.0f} ms"
    )

    ours, samples, rate = time_engine(queries, args.rounds)
    cedar, c_samples, c_rate = time_cedar(queries, policies, entities)
    cas, k_samples, k_rate = time_casbin(queries, rbac, abac)
    compare("cedar", ours, cedar, queries)
    compare("casbin", ours, cas, queries)
    allowed = sum(ours)
    print(
        f"run 1: {len(queries)} queries, {allowed} allowed / {len(queries) - allowed} denied — "
        "identical decisions in all three"
    )
    e = report("engine.decide (warm)", samples, rate)
    c = report("cedarpy is_authorized (batch rate)", c_samples, c_rate)
    k = report("casbin enforce (rbac + abac)", k_samples, k_rate)
    print(
        f"  ratios (p50): cedar/engine {c['p50'] / e['p50']:.1f}x, casbin/engine {k['p50'] / e['p50']:.1f}x"
    )

    # --- change mid-run: revoke a grant and tighten a rule through the services ------------------
    target = next(i for i, q in enumerate(queries) if ours[i])
    q = queries[target]
    grant_index = next(
        gi
        for gi, g in enumerate(data["grants"])
        if g["user"] == q["user"]
        and engine.decide(*q["engine"]).reasons[0].ref == f"grant:{db['grants'][gi].pk}"
    )
    t0 = time.perf_counter()
    services.grant_revoke(
        actor=db["operator"], grant=db["grants"][grant_index], reason="bench change"
    )
    risk_rule = next(r for r in data["rules"] if r["shape"] == "risk")
    risk_rule["below"] = 30  # stricter: every request with risk >= 30 on that kind is denied now
    services.policy_rule_save(
        actor=db["operator"],
        tenant=db["tenant"],
        key=risk_rule["key"],
        name=risk_rule["key"],
        conditions=rule_json(risk_rule),
    )
    change_ms = (time.perf_counter() - t0) * 1000
    first_after = engine.decide(*q["engine"])
    assert (
        not first_after.allowed
        or first_after.reasons[0].ref != f"grant:{db['grants'][grant_index].pk}"
    )
    t0 = time.perf_counter()
    ours2, samples2, rate2 = time_engine(queries, max(1, args.rounds // 4))
    policies, entities, cedar_s = cedar_build(data, {grant_index})
    rbac, abac, casbin_s = casbin_build(data, {grant_index}, tmp)
    cedar2, _c2, _c_rate2 = time_cedar(queries, policies, entities)
    cas2, _k2, _k_rate2 = time_casbin(queries, rbac, abac)
    compare("cedar", ours2, cedar2, queries)
    compare("casbin", ours2, cas2, queries)
    flipped = sum(1 for a, b in zip(ours, ours2, strict=True) if a != b)
    print(
        f"run 2 (after revoking grant and editing rule {risk_rule['key']} via the services, "
        f"{change_ms:.0f} ms): the very next decision reflected it; {flipped} decisions changed; "
        f"identical decisions in all three; rebuild cedar {cedar_s * 1000:.0f} ms, casbin {casbin_s * 1000:.0f} ms"
    )
    report("engine.decide (warm, after change)", samples2, rate2)
    ok = e["p50"] <= 10 and e["rate"] >= 100_000
    print(
        f"targets: p50 <= 10 µs and >= 100,000 decisions/s on one core: {'MET' if ok else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
