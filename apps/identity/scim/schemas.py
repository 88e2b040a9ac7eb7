"""Discovery documents: ServiceProviderConfig, ResourceTypes and Schemas (RFC 7643 §5-7),
limited to the attributes Custos stores and serves."""

from __future__ import annotations

from typing import Any

from apps.identity.scim.filters import ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA

SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MAX_RESULTS = 1000
DEFAULT_COUNT = 100


def _attr(
    name: str,
    type_: str = "string",
    *,
    multi: bool = False,
    required: bool = False,
    case_exact: bool = False,
    mutability: str = "readWrite",
    returned: str = "default",
    uniqueness: str = "none",
    sub: list[dict[str, Any]] | None = None,
    canonical: list[str] | None = None,
    refs: list[str] | None = None,
    description: str = "",
) -> dict[str, Any]:
    attr: dict[str, Any] = {
        "name": name,
        "type": type_,
        "multiValued": multi,
        "description": description or name,
        "required": required,
        "mutability": mutability,
        "returned": returned,
    }
    if type_ in ("string", "reference", "binary"):
        attr["caseExact"] = case_exact
        attr["uniqueness"] = uniqueness
    if sub is not None:
        attr["subAttributes"] = sub
    if canonical:
        attr["canonicalValues"] = canonical
    if refs:
        attr["referenceTypes"] = refs
    return attr


def _multi_sub(
    *, value_type: str = "string", types: list[str] | None = None, value_required: bool = False
) -> list[dict]:
    return [
        _attr("value", value_type, required=value_required),
        _attr("display"),
        _attr("type", canonical=types or []),
        _attr("primary", "boolean"),
    ]


USER_ATTRIBUTES = [
    _attr("userName", required=True, uniqueness="server"),
    _attr(
        "name",
        "complex",
        sub=[
            _attr("formatted"),
            _attr("familyName"),
            _attr("givenName"),
            _attr("middleName"),
            _attr("honorificPrefix"),
            _attr("honorificSuffix"),
        ],
    ),
    _attr("displayName"),
    _attr("nickName"),
    _attr("title"),
    _attr("userType"),
    _attr("preferredLanguage"),
    _attr("locale"),
    _attr("timezone"),
    # Required: a Custos account always has an administrative status (absent on input: true).
    _attr("active", "boolean", required=True),
    # Required here: every Custos account has an email address (a userName that is an email
    # address is accepted in its place).
    _attr(
        "emails",
        "complex",
        multi=True,
        required=True,
        sub=_multi_sub(types=["work", "home", "other"], value_required=True),
    ),
    _attr(
        "phoneNumbers",
        "complex",
        multi=True,
        sub=_multi_sub(types=["work", "home", "mobile", "fax", "pager", "other"]),
    ),
    _attr(
        "groups",
        "complex",
        multi=True,
        mutability="readOnly",
        sub=[
            _attr("value", mutability="readOnly"),
            _attr("$ref", "reference", mutability="readOnly", refs=["Group"]),
            _attr("display", mutability="readOnly"),
            _attr("type", mutability="readOnly", canonical=["direct"]),
        ],
    ),
]
ENTERPRISE_ATTRIBUTES = [
    _attr("employeeNumber"),
    _attr("costCenter"),
    _attr("organization"),
    _attr("division"),
    _attr("department"),
    _attr(
        "manager",
        "complex",
        sub=[
            _attr("value"),
            _attr("$ref", "reference", refs=["User"]),
            _attr("displayName", mutability="readOnly"),
        ],
    ),
]
GROUP_ATTRIBUTES = [
    _attr("displayName", required=True, uniqueness="server"),
    _attr(
        "members",
        "complex",
        multi=True,
        sub=[
            _attr("value", mutability="immutable"),
            _attr("$ref", "reference", mutability="immutable", refs=["User"]),
            _attr("display", mutability="readOnly"),
            _attr("type", mutability="immutable", canonical=["User"]),
        ],
    ),
]


def _meta(base_url: str, resource_type: str, location: str) -> dict[str, str]:
    return {"resourceType": resource_type, "location": f"{base_url}{location}"}


def service_provider_config(base_url: str) -> dict[str, Any]:
    return {
        "schemas": [SPC_SCHEMA],
        "documentationUri": f"{base_url}ServiceProviderConfig",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A per-tenant SCIM token sent as 'Authorization: Bearer scm_…'.",
                "primary": True,
            }
        ],
        "meta": _meta(base_url, "ServiceProviderConfig", "ServiceProviderConfig"),
    }


def resource_types(base_url: str) -> list[dict[str, Any]]:
    return [
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": False}],
            "meta": _meta(base_url, "ResourceType", "ResourceTypes/User"),
        },
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group",
            "schema": GROUP_SCHEMA,
            "meta": _meta(base_url, "ResourceType", "ResourceTypes/Group"),
        },
    ]


def schemas(base_url: str) -> list[dict[str, Any]]:
    return [
        {
            "schemas": [SCHEMA_SCHEMA],
            "id": USER_SCHEMA,
            "name": "User",
            "description": "User Account",
            "attributes": USER_ATTRIBUTES,
            "meta": _meta(base_url, "Schema", f"Schemas/{USER_SCHEMA}"),
        },
        {
            "schemas": [SCHEMA_SCHEMA],
            "id": ENTERPRISE_SCHEMA,
            "name": "EnterpriseUser",
            "description": "Enterprise User",
            "attributes": ENTERPRISE_ATTRIBUTES,
            "meta": _meta(base_url, "Schema", f"Schemas/{ENTERPRISE_SCHEMA}"),
        },
        {
            "schemas": [SCHEMA_SCHEMA],
            "id": GROUP_SCHEMA,
            "name": "Group",
            "description": "Group",
            "attributes": GROUP_ATTRIBUTES,
            "meta": _meta(base_url, "Schema", f"Schemas/{GROUP_SCHEMA}"),
        },
    ]


def list_response(
    resources: list[dict[str, Any]], *, total: int, start_index: int = 1
) -> dict[str, Any]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }
