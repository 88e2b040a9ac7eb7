"""SCIM resources as JSON: reading a request body into a validated `UserInput`, applying PATCH
operations to a user document, and rendering users and groups.

Attribute names are case-insensitive on input (RFC 7643 §2.1); output uses the canonical case.
Known IdP habits are accepted: Entra ID sends `"active": "False"` and no-path replaces with
dotted or URN-qualified keys; Okta repeats `id` in no-path replaces.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from apps.identity.scim.errors import ScimError
from apps.identity.scim.filters import (
    ENTERPRISE_SCHEMA,
    GROUP_SCHEMA,
    USER_SCHEMA,
    Compare,
    Logical,
    Node,
    PatchPath,
    matches,
    parse_path,
)
from apps.identity.scim.schemas import PATCH_SCHEMA

# Canonical names (lower-case → as served). `None` marks read-only attributes.
_CORE_STRINGS = (
    "userName",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "externalId",
)
_MULTI = ("emails", "phoneNumbers", "addresses", "ims", "photos", "roles", "entitlements")
USER_ATTRS: dict[str, str] = {
    **{n.lower(): n for n in _CORE_STRINGS},
    **{n.lower(): n for n in _MULTI},
    "name": "name",
    "active": "active",
    "password": "password",
}
READ_ONLY = frozenset({"id", "meta", "groups"})
NAME_SUBS = {
    n.lower(): n
    for n in (
        "formatted",
        "familyName",
        "givenName",
        "middleName",
        "honorificPrefix",
        "honorificSuffix",
    )
}
ENTERPRISE_ATTRS = {
    n.lower(): n
    for n in ("employeeNumber", "costCenter", "organization", "division", "department", "manager")
}
MANAGER_SUBS = {"value": "value", "$ref": "$ref", "displayname": "displayName"}
MULTI_SUBS = {
    n.lower(): n for n in ("value", "display", "type", "primary", "$ref", "formatted", "country")
}
_ENTERPRISE_LOWER = ENTERPRISE_SCHEMA.lower()


def invalid_value(detail: str) -> ScimError:
    return ScimError(400, detail, scim_type="invalidValue")


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise invalid_value(_("%(attr)s must be true or false.") % {"attr": name})


def _string(value: Any, name: str, *, max_length: int = 255) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid_value(_("%(attr)s must be a string.") % {"attr": name})
    if len(value) > max_length:
        raise invalid_value(
            _("%(attr)s is longer than %(max)d characters.") % {"attr": name, "max": max_length}
        )
    return value.strip()


def _canonical_sub(value: Any, subs: dict[str, str], name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_value(_("%(attr)s must be an object.") % {"attr": name})
    return {subs[k.lower()]: v for k, v in value.items() if k.lower() in subs}


def _canonical_multi(value: Any, name: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    result = []
    for item in items:
        if isinstance(item, dict):
            entry = _canonical_sub(item, MULTI_SUBS, name)
        elif isinstance(item, str):
            entry = {"value": item}
        else:
            raise invalid_value(_("%(attr)s must be a list of objects.") % {"attr": name})
        if "primary" in entry:
            entry["primary"] = _bool(entry["primary"], f"{name}.primary")
        result.append(entry)
    return result


def _canonical_enterprise(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_value(_("The enterprise extension must be an object."))
    result: dict[str, Any] = {}
    for key, item in value.items():
        name = ENTERPRISE_ATTRS.get(key.lower())
        if name is None:
            continue
        if name == "manager":
            if isinstance(item, str):  # Entra ID sends the manager's id as a bare string
                item = {"value": item}
            if item is None:
                continue
            result[name] = _canonical_sub(item, MANAGER_SUBS, "manager")
        else:
            result[name] = _string(item, name)
    return result


def canonical_user_document(payload: Any) -> dict[str, Any]:
    """Keep the attributes Custos knows, under their canonical names; drop read-only ones."""
    if not isinstance(payload, dict):
        raise ScimError(
            400, _("The request body must be a JSON object."), scim_type="invalidSyntax"
        )
    doc: dict[str, Any] = {}
    for key, value in payload.items():
        lower = str(key).lower()
        if lower.startswith(_ENTERPRISE_LOWER):
            rest = lower[len(_ENTERPRISE_LOWER) :].lstrip(":")
            if not rest:
                doc.setdefault(ENTERPRISE_SCHEMA, {}).update(_canonical_enterprise(value))
            else:
                doc.setdefault(ENTERPRISE_SCHEMA, {}).update(_canonical_enterprise({rest: value}))
            continue
        if lower.startswith(USER_SCHEMA.lower() + ":"):
            lower = lower[len(USER_SCHEMA) + 1 :]
        name = USER_ATTRS.get(lower)
        if name is None:
            continue
        if name == "name":
            if value is not None:
                doc["name"] = _canonical_sub(value, NAME_SUBS, "name")
        elif name in _MULTI:
            doc[name] = _canonical_multi(value, name)
        else:
            doc[name] = value
    return doc


@dataclass
class UserInput:
    user_name: str
    external_id: str
    display_name: str
    email: str
    active: bool
    full_name: str
    department: str
    title: str
    attributes: dict[str, Any] = field(default_factory=dict)


def _primary_email(doc: dict[str, Any]) -> str:
    emails = [e for e in doc.get("emails", []) if isinstance(e.get("value"), str) and e["value"]]
    chosen = (
        next((e for e in emails if e.get("primary") is True), None)
        or next((e for e in emails if str(e.get("type", "")).lower() == "work"), None)
        or (emails[0] if emails else None)
    )
    if chosen is not None:
        return str(chosen["value"]).strip()
    user_name = str(doc.get("userName") or "")
    return user_name.strip() if "@" in user_name else ""


def user_input_from_document(doc: dict[str, Any]) -> UserInput:
    user_name = _string(doc.get("userName"), "userName", max_length=254)
    if not user_name:
        raise invalid_value(_("userName is required."))
    email = _primary_email(doc).lower()
    if not email:
        raise invalid_value(
            _("An email address is required: send emails, or a userName that is an email address.")
        )
    try:
        validate_email(email)
    except ValidationError as exc:
        raise invalid_value(
            _("%(email)s is not a valid email address.") % {"email": email}
        ) from exc
    active = _bool(doc["active"], "active") if doc.get("active") is not None else True
    display_name = _string(doc.get("displayName"), "displayName", max_length=200)
    name = doc.get("name") or {}
    for key, value in name.items():
        name[key] = _string(value, f"name.{key}")
    full_name = (
        display_name
        or name.get("formatted", "")
        or " ".join(p for p in (name.get("givenName"), name.get("familyName")) if p)
    )[:200]
    for key in _CORE_STRINGS:
        if key in doc:
            doc[key] = _string(doc[key], key, max_length=254)
    enterprise = doc.get(ENTERPRISE_SCHEMA) or {}
    attributes = {
        k: v
        for k, v in doc.items()
        if k not in ("userName", "externalId", "displayName", "active", "password")
        and v not in (None, "", [], {})
    }
    return UserInput(
        user_name=user_name,
        external_id=_string(doc.get("externalId"), "externalId"),
        display_name=display_name,
        email=email,
        active=active,
        full_name=full_name,
        department=str(enterprise.get("department", ""))[:100],
        title=str(doc.get("title") or "")[:100],
        attributes=attributes,
    )


# --- PATCH on a user document -----------------------------------------------------------------
def patch_operations(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict):
        raise ScimError(
            400, _("The request body must be a JSON object."), scim_type="invalidSyntax"
        )
    schemas = payload.get("schemas") or []
    if not isinstance(schemas, list) or PATCH_SCHEMA not in schemas:
        raise ScimError(
            400, _("A PATCH request must use the PatchOp schema."), scim_type="invalidSyntax"
        )
    operations = payload.get("Operations", payload.get("operations"))
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, _("Operations must be a non-empty list."), scim_type="invalidSyntax")
    result = []
    for operation in operations:
        if not isinstance(operation, dict):
            raise ScimError(400, _("Each operation must be an object."), scim_type="invalidSyntax")
        op = str(operation.get("op", "")).strip().lower()
        if op not in ("add", "remove", "replace"):
            raise ScimError(
                400,
                _("%(op)s is not a PATCH operation (add, remove, replace).")
                % {"op": operation.get("op")},
                scim_type="invalidSyntax",
            )
        path = operation.get("path")
        if path is not None and not isinstance(path, str):
            raise ScimError(400, _("path must be a string."), scim_type="invalidPath")
        result.append({"op": op, "path": (path or "").strip(), "value": operation.get("value")})
    return result


def _no_target(path: str) -> ScimError:
    return ScimError(
        400, _("The path %(path)s matches nothing.") % {"path": path}, scim_type="noTarget"
    )


def _mutability(name: str) -> ScimError:
    return ScimError(400, _("%(attr)s cannot be changed.") % {"attr": name}, scim_type="mutability")


def _filter_defaults(node: Node) -> dict[str, Any]:
    """`type eq "work" and primary eq true` → {"type": "work", "primary": True}: the element
    an add/replace through a filter that matches nothing creates (what Entra ID expects)."""
    if isinstance(node, Compare) and node.op == "eq":
        sub = MULTI_SUBS.get(node.attr.split(".")[-1], node.attr)
        return {sub: node.value}
    if isinstance(node, Logical) and node.op == "and":
        return {**_filter_defaults(node.left), **_filter_defaults(node.right)}
    return {}


def _resolve(doc: dict[str, Any], path: PatchPath, raw: str) -> tuple[dict[str, Any], str]:
    """The container dict and the canonical key a path addresses."""
    if path.attr.startswith("enterprise:"):
        rest = path.attr[len("enterprise:") :]
        container = doc.setdefault(ENTERPRISE_SCHEMA, {})
        if not rest:
            return doc, ENTERPRISE_SCHEMA
        name = ENTERPRISE_ATTRS.get(rest)
        if name is None:
            raise ScimError(
                400, _("Unknown attribute %(path)s.") % {"path": raw}, scim_type="invalidPath"
            )
        return container, name
    if path.attr in READ_ONLY:
        raise _mutability(path.attr)
    name = USER_ATTRS.get(path.attr)
    if name is None:
        raise ScimError(
            400, _("Unknown attribute %(path)s.") % {"path": raw}, scim_type="invalidPath"
        )
    return doc, name


def _sub_name(key: str, sub: str) -> str:
    table = NAME_SUBS if key == "name" else MANAGER_SUBS if key == "manager" else MULTI_SUBS
    return table.get(sub, sub)


def _merge_multi(current: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = list(current)
    for item in new:
        existing = next(
            (
                e
                for e in result
                if e.get("value") == item.get("value")
                and (item.get("type") is None or e.get("type") == item.get("type"))
            ),
            None,
        )
        if existing is not None:
            existing.update(item)
        else:
            result.append(item)
    return result


def _apply(doc: dict[str, Any], op: str, raw_path: str, value: Any) -> None:
    path = parse_path(raw_path)
    container, key = _resolve(doc, path, raw_path)
    if key == ENTERPRISE_SCHEMA:
        if op == "remove":
            doc.pop(ENTERPRISE_SCHEMA, None)
            return
        doc.setdefault(ENTERPRISE_SCHEMA, {}).update(_canonical_enterprise(value))
        return
    is_multi = key in _MULTI
    if path.value_filter is not None:
        if not is_multi:
            raise ScimError(
                400,
                _("%(attr)s has no values to filter.") % {"attr": key},
                scim_type="invalidPath",
            )
        items: list[dict[str, Any]] = container.setdefault(key, [])
        hits = [e for e in items if matches(path.value_filter, e)]
        sub = _sub_name(key, path.sub_attr) if path.sub_attr else None
        if op == "remove":
            if sub:
                for e in hits:
                    e.pop(sub, None)
            else:
                container[key] = [e for e in items if e not in hits]
            return
        if not hits:
            element = _filter_defaults(path.value_filter)
            items.append(element)
            hits = [element]
        for e in hits:
            if sub:
                e[sub] = value
            elif isinstance(value, dict):
                e.update(_canonical_multi(value, key)[0])
            else:
                raise invalid_value(_("The value must be an object."))
        return
    if path.sub_attr:
        sub = _sub_name(key, path.sub_attr)
        if is_multi:
            items = container.get(key) or []
            if op == "remove":
                for e in items:
                    e.pop(sub, None)
                return
            if not items:
                items = container[key] = [{}]
            for e in items:
                e[sub] = value
            return
        target = container.setdefault(key, {})
        if not isinstance(target, dict):
            raise ScimError(
                400, _("%(attr)s has no sub-attributes.") % {"attr": key}, scim_type="invalidPath"
            )
        if op == "remove":
            target.pop(sub, None)
        else:
            target[sub] = value
        return
    if op == "remove":
        if key in ("userName", "active"):
            raise _mutability(key)
        if is_multi and value:
            removing = _canonical_multi(value, key)
            values = {e.get("value") for e in removing}
            container[key] = [e for e in container.get(key, []) if e.get("value") not in values]
        else:
            container.pop(key, None)
        return
    if is_multi:
        new = _canonical_multi(value, key)
        container[key] = _merge_multi(container.get(key, []), new) if op == "add" else new
        return
    if key == "name" or key == "manager":
        subs = NAME_SUBS if key == "name" else MANAGER_SUBS
        if isinstance(value, str) and key == "manager":
            value = {"value": value}
        incoming = _canonical_sub(value, subs, key)
        current = container.get(key)
        merged: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
        container[key] = {**merged, **incoming}
        return
    container[key] = value


def apply_user_patch(document: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    for operation in operations:
        op, path, value = operation["op"], operation["path"], operation["value"]
        if path:
            _apply(doc, op, path, value)
            continue
        if op == "remove":
            raise ScimError(400, _("remove needs a path."), scim_type="noTarget")
        if not isinstance(value, dict):
            raise invalid_value(_("Without a path, the value must be an object."))
        for key, item in value.items():
            lower = str(key).lower()
            if lower in ("id", "meta", "schemas", "groups"):
                continue  # Okta repeats the id; read-only attributes are ignored (RFC 7644)
            _apply(doc, op, str(key), item)
    return doc


# --- Rendering --------------------------------------------------------------------------------
def _iso(moment: Any) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def user_document(scim_user: Any) -> dict[str, Any]:
    """The writable part of a user (what PATCH operates on)."""
    doc: dict[str, Any] = copy.deepcopy(scim_user.attributes or {})
    doc["userName"] = scim_user.user_name
    doc["active"] = scim_user.active
    if scim_user.external_id:
        doc["externalId"] = scim_user.external_id
    if scim_user.display_name:
        doc["displayName"] = scim_user.display_name
    return doc


def user_representation(
    scim_user: Any, base_url: str, *, groups: list[Any] | None = None
) -> dict[str, Any]:
    doc = user_document(scim_user)
    location = f"{base_url}Users/{scim_user.scim_id}"
    schemas = [USER_SCHEMA]
    if doc.get(ENTERPRISE_SCHEMA):
        schemas.append(ENTERPRISE_SCHEMA)
    else:
        doc.pop(ENTERPRISE_SCHEMA, None)
    body: dict[str, Any] = {"schemas": schemas, "id": str(scim_user.scim_id), **doc}
    if groups:
        body["groups"] = [
            {
                "value": str(g.scim_id),
                "$ref": f"{base_url}Groups/{g.scim_id}",
                "display": g.display_name,
                "type": "direct",
            }
            for g in groups
        ]
    body["meta"] = {
        "resourceType": "User",
        "created": _iso(scim_user.created_at),
        "lastModified": _iso(scim_user.updated_at),
        "location": location,
        "version": scim_user.etag,
    }
    return body


def group_representation(group: Any, base_url: str, *, members: list[Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA],
        "id": str(group.scim_id),
        "displayName": group.display_name,
    }
    if group.external_id:
        body["externalId"] = group.external_id
    if members is not None:
        body["members"] = [
            {
                "value": str(m.scim_id),
                "$ref": f"{base_url}Users/{m.scim_id}",
                "type": "User",
            }
            for m in members
        ]
    body["meta"] = {
        "resourceType": "Group",
        "created": _iso(group.created_at),
        "lastModified": _iso(group.updated_at),
        "location": f"{base_url}Groups/{group.scim_id}",
        "version": group.etag,
    }
    return body


def project(body: dict[str, Any], *, attributes: list[str], excluded: list[str]) -> dict[str, Any]:
    """`attributes` / `excludedAttributes` (top level; id, schemas and meta always stay)."""
    always = {"id", "schemas", "meta"}
    if attributes:
        wanted = {a.split(".")[0].rsplit(":", 1)[-1].lower() for a in attributes}
        return {k: v for k, v in body.items() if k in always or k.lower() in wanted}
    if excluded:
        dropped = {a.split(".")[0].rsplit(":", 1)[-1].lower() for a in excluded}
        return {k: v for k, v in body.items() if k in always or k.lower() not in dropped}
    return body
