"""SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): a tokenizer, a recursive-descent
parser to a small AST, a compiler from the AST to a Django `Q` (list endpoints), and an
evaluator on JSON objects (PATCH value filters such as `emails[type eq "work"]`).

Precedence: `not` > `and` > `or`; attribute names and operators are case-insensitive.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from apps.identity.scim.errors import ScimError

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
COMPARE_OPS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
MAX_FILTER_LENGTH = 2000
MAX_DEPTH = 32

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lp>\() | (?P<rp>\)) | (?P<lb>\[) | (?P<rb>\]) |
        (?P<string>"(?:[^"\\]|\\.)*") |
        (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w:.$-])) |
        (?P<word>[A-Za-z_$][\w:.$-]*)
    )""",
    re.VERBOSE,
)


def invalid_filter(detail: str) -> ScimError:
    return ScimError(400, detail, scim_type="invalidFilter")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    value: Any = None


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid_filter(_("The filter is too long."))
    tokens: list[Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise invalid_filter(
                _("Unexpected character at position %(pos)d of the filter.") % {"pos": pos + 1}
            )
        kind = match.lastgroup or ""
        raw = match.group(kind)
        value: Any = None
        if kind == "string":
            try:
                value = json.loads(raw)
            except ValueError as exc:
                raise invalid_filter(_("A string in the filter is not well-formed.")) from exc
        elif kind == "number":
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        tokens.append(Token(kind, raw, value))
        pos = match.end()
    return tokens


# --- AST --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compare:
    attr: str  # lower-cased, schema prefix removed; sub-attributes joined by "."
    op: str  # one of COMPARE_OPS or "pr"
    value: Any = None


@dataclass(frozen=True)
class Logical:
    op: str  # "and" | "or"
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class ValuePath:
    attr: str
    node: Node  # attributes inside are relative to `attr`


Node = Compare | Logical | Not | ValuePath


def normalise_attr(name: str, *, default_schema: str = USER_SCHEMA) -> str:
    """`urn:…:core:2.0:User:name.givenName` → `name.givenname`; enterprise attributes get the
    prefix `enterprise:` (`enterprise:department`)."""
    lower = name.lower()
    for schema, prefix in (
        (ENTERPRISE_SCHEMA.lower() + ":", "enterprise:"),
        (USER_SCHEMA.lower() + ":", ""),
        (GROUP_SCHEMA.lower() + ":", ""),
        (default_schema.lower() + ":", ""),
    ):
        if lower.startswith(schema):
            return prefix + lower[len(schema) :]
    if lower == ENTERPRISE_SCHEMA.lower():
        return "enterprise:"
    return lower


class _Parser:
    def __init__(self, tokens: list[Token], *, allow_value_path: bool = True) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.allow_value_path = allow_value_path

    def peek(self, offset: int = 0) -> Token | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise invalid_filter(_("The filter ends too early."))
        self.pos += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() in words:
            self.pos += 1
            return token.text.lower()
        return None

    def expect(self, kind: str, label: str) -> Token:
        token = self.take()
        if token.kind != kind:
            raise invalid_filter(
                _("Expected %(expected)s but found %(found)s in the filter.")
                % {"expected": label, "found": token.text}
            )
        return token

    def parse(self) -> Node:
        node = self.parse_or()
        if self.peek() is not None:
            raise invalid_filter(
                _("Unexpected %(token)s in the filter.") % {"token": self.peek().text}  # type: ignore[union-attr]
            )
        return node

    def parse_or(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise invalid_filter(_("The filter is nested too deeply."))
        node = self.parse_and()
        while self.keyword("or"):
            node = Logical("or", node, self.parse_and())
        self.depth -= 1
        return node

    def parse_and(self) -> Node:
        node = self.parse_unary()
        while self.keyword("and"):
            node = Logical("and", node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        token = self.peek()
        if token is None:
            raise invalid_filter(_("The filter ends too early."))
        if (
            token.kind == "word"
            and token.text.lower() == "not"
            and (self.peek(1) is not None and self.peek(1).kind == "lp")  # type: ignore[union-attr]
        ):
            self.pos += 1
            self.expect("lp", "(")
            inner = self.parse_or()
            self.expect("rp", ")")
            return Not(inner)
        if token.kind == "lp":
            self.pos += 1
            inner = self.parse_or()
            self.expect("rp", ")")
            return inner
        return self.parse_attr_exp()

    def parse_attr_exp(self) -> Node:
        token = self.expect("word", _("an attribute name"))
        attr = normalise_attr(token.text)
        nxt = self.peek()
        if nxt is not None and nxt.kind == "lb":
            if not self.allow_value_path:
                raise invalid_filter(_("Value filters cannot be nested."))
            self.pos += 1
            inner = _Parser(self.tokens, allow_value_path=False)
            inner.pos, inner.depth = self.pos, self.depth
            node = inner.parse_or()
            self.pos = inner.pos
            self.expect("rb", "]")
            return ValuePath(attr, node)
        op_token = self.take()
        op = op_token.text.lower()
        if op_token.kind != "word" or (op not in COMPARE_OPS and op != "pr"):
            raise invalid_filter(
                _("%(op)s is not a SCIM comparison operator.") % {"op": op_token.text}
            )
        if op == "pr":
            return Compare(attr, "pr")
        value_token = self.take()
        if value_token.kind in ("string", "number"):
            value = value_token.value
        elif value_token.kind == "word" and value_token.text.lower() in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[value_token.text.lower()]
        else:
            raise invalid_filter(
                _("%(value)s is not a valid comparison value.") % {"value": value_token.text}
            )
        return Compare(attr, op, value)


def parse_filter(text: str) -> Node:
    if not text or not text.strip():
        raise invalid_filter(_("The filter is empty."))
    return _Parser(tokenize(text)).parse()


# --- PATCH paths ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatchPath:
    attr: str  # normalised top-level attribute (e.g. "emails", "name", "enterprise:manager")
    value_filter: Node | None = None
    sub_attr: str | None = None  # lower-cased


def parse_path(text: str) -> PatchPath:
    """`attrPath` or `valuePath[.subAttr]` (RFC 7644 §3.5.2)."""

    def invalid_path() -> ScimError:
        return ScimError(
            400,
            _("The PATCH path %(path)s is not valid.") % {"path": text},
            scim_type="invalidPath",
        )

    text = (text or "").strip()
    if not text:
        raise invalid_path()
    if "[" in text:
        head, _sep, rest = text.partition("[")
        body, sep, tail = rest.rpartition("]")
        if not sep or not head:
            raise invalid_path()
        try:
            node = _Parser(tokenize(body), allow_value_path=False).parse()
        except ScimError as exc:
            raise invalid_path() from exc
        sub = None
        if tail:
            if not tail.startswith(".") or len(tail) < 2:
                raise invalid_path()
            sub = tail[1:].lower()
        return PatchPath(normalise_attr(head), node, sub)
    if not re.fullmatch(r"[A-Za-z_$][\w:.$-]*", text):
        raise invalid_path()
    attr = normalise_attr(text)
    # Split "name.givenname" but keep URNs whole: the last ":" ends the schema part.
    colon = attr.rfind(":")
    head, dot, sub_attr = attr[colon + 1 :].partition(".")
    return PatchPath(attr[: colon + 1] + head, None, sub_attr if dot else None)


# --- Evaluation on JSON objects (PATCH value filters) ----------------------------------------
def _lower_keys(obj: dict[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in obj.items()}


def _compare_values(actual: Any, op: str, expected: Any) -> bool:
    if op == "pr":
        return actual not in (None, "", [], {})
    if isinstance(actual, str) and isinstance(expected, str):
        a, e = actual.lower(), expected.lower()
    else:
        a, e = actual, expected
    try:
        if op == "eq":
            return bool(a == e)
        if op == "ne":
            return bool(a != e)
        if op == "co":
            return isinstance(a, str) and e in a
        if op == "sw":
            return isinstance(a, str) and a.startswith(e)
        if op == "ew":
            return isinstance(a, str) and a.endswith(e)
        if op == "gt":
            return bool(a > e)
        if op == "ge":
            return bool(a >= e)
        if op == "lt":
            return bool(a < e)
        if op == "le":
            return bool(a <= e)
    except TypeError:
        return False
    return False


def matches(node: Node, obj: Any) -> bool:
    """Does a complex value (e.g. one element of `emails`) satisfy a value filter?"""
    if not isinstance(obj, dict):
        obj = {"value": obj}
    lowered = _lower_keys(obj)
    if isinstance(node, Logical):
        if node.op == "and":
            return matches(node.left, obj) and matches(node.right, obj)
        return matches(node.left, obj) or matches(node.right, obj)
    if isinstance(node, Not):
        return not matches(node.node, obj)
    if isinstance(node, ValuePath):
        return False
    actual = lowered.get(node.attr.split(".")[-1])
    return _compare_values(actual, node.op, node.value)


# --- Compilation to Q -------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    lookup: str
    # string (case-insensitive) | ci_indexed (same, LOWER() index) | lower_stored (same, the
    # column holds lower-case) | exact | bool | datetime | uuid
    kind: str = "string"
    nullable: bool = False


def _datetime(value: Any) -> datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise invalid_filter(_("%(value)s is not a date and time.") % {"value": value})
    return parsed


_STRING_OPS = {"eq": "exact", "co": "contains", "sw": "startswith", "ew": "endswith"}
_ORDER_OPS = {"gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}


def _compare_q(field: Field, node: Compare) -> Q:
    lookup, op, value = field.lookup, node.op, node.value
    if op == "pr":
        present = Q(**{f"{lookup}__isnull": False})
        if field.kind not in ("bool", "datetime", "uuid"):
            present &= ~Q(**{lookup: ""})
        return present
    if value is None:
        if op in ("eq", "ne"):
            absent = Q(**{f"{lookup}__isnull": True})
            if field.kind not in ("bool", "datetime", "uuid"):
                absent |= Q(**{lookup: ""})
            return absent if op == "eq" else ~absent
        raise invalid_filter(_("null can only be compared with eq or ne."))
    if field.kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool) or op not in ("eq", "ne"):
            raise invalid_filter(_("A boolean attribute is compared with eq or ne and true/false."))
        q = Q(**{lookup: value})
        return q if op == "eq" else ~q
    if field.kind == "datetime":
        if op in ("co", "sw", "ew"):
            raise invalid_filter(_("Dates are compared with eq, ne, gt, ge, lt or le."))
        moment = _datetime(value)
        if op in ("eq", "ne"):
            q = Q(**{lookup: moment})
            return q if op == "eq" else ~q
        return Q(**{f"{lookup}__{_ORDER_OPS[op]}": moment})
    if not isinstance(value, str):
        raise invalid_filter(_("This attribute is compared with a string."))
    if field.kind == "uuid":
        if op not in ("eq", "ne"):
            raise invalid_filter(_("The id is compared with eq or ne."))
        import uuid

        try:
            q = Q(**{lookup: uuid.UUID(value)})
        except ValueError:
            q = Q(pk__in=[])
        return q if op == "eq" else ~q
    if op in ("eq", "ne") and field.kind in ("ci_indexed", "lower_stored"):
        # Served by an index: LOWER(col) = 'x' (ci_indexed) or col = 'x' (stored lower-case).
        key = f"{lookup}__lower" if field.kind == "ci_indexed" else lookup
        q = Q(**{key: value.lower()})
        return q if op == "eq" else ~q
    prefix = "" if field.kind == "exact" else "i"
    if op in _STRING_OPS:
        return Q(**{f"{lookup}__{prefix}{_STRING_OPS[op]}": value})
    if op == "ne":
        return ~Q(**{f"{lookup}__{prefix}exact": value})
    return Q(**{f"{lookup}__{_ORDER_OPS[op]}": value})


FieldMap = dict[str, Field]


def compile_q(node: Node, fields: FieldMap, *, prefix: str = "") -> Q:
    if isinstance(node, Logical):
        left, right = (
            compile_q(node.left, fields, prefix=prefix),
            compile_q(node.right, fields, prefix=prefix),
        )
        return left & right if node.op == "and" else left | right
    if isinstance(node, Not):
        return ~compile_q(node.node, fields, prefix=prefix)
    if isinstance(node, ValuePath):
        return compile_q(node.node, fields, prefix=node.attr + ".")
    attr = prefix + node.attr
    field = fields.get(attr)
    if field is None:
        raise invalid_filter(
            _("Filtering on %(attr)s is not supported.") % {"attr": attr or node.attr}
        )
    return _compare_q(field, node)


def filter_to_q(text: str, fields: FieldMap) -> Q:
    return compile_q(parse_filter(text), fields)
