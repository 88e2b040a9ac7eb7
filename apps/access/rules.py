"""ABAC rules as data: the condition language, its validation and its compilation to closures.

A rule's `conditions` is a JSON object::

    {"applies": COND,        # optional; when the rule is considered (default: always)
     "require": COND,        # what must hold when it applies
     "message": "text"}      # optional; shown as the reason when the requirement fails

    COND := {"all": [COND, ...]} | {"any": [COND, ...]} | {"not": COND}
          | {"attr": ATTR, "op": OP, "value": V}        # compare with a constant
          | {"attr": ATTR, "op": OP, "attr2": ATTR}     # compare two attributes

ATTR (static ones are known from the tenant/environment/action alone, so the engine evaluates
them once per environment and action):

    static:  tenant.tier  tenant.region  tenant.data_residency  environment.region
             environment.sensitivity  environment.kind  environment.on_premises
             environment.slug  action
    dynamic: subject.kind (customer|staff|service_account|api_key)  subject.is_vendor_staff
             subject.country  subject.staff_role  context.location_region
             context.location_country  context.mfa_level (none < backup_code < totp <
             webauthn)  context.risk_score  context.attested (a set: use "contains")
             context.local_hour (0-23, tenant's time zone)  context.weekday (0=Monday)
             context.purpose

OP: eq ne in not_in gt gte lt lte contains not_contains between (hours [from, to), wraps
midnight).

A rule that does not parse is refused with the path and the reason (`RuleInvalid`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from apps.access.exceptions import RuleInvalid

MFA_RANK = {"none": 0, "password": 0, "backup_code": 1, "totp": 2, "webauthn": 3}

STATIC_ATTRS = frozenset(
    {
        "tenant.tier",
        "tenant.region",
        "tenant.data_residency",
        "environment.region",
        "environment.sensitivity",
        "environment.kind",
        "environment.on_premises",
        "environment.slug",
        "action",
    }
)
DYNAMIC_ATTRS = frozenset(
    {
        "subject.kind",
        "subject.is_vendor_staff",
        "subject.country",
        "subject.staff_role",
        "context.location_region",
        "context.location_country",
        "context.mfa_level",
        "context.risk_score",
        "context.attested",
        "context.local_hour",
        "context.weekday",
        "context.purpose",
    }
)
ATTRS = STATIC_ATTRS | DYNAMIC_ATTRS
NUMERIC_ATTRS = frozenset(
    {"context.mfa_level", "context.risk_score", "context.local_hour", "context.weekday"}
)
OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "not_contains", "between")


def _normalise_value(attr: str, value: Any) -> Any:
    if attr == "context.mfa_level":
        if isinstance(value, list):
            return [_normalise_value(attr, v) for v in value]
        if isinstance(value, str):
            return MFA_RANK[value]
    return value


# Compiled predicates take (t, e, a, s, c): tenant facts, environment facts, action, subject
# facts, context (the engine's objects; s and c are None when evaluating statically).
Pred = Callable[[Any, Any, str, Any, Any], bool]

# Conditions are compiled to ONE Python expression per rule part, turned into a function once
# (no interpretation per decision). Safe by construction: attribute names and operators come
# from the whitelists above, constants are bound as names in the function's namespace, never
# spliced into the source.


@dataclass(slots=True)
class _Gen:
    tz: ZoneInfo
    consts: dict[str, Any]

    def const(self, value: Any) -> str:
        name = f"_k{len(self.consts)}"
        self.consts[name] = value
        return name

    def getter(self, attr: str) -> str:
        if attr == "action":
            return "a"
        scope, name = attr.split(".", 1)
        if attr == "context.local_hour":
            return "c.now.astimezone(_tz).hour"
        if attr == "context.weekday":
            return "c.now.astimezone(_tz).weekday()"
        return (
            {"tenant": "t", "environment": "e", "subject": "s", "context": "c"}[scope] + "." + name
        )


@dataclass(frozen=True, slots=True)
class ParsedCond:
    src: str  # a Python expression over t, e, a, s, c and the bound constants
    static: bool  # only static attributes: evaluable without subject and context


def _fail(path: str, message: str) -> RuleInvalid:
    return RuleInvalid(
        _("Rule does not parse at %(path)s: %(message)s") % {"path": path, "message": message},
        code="rule_invalid",
    )


def _check_attr(path: str, attr: Any) -> str:
    if not isinstance(attr, str) or attr not in ATTRS:
        raise _fail(
            path,
            _("unknown attribute %(attr)s (known: %(known)s)")
            % {"attr": json.dumps(attr), "known": ", ".join(sorted(ATTRS))},
        )
    return attr


_CMP = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _compare_src(op: str, left: str, right: str, between: tuple[float, float] | None) -> str:
    if op in _CMP:
        return f"({left} {_CMP[op]} {right})"
    if op == "in":
        return f"({left} in {right})"
    if op == "not_in":
        return f"({left} not in {right})"
    if op == "contains":
        return f"({right} in {left})"
    if op == "not_contains":
        return f"({right} not in {left})"
    assert between is not None
    lo, hi = between
    if lo <= hi:
        return f"({lo!r} <= {left} < {hi!r})"
    return f"({left} >= {lo!r} or {left} < {hi!r})"


def _parse(node: Any, path: str, gen: _Gen) -> ParsedCond:
    if not isinstance(node, dict):
        raise _fail(path, _("a condition must be an object"))
    for combinator in ("all", "any"):
        if combinator in node:
            items = node[combinator]
            if set(node) != {combinator}:
                raise _fail(path, _("“%(k)s” must be the only key") % {"k": combinator})
            if not isinstance(items, list) or not items:
                raise _fail(path, _("“%(k)s” needs a non-empty list") % {"k": combinator})
            parts = [_parse(item, f"{path}.{combinator}[{i}]", gen) for i, item in enumerate(items)]
            joiner = " and " if combinator == "all" else " or "
            return ParsedCond(
                "(" + joiner.join(p.src for p in parts) + ")", all(p.static for p in parts)
            )
    if "not" in node:
        if set(node) != {"not"}:
            raise _fail(path, _("“not” must be the only key"))
        inner = _parse(node["not"], f"{path}.not", gen)
        return ParsedCond(f"(not {inner.src})", inner.static)
    if "attr" not in node:
        raise _fail(path, _("expected “all”, “any”, “not” or “attr”"))
    unknown_keys = set(node) - {"attr", "op", "value", "attr2"}
    if unknown_keys:
        raise _fail(path, _("unknown key(s) %(keys)s") % {"keys": ", ".join(sorted(unknown_keys))})
    attr = _check_attr(f"{path}.attr", node["attr"])
    op = node.get("op")
    if op not in OPS:
        raise _fail(
            f"{path}.op",
            _("unknown operator %(op)s (use one of %(ops)s)")
            % {"op": json.dumps(op), "ops": ", ".join(OPS)},
        )
    if ("value" in node) == ("attr2" in node):
        raise _fail(path, _("give exactly one of “value” and “attr2”"))
    ordered = op in ("gt", "gte", "lt", "lte", "between")
    if ordered and attr not in NUMERIC_ATTRS:
        raise _fail(
            f"{path}.op",
            _("“%(op)s” compares numbers; %(attr)s is not one") % {"op": op, "attr": attr},
        )
    if op in ("contains", "not_contains") and attr != "context.attested":
        raise _fail(f"{path}.op", _("“%(op)s” works on context.attested") % {"op": op})
    static = attr in STATIC_ATTRS
    between = None
    if "attr2" in node:
        attr2 = _check_attr(f"{path}.attr2", node["attr2"])
        if op in ("in", "not_in", "between", "contains", "not_contains"):
            raise _fail(f"{path}.op", _("%(op)s needs a constant “value”") % {"op": op})
        if ordered and attr2 not in NUMERIC_ATTRS:
            raise _fail(f"{path}.attr2", _("%(attr)s is not a number") % {"attr": attr2})
        right = gen.getter(attr2)
        static = static and attr2 in STATIC_ATTRS
    else:
        value = node["value"]
        try:
            value = _normalise_value(attr, value)
        except KeyError:
            raise _fail(
                f"{path}.value",
                _("unknown MFA level (use one of %(levels)s)") % {"levels": ", ".join(MFA_RANK)},
            ) from None
        if op in ("in", "not_in"):
            if not isinstance(value, list):
                raise _fail(f"{path}.value", _("“%(op)s” needs a list") % {"op": op})
            if not all(isinstance(v, str | int | float | bool) for v in value):
                raise _fail(f"{path}.value", _("list items must be text or numbers"))
            value = frozenset(value)
        elif op == "between":
            if (
                not isinstance(value, list)
                or len(value) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            ):
                raise _fail(f"{path}.value", _("“between” needs a list of two numbers"))
            between = (float(value[0]), float(value[1]))
        elif ordered:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise _fail(f"{path}.value", _("“%(op)s” needs a number") % {"op": op})
        elif not isinstance(value, str | int | float | bool):
            raise _fail(f"{path}.value", _("must be text, a number or true/false"))
        if attr in NUMERIC_ATTRS and op in ("eq", "ne") and not isinstance(value, int | float):
            raise _fail(f"{path}.value", _("%(attr)s is a number") % {"attr": attr})
        right = gen.const(value)
    return ParsedCond(_compare_src(op, gen.getter(attr), right, between), static)


def _function(src: str, gen: _Gen) -> Pred:
    namespace: dict[str, Any] = {"__builtins__": {}, "_tz": gen.tz, **gen.consts}
    return eval(f"lambda t, e, a, s, c: {src}", namespace)  # type: ignore[no-any-return]  # noqa: S307


@dataclass(frozen=True, slots=True)
class CompiledRule:
    key: str
    version: int
    name: str
    effect: str  # "deny" | "flag"
    message: str
    applies_static: Pred | None  # evaluated once per (environment, action); None = always
    require_static: bool  # the requirement needs no subject/context (decidable per env+action)
    require: Pred
    # Per decision: True when the rule applies (dynamic part) and its requirement fails.
    fires: Pred
    ref: str


def _split_applies(node: Any, gen: _Gen) -> tuple[str | None, str | None]:
    """Split an `applies` condition into its static and dynamic halves (a top-level "all" is
    split item by item; anything else is one or the other)."""
    if node is None:
        return None, None
    if isinstance(node, dict) and set(node) == {"all"} and isinstance(node["all"], list):
        if not node["all"]:
            raise _fail("applies.all", _("“all” needs a non-empty list"))
        parts = [_parse(item, f"applies.all[{i}]", gen) for i, item in enumerate(node["all"])]
        static = [p.src for p in parts if p.static]
        dynamic = [p.src for p in parts if not p.static]
        return (
            "(" + " and ".join(static) + ")" if static else None,
            "(" + " and ".join(dynamic) + ")" if dynamic else None,
        )
    parsed = _parse(node, "applies", gen)
    return (parsed.src, None) if parsed.static else (None, parsed.src)


def _load_json(conditions: Any) -> Any:
    if isinstance(conditions, str):
        try:
            return json.loads(conditions)
        except json.JSONDecodeError as exc:
            raise RuleInvalid(
                _("Rule is not valid JSON: %(error)s") % {"error": str(exc)}, code="rule_invalid"
            ) from None
    return conditions


def rule_compile(
    conditions: Any,
    *,
    key: str = "",
    version: int = 1,
    name: str = "",
    effect: str = "deny",
    tz: ZoneInfo | None = None,
) -> CompiledRule:
    """Validate and compile one rule's conditions; raises RuleInvalid naming where and why."""
    gen = _Gen(tz or ZoneInfo("UTC"), {})
    conditions = _load_json(conditions)
    if not isinstance(conditions, dict):
        raise _fail("$", _("the rule must be a JSON object"))
    extra = set(conditions) - {"applies", "require", "message"}
    if extra:
        raise _fail("$", _("unknown key(s) %(keys)s") % {"keys": ", ".join(sorted(extra))})
    if "require" not in conditions:
        raise _fail("$", _("“require” is missing"))
    message = conditions.get("message", "")
    if not isinstance(message, str):
        raise _fail("message", _("must be text"))
    if effect not in ("deny", "flag"):
        raise _fail("effect", _("must be deny or flag"))
    applies_static, applies_dynamic = _split_applies(conditions.get("applies"), gen)
    require = _parse(conditions["require"], "require", gen)
    fires = f"not {require.src}"
    if applies_dynamic is not None:
        fires = f"{applies_dynamic} and {fires}"
    return CompiledRule(
        key=key,
        version=version,
        name=name or key,
        effect=effect,
        message=message,
        applies_static=_function(applies_static, gen) if applies_static else None,
        require_static=applies_dynamic is None and require.static,
        require=_function(require.src, gen),
        fires=_function(fires, gen),
        ref=f"rule:{key}@v{version}",
    )


def rule_validate(conditions: Any) -> dict[str, Any]:
    """Parse `conditions` (a dict or JSON text) and return it as a dict, or raise RuleInvalid."""
    conditions = _load_json(conditions)
    rule_compile(conditions)
    return dict(conditions)
