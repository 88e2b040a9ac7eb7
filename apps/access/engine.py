"""The policy engine: `decide(subject, action, environment, context) -> Decision`.

RBAC from grants (a role grant expands to its entitlements; a permission level implies the
weaker ones it contains), then separation-of-duties deny rules the subject's holdings break,
then the tenant's ABAC rules (apps.access.rules) — all evaluated against plain Python
structures compiled once per tenant and cached in this process.

Caching and invalidation (docs/access-model.md, "Decision cache"):

* A tenant's compiled state is keyed by its `PolicyVersion.counter` (bumped in the same
  transaction as any change to grants, catalog or rules) and the tenant's status.
* In the process that made a change the cached state is dropped at once (the bump marks it
  dirty, and again on commit), so the next decision recompiles.
* Other processes check the counter with one indexed query at most once per HTTP request
  (keyed by the request id) and, outside requests (workers, shells, the benchmark), at most
  every ACCESS_POLICY_RECHECK_SECONDS (default 1 s).
* Time is never cached: `starts_at`/`expires_at` are compared with the decision's `now`, so an
  expired grant is inactive whether or not the sweeper has run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from datetime import UTC, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.utils.translation import gettext, gettext_noop

from apps.access.rules import MFA_RANK, CompiledRule, rule_compile
from apps.core.exceptions import DomainError
from apps.core.requestcontext import current_request_info
from apps.core.tenancy import unscoped

# Which actions each permission level allows.
LEVEL_IMPLIES: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "write": frozenset({"write", "read"}),
    "admin": frozenset({"admin", "write", "read", "operate"}),
    "export": frozenset({"export", "read"}),
    "operate": frozenset({"operate", "read"}),
}
ACTIONS = frozenset(LEVEL_IMPLIES)
INF = float("inf")
PAST_WINDOW = 86400.0  # seconds of expired grants kept in the compiled state


class Reason:
    """Why a decision went the way it did. `kind`: grant | abac | sod | default. The message is
    rendered (translated) only when read, so decisions nobody explains cost nothing extra."""

    __slots__ = ("_params", "_raw", "_text", "kind", "ref")

    def __init__(
        self,
        kind: str,
        ref: str,
        text: str,
        params: dict[str, Any] | None = None,
        *,
        raw: bool = False,
    ) -> None:
        self.kind = kind
        self.ref = ref
        self._text = text
        self._params = params
        self._raw = raw

    @property
    def message(self) -> str:
        text = self._text if self._raw else gettext(self._text)
        return text % self._params if self._params else text

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "ref": self.ref, "message": self.message}

    def __repr__(self) -> str:
        return f"Reason({self.kind!r}, {self.ref!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reason) and (self.kind, self.ref) == (other.kind, other.ref)

    def __hash__(self) -> int:
        return hash((self.kind, self.ref))


class _GrantReason(Reason):
    """The allowing grant: built on the hot path, so its ref and message are made on demand."""

    __slots__ = ("_path",)

    def __init__(self, path: Any, action: str, env_name: str) -> None:
        self.kind = "grant"
        self._path = path
        self._text = _R_GRANT
        self._params = (action, env_name)  # type: ignore[assignment]
        self._raw = False

    @property
    def ref(self) -> str:  # type: ignore[override]
        return f"grant:{self._path[3]}"

    @property
    def message(self) -> str:
        action, env_name = self._params  # type: ignore[misc]
        return gettext(self._text) % {
            "grant": self._path[3],
            "via": self._path[5],
            "action": action,
            "env": env_name,
        }


class Decision(NamedTuple):
    allowed: bool
    reasons: tuple[Reason, ...]

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True, slots=True)
class Context:
    """What the caller knows about the attempt. All optional; `mfa_level` accepts a name
    (none, backup_code, totp, webauthn) or its rank."""

    now: datetime | None = None
    mfa_level: Any = 0
    location_region: str = ""
    location_country: str = ""
    risk_score: float = 0.0
    attested: frozenset[str] = frozenset()
    ip: str = ""
    purpose: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.mfa_level, str):
            object.__setattr__(self, "mfa_level", MFA_RANK.get(self.mfa_level, 0))
        if not isinstance(self.attested, frozenset):
            object.__setattr__(self, "attested", frozenset(self.attested or ()))


class _ClockContext:
    """The context facts used when the caller gives none (now = the decision's time)."""

    __slots__ = ("now",)
    mfa_level = 0
    location_region = ""
    location_country = ""
    risk_score = 0.0
    attested: frozenset[str] = frozenset()
    ip = ""
    purpose = ""

    def __init__(self, now: datetime) -> None:
        self.now = now


class _NonPersonFacts:
    __slots__ = ("kind",)
    is_vendor_staff = False
    country = ""
    staff_role = ""

    def __init__(self, kind: str) -> None:
        self.kind = kind


class EngineInputError(DomainError):
    status_code = 400


# --- compiled state ------------------------------------------------------------------------------


@dataclass(slots=True)
class TenantFacts:
    tier: str
    region: str
    data_residency: str
    status: str
    name: str


@dataclass(slots=True)
class EnvFacts:
    pk: int
    slug: str
    name: str
    region: str
    sensitivity: str
    kind: str
    on_premises: bool


# (actions, starts_ts, expires_ts, grant_id, entitlement_id, via) — a tuple: fastest to scan.
Path = tuple[frozenset[str], float, float, int, int, str]


@dataclass(slots=True)
class TenantState:
    tenant_id: int
    version: int
    stamp: str
    status: str
    tenant: TenantFacts
    tz: ZoneInfo
    envs: dict[int, EnvFacts]
    users: dict[int, dict[int, tuple[Path, ...]]]
    service_accounts: dict[int, dict[int, tuple[Path, ...]]]
    api_keys: dict[int, dict[int, tuple[Path, ...]]]
    holdings: dict[tuple[str, int], tuple[frozenset[int], frozenset[int]]]
    rules: tuple[CompiledRule, ...]
    sod_rules: tuple[Any, ...]
    role_ents: dict[int, frozenset[int]]
    exceptions: dict[str, tuple[tuple[int | None, int | None, float], ...]]
    attestations: dict[int, tuple[tuple[str, float], ...]]
    applicable: dict[tuple[int, str], tuple[CompiledRule, ...]] = field(default_factory=dict)
    sod_memo: dict[tuple[str, int], tuple[frozenset[int], tuple[Any, ...]]] = field(
        default_factory=dict
    )
    checked_rid: str = ""
    checked_at: float = 0.0
    recheck: float = 1.0
    dirty: bool = False


_STATE: dict[int, TenantState] = {}
_ENV_TENANT: dict[int, int] = {}


def cache_invalidate(tenant_id: int | None = None) -> None:
    """Drop compiled state (one tenant, or all). Called by `policy_version_bump`."""
    if tenant_id is None:
        for state in _STATE.values():
            state.dirty = True
        _STATE.clear()
        return
    dropped: TenantState | None = _STATE.pop(tenant_id, None)  # type: ignore[arg-type]
    if dropped is not None:
        dropped.dirty = True


def _recheck_seconds() -> float:
    return float(getattr(settings, "ACCESS_POLICY_RECHECK_SECONDS", 1.0))


_VERSION_SQL = (
    "SELECT t.status, v.counter, v.stamp FROM tenants_tenant t "
    "LEFT JOIN access_policyversion v ON v.tenant_id = t.id WHERE t.id = %s"
)


def _read_version(tenant_id: int) -> tuple[str, int, str] | None:
    with (
        unscoped(reason="policy engine: read the tenant's policy version"),
        connection.cursor() as cursor,
    ):
        cursor.execute(_VERSION_SQL, [tenant_id])
        row = cursor.fetchone()
    if row is None:
        return None
    return str(row[0]), int(row[1] or 0), str(row[2] or "")


def _ts(value: datetime | None, default: float) -> float:
    return value.timestamp() if value is not None else default


def _compile(tenant_id: int) -> TenantState:
    from apps.access.models import (
        ComplianceAttestation,
        Entitlement,
        Grant,
        PolicyException,
        PolicyRule,
        RoleEntitlement,
    )
    from apps.access.sod import sod_rules_load
    from apps.tenants.models import Environment, Tenant

    now_ts = time.time()
    with unscoped(reason="policy engine: compile one tenant's policy"):
        version = _read_version(tenant_id)
        if version is None:
            raise EngineInputError(gettext("Unknown tenant."), code="unknown_tenant")
        status, counter, stamp = version
        tenant = Tenant.objects.get(pk=tenant_id)
        try:
            tz = ZoneInfo(tenant.time_zone or "UTC")
        except Exception:  # a bad zone name must not stop decisions
            tz = ZoneInfo("UTC")
        envs = {
            e.pk: EnvFacts(
                e.pk, e.slug, e.name, e.region, e.sensitivity, e.kind, bool(e.on_premises)
            )
            for e in Environment.objects.for_tenant(tenant_id)
        }
        for env_id in envs:
            _ENV_TENANT[env_id] = tenant_id
        ents = {
            pk: (env_id, level)
            for pk, env_id, level in Entitlement.objects.for_tenant(tenant_id).values_list(
                "pk", "environment_id", "level"
            )
        }
        role_ents_sets: dict[int, set[int]] = {}
        for role_id, ent_id in RoleEntitlement.objects.for_tenant(tenant_id).values_list(
            "role_id", "entitlement_id"
        ):
            role_ents_sets.setdefault(role_id, set()).add(ent_id)
        role_ents = {k: frozenset(v) for k, v in role_ents_sets.items()}
        buckets: dict[str, dict[int, dict[int, list[Path]]]] = {
            "user": {},
            "service_account": {},
            "api_key": {},
        }
        holdings: dict[tuple[str, int], tuple[set[int], set[int]]] = {}
        rows = (
            Grant.objects.for_tenant(tenant_id)
            .filter(revoked_at__isnull=True, suspended_at__isnull=True)
            .values_list(
                "pk",
                "user_id",
                "service_account_id",
                "api_key_id",
                "entitlement_id",
                "role_id",
                "starts_at",
                "expires_at",
            )
        )
        for gid, uid, said, kid, ent_id, role_id, starts, expires in rows:
            expires_ts = _ts(expires, INF)
            if expires_ts <= now_ts - PAST_WINDOW:
                continue  # long over (kept a day, so a decision "as of" a recent time is right)
            if uid:
                kind, sid = "user", uid
            elif said:
                kind, sid = "service_account", said
            else:
                kind, sid = "api_key", kid
            held_roles, held_ents = holdings.setdefault((kind, sid), (set(), set()))
            if role_id:
                held_roles.add(role_id)
                members = role_ents.get(role_id, frozenset())
                via = f"role:{role_id}"
            else:
                members = frozenset({ent_id})
                via = "entitlement"
            held_ents |= members
            starts_ts = _ts(starts, 0.0)
            per_env = buckets[kind].setdefault(sid, {})
            for member in members:
                target = ents.get(member)
                if target is None:
                    continue
                env_id, level = target
                per_env.setdefault(env_id, []).append(
                    (LEVEL_IMPLIES.get(level, frozenset()), starts_ts, expires_ts, gid, member, via)
                )
        rules = []
        for r in PolicyRule.objects.for_tenant(tenant_id).filter(is_current=True, enabled=True):
            try:
                rules.append(
                    rule_compile(
                        r.conditions,
                        key=r.key,
                        version=r.version,
                        name=r.name,
                        effect=r.effect,
                        tz=tz,
                    )
                )
            except DomainError:
                continue  # stored rules were validated on save; never let one stop decisions
        exceptions: dict[str, list[tuple[int | None, int | None, float]]] = {}
        for rule_key, user_id, env_id, expires in (
            PolicyException.objects.for_tenant(tenant_id)
            .filter(revoked_at__isnull=True)
            .values_list("rule_key", "user_id", "environment_id", "expires_at")
        ):
            exceptions.setdefault(rule_key, []).append((user_id, env_id, _ts(expires, INF)))
        attestations: dict[int, list[tuple[str, float]]] = {}
        for user_id, flag, expires in (
            ComplianceAttestation.objects.for_tenant(tenant_id)
            .filter(revoked_at__isnull=True)  # revoked rows are history, never evidence
            .values_list("user_id", "flag", "expires_at")
        ):
            attestations.setdefault(user_id, []).append((flag, _ts(expires, INF)))
        sod_rules = tuple(sod_rules_load(tenant_id))

    def freeze(bucket: dict[int, dict[int, list[Path]]]) -> dict[int, dict[int, tuple[Path, ...]]]:
        return {sid: {env: tuple(p) for env, p in per.items()} for sid, per in bucket.items()}

    return TenantState(
        tenant_id=tenant_id,
        version=counter,
        stamp=stamp,
        status=status,
        tenant=TenantFacts(
            tenant.tier, tenant.region, tenant.data_residency or "", status, tenant.name
        ),
        tz=tz,
        envs=envs,
        users=freeze(buckets["user"]),
        service_accounts=freeze(buckets["service_account"]),
        api_keys=freeze(buckets["api_key"]),
        holdings={k: (frozenset(r), frozenset(e)) for k, (r, e) in holdings.items()},
        rules=tuple(rules),
        sod_rules=sod_rules,
        role_ents=role_ents,
        exceptions={k: tuple(v) for k, v in exceptions.items()},
        attestations={k: tuple(v) for k, v in attestations.items()},
        checked_rid=current_request_info().request_id,
        checked_at=time.monotonic(),
        recheck=_recheck_seconds(),
    )


def _state(tenant_id: int) -> TenantState:
    state = _STATE.get(tenant_id)
    if state is not None and not state.dirty:
        rid = current_request_info().request_id
        if rid:
            if state.checked_rid == rid:
                return state
        elif time.monotonic() - state.checked_at < state.recheck:
            return state
        current = _read_version(tenant_id)
        if current == (state.status, state.version, state.stamp):
            state.checked_rid = rid
            state.checked_at = time.monotonic()
            return state
    state = _compile(tenant_id)
    _STATE[tenant_id] = state
    return state


def state_for(tenant: Any) -> TenantState:
    """The compiled state of a tenant (for explain pages and the benchmark)."""
    return _state(getattr(tenant, "pk", tenant))


# --- subjects and environments ------------------------------------------------------------------


_USER_CLASS: list[Any] = []


def _subject_key(subject: Any) -> tuple[str, int, Any]:
    """(kind, id, facts-for-rules). Users are their own facts (kind, country, staff_role...)."""
    if not _USER_CLASS:
        from django.contrib.auth import get_user_model

        _USER_CLASS.append(get_user_model())
    if subject.__class__ is _USER_CLASS[0]:
        return "user", int(subject.pk), subject
    from apps.access.models import ServiceAccount
    from apps.integrations.models import ApiKey

    if isinstance(subject, tuple):
        kind, pk = subject
        return kind, int(pk), None
    if isinstance(subject, ServiceAccount):
        return "service_account", subject.pk, None
    if isinstance(subject, ApiKey):
        return "api_key", subject.pk, None
    principal_kind = getattr(subject, "kind", None)
    if principal_kind == "api_key" and hasattr(subject, "credential_id"):
        return "api_key", int(subject.credential_id), None
    if getattr(subject, "is_authenticated", False) and getattr(subject, "pk", None):
        return "user", subject.pk, subject
    raise EngineInputError(gettext("Unknown subject."), code="unknown_subject")


def _env_ids(environment: Any) -> tuple[int, int]:
    if isinstance(environment, int):
        tenant_id = _ENV_TENANT.get(environment)
        if tenant_id is None:
            from apps.tenants.models import Environment

            with unscoped(reason="policy engine: which tenant owns the environment"):
                found = Environment.objects.filter(pk=environment).values_list(
                    "tenant_id", flat=True
                )
                tenant_id = next(iter(found), None)
            if tenant_id is None:
                raise EngineInputError(gettext("Unknown environment."), code="unknown_environment")
            _ENV_TENANT[environment] = tenant_id
        return tenant_id, environment
    return environment.tenant_id, environment.pk


# --- decisions ----------------------------------------------------------------------------------

_R_NO_GRANT = gettext_noop("No active grant gives %(action)s on %(env)s.")
_R_EXPIRED = gettext_noop("Grant #%(grant)s gave %(action)s on %(env)s but expired.")
_R_NOT_STARTED = gettext_noop(
    "Grant #%(grant)s gives %(action)s on %(env)s only from a later time."
)
_R_GRANT = gettext_noop("Grant #%(grant)s (%(via)s) gives %(action)s on %(env)s.")
_R_TENANT = gettext_noop("%(tenant)s is %(status)s: no access.")
_R_ISOLATED = gettext_noop("%(tenant)s is isolated: vendor staff cannot reach it.")
_R_ACTION = gettext_noop("Unknown action %(action)s.")
_R_RULE = gettext_noop("ABAC rule “%(name)s” (%(ref)s) is not satisfied.")
_R_RULE_FLAG = gettext_noop(
    "ABAC rule “%(name)s” (%(ref)s) is not satisfied (flagged, not enforced)."
)
_R_WAIVED = gettext_noop("ABAC rule “%(name)s” (%(ref)s) waived by a customer-approved exception.")
_R_SOD = gettext_noop(
    "Separation-of-duties rule “%(name)s” (%(key)s): this subject holds a toxic combination."
)
_R_SOD_FLAG = gettext_noop(
    "Separation-of-duties rule “%(name)s” (%(key)s) flags this subject's holdings."
)


def _sod_for(state: TenantState, skey: tuple[str, int]) -> tuple[frozenset[int], tuple[Any, ...]]:
    """(entitlement ids a violated deny rule blocks, flag-mode rules violated) of a subject."""
    memo = state.sod_memo.get(skey)
    if memo is not None:
        return memo
    roles, ents = state.holdings.get(skey, (frozenset(), frozenset()))
    blocked: set[int] = set()
    flagged = []
    for rule in state.sod_rules:
        held = len(rule.entitlement_ids & ents) + len(rule.role_ids & roles)
        if held < rule.threshold:
            continue
        if rule.mode == "deny":
            blocked |= rule.entitlement_ids
            for role_id in rule.role_ids:
                blocked |= state.role_ents.get(role_id, frozenset())
            blocked.add(-rule.pk)  # marker: which rules (for the reason)
        else:
            flagged.append(rule)
    memo = (frozenset(blocked), tuple(flagged))
    state.sod_memo[skey] = memo
    return memo


def _applicable(state: TenantState, env: EnvFacts, action: str) -> tuple[CompiledRule, ...]:
    found = []
    t = state.tenant
    for rule in state.rules:
        if rule.applies_static is not None and not rule.applies_static(t, env, action, None, None):
            continue
        if rule.require_static and rule.require(t, env, action, None, None):
            continue  # always satisfied here
        found.append(rule)
    return tuple(found)


def _waived(
    state: TenantState, rule: CompiledRule, uid: int | None, env_id: int, now: float
) -> bool:
    for user_id, exc_env, expires in state.exceptions.get(rule.key, ()):
        if (
            (user_id is None or user_id == uid)
            and (exc_env is None or exc_env == env_id)
            and now < expires
        ):
            return True
    return False


def _with_attestations(ctx: Any, state: TenantState, uid: int, now: float) -> Any:
    flags = frozenset(f for f, exp in state.attestations.get(uid, ()) if now < exp)
    if not flags or flags <= ctx.attested:
        return ctx
    if isinstance(ctx, Context):
        return dc_replace(ctx, attested=ctx.attested | flags)
    return Context(now=ctx.now, attested=flags)


def decide(subject: Any, action: str, environment: Any, context: Context | None = None) -> Decision:
    """Is `subject` (a User, ServiceAccount, ApiKey or API principal, or ("user", id)) allowed
    `action` (read/write/admin/export/operate) on `environment` (an Environment or its id)?"""
    tenant_id, env_id = _env_ids(environment)
    state = _STATE.get(tenant_id)
    if state is None or state.dirty or not _fresh_enough(state):
        state = _state(tenant_id)
    env = state.envs.get(env_id)
    if env is None:
        raise EngineInputError(gettext("Unknown environment."), code="unknown_environment")
    if action not in ACTIONS:
        return Decision(False, (Reason("default", "action", _R_ACTION, {"action": action}),))
    kind, sid, facts = _subject_key(subject)
    if state.status != "active":
        if state.status != "isolated":
            return Decision(
                False,
                (
                    Reason(
                        "default",
                        "tenant_status",
                        _R_TENANT,
                        {"tenant": state.tenant.name, "status": state.status},
                    ),
                ),
            )
        if facts is not None and facts.is_vendor_staff:
            return Decision(
                False,
                (Reason("default", "tenant_status", _R_ISOLATED, {"tenant": state.tenant.name}),),
            )
    if kind == "user":
        per_env = state.users.get(sid)
    elif kind == "service_account":
        per_env = state.service_accounts.get(sid)
    else:
        per_env = state.api_keys.get(sid)
    paths = per_env.get(env_id) if per_env else None
    if context is not None and context.now is not None:
        now_dt = context.now
        now = now_dt.timestamp()
    else:
        now = time.time()
        now_dt = None
    chosen = None
    near = None
    if paths:
        for path in paths:
            if action in path[0]:
                if path[1] <= now < path[2]:
                    chosen = path
                    break
                near = path
    if chosen is None:
        if near is not None:
            text = _R_EXPIRED if now >= near[2] else _R_NOT_STARTED
            return Decision(
                False,
                (
                    Reason(
                        "default",
                        f"grant:{near[3]}",
                        text,
                        {"grant": near[3], "action": action, "env": env.name},
                    ),
                ),
            )
        return Decision(
            False,
            (Reason("default", "no_grant", _R_NO_GRANT, {"action": action, "env": env.name}),),
        )
    reasons: list[Reason] = []
    if state.sod_rules:
        blocked, flagged = _sod_for(state, (kind, sid))
        if blocked and chosen[4] in blocked:
            for rule in state.sod_rules:
                if -rule.pk in blocked and (
                    chosen[4] in rule.entitlement_ids
                    or any(chosen[4] in state.role_ents.get(r, ()) for r in rule.role_ids)
                ):
                    return Decision(
                        False,
                        (
                            Reason(
                                "sod",
                                f"sod:{rule.key}",
                                _R_SOD,
                                {"name": rule.name, "key": rule.key},
                            ),
                        ),
                    )
        reasons.extend(
            Reason("sod", f"sod:{rule.key}", _R_SOD_FLAG, {"name": rule.name, "key": rule.key})
            for rule in flagged
        )
    rules = state.applicable.get((env_id, action))
    if rules is None:
        rules = state.applicable[(env_id, action)] = _applicable(state, env, action)
    if rules:
        t = state.tenant
        ctx: Any = (
            context
            if context is not None
            else _ClockContext(now_dt or datetime.fromtimestamp(now, UTC))
        )
        if ctx.now is None:
            ctx = dc_replace(ctx, now=datetime.fromtimestamp(now, UTC))
        if kind == "user":
            if sid in state.attestations:
                ctx = _with_attestations(ctx, state, sid, now)
        else:
            facts = _NonPersonFacts(kind)
        denied: list[Reason] = []
        for rule in rules:
            if not rule.fires(t, env, action, facts, ctx):
                continue
            params = {"name": rule.name, "ref": rule.ref}
            if _waived(state, rule, sid if kind == "user" else None, env_id, now):
                reasons.append(Reason("abac", rule.ref, _R_WAIVED, params))
            elif rule.effect == "deny":
                if rule.message:
                    denied.append(Reason("abac", rule.ref, rule.message, raw=True))
                else:
                    denied.append(Reason("abac", rule.ref, _R_RULE, params))
            else:
                reasons.append(Reason("abac", rule.ref, _R_RULE_FLAG, params))
        if denied:
            return Decision(False, tuple(denied))
    grant_reason = _GrantReason(chosen, action, env.name)
    if not reasons:
        return Decision(True, (grant_reason,))
    return Decision(True, (grant_reason, *reasons))


def _fresh_enough(state: TenantState) -> bool:
    rid = current_request_info().request_id
    if rid:
        return state.checked_rid == rid
    return time.monotonic() - state.checked_at < state.recheck


def can(user: Any, action: str, environment: Any, context: Context | None = None) -> bool:
    return decide(user, action, environment, context).allowed


def rbac_allows(subject: Any, action: str, environment: Any, *, at: datetime | None = None) -> bool:
    """Grants only (no ABAC, no SoD): what Django's `has_perm` answers. Active grants only —
    expired, revoked, suspended and not-yet-started ones give nothing."""
    tenant_id, env_id = _env_ids(environment)
    state = _STATE.get(tenant_id)
    if state is None or state.dirty or not _fresh_enough(state):
        state = _state(tenant_id)
    if state.status not in ("active", "isolated"):
        return False
    kind, sid, facts = _subject_key(subject)
    if state.status == "isolated" and facts is not None and facts.is_vendor_staff:
        return False
    per_env = {"user": state.users, "service_account": state.service_accounts}.get(
        kind, state.api_keys
    ).get(sid)
    paths = per_env.get(env_id) if per_env else None
    now = at.timestamp() if at is not None else time.time()
    return any(action in p[0] and p[1] <= now < p[2] for p in paths or ())


def abac_check(
    subject: Any, action: str, environment: Any, context: Context | None = None
) -> Decision:
    """The ABAC part of `decide` alone, as if a grant existed: would the tenant's rules (and an
    isolated tenant's lock-out of vendor staff) let `subject` do `action` on `environment`?
    For eligibility before a grant exists (access requests). Denials are reasons of kind
    "abac" (rules) or "default" (tenant status); waived and flag-mode rules are reported on an
    allow. An environment the engine does not know has no rules to check: allowed."""
    tenant_id, env_id = _env_ids(environment)
    state = _STATE.get(tenant_id)
    if state is None or state.dirty or not _fresh_enough(state):
        state = _state(tenant_id)
    env = state.envs.get(env_id)
    if env is None:
        return Decision(True, ())
    kind, sid, facts = _subject_key(subject)
    if state.status == "isolated" and facts is not None and facts.is_vendor_staff:
        return Decision(
            False,
            (Reason("default", "tenant_status", _R_ISOLATED, {"tenant": state.tenant.name}),),
        )
    rules = state.applicable.get((env_id, action))
    if rules is None:
        rules = state.applicable[(env_id, action)] = _applicable(state, env, action)
    if not rules:
        return Decision(True, ())
    ctx: Any = context if context is not None else Context()
    if ctx.now is None:
        ctx = dc_replace(ctx, now=datetime.now(UTC))
    now = ctx.now.timestamp()
    uid = sid if kind == "user" else None
    if kind == "user":
        if sid in state.attestations:
            ctx = _with_attestations(ctx, state, sid, now)
    else:
        facts = _NonPersonFacts(kind)
    denied: list[Reason] = []
    reasons: list[Reason] = []
    for rule in rules:
        if not rule.fires(state.tenant, env, action, facts, ctx):
            continue
        params = {"name": rule.name, "ref": rule.ref}
        if _waived(state, rule, uid, env_id, now):
            reasons.append(Reason("abac", rule.ref, _R_WAIVED, params))
        elif rule.effect == "deny":
            if rule.message:
                denied.append(Reason("abac", rule.ref, rule.message, raw=True))
            else:
                denied.append(Reason("abac", rule.ref, _R_RULE, params))
        else:
            reasons.append(Reason("abac", rule.ref, _R_RULE_FLAG, params))
    if denied:
        return Decision(False, tuple(denied))
    return Decision(True, tuple(reasons))


def sod_check(*, user: Any, tenant: Any, entitlement: Any = None, role: Any = None) -> list[Any]:
    """SoD rules that giving `user` the entitlement or role would complete (each with `mode`
    and `message`); reads the database, not the cache (used before a request is filed)."""
    from apps.access.sod import holdings, sod_evaluate, sod_rules_load, subject_filter

    tenant_id = getattr(tenant, "pk", tenant)
    with unscoped(reason="SoD check for a prospective grant"):
        roles, ents = holdings(tenant_id, subject_filter(user=user))
        if role is not None:
            new_ents = list(role.role_entitlements.values_list("entitlement_id", flat=True))
        else:
            new_ents = [entitlement.pk] if entitlement is not None else []
        return sod_evaluate(
            sod_rules_load(tenant_id),
            set(roles),
            set(ents),
            new_role_id=role.pk if role is not None else None,
            new_entitlement_ids=new_ents,
        )
