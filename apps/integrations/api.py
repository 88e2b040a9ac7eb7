"""REST API v1 (django-ninja): one NinjaAPI; each app contributes a Router.

Errors have one machine-readable shape: {"error": {"code": ..., "message": ..., "details": ...}}.
The OpenAPI 3 document is served at /api/v1/openapi.json, the docs page at /api/v1/docs.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI, Router, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from apps.core.exceptions import DomainError
from apps.integrations.api_schema import ApiOut
from apps.integrations.auth import ApiKeyAuth, OAuthBearerAuth, VerifiedSessionAuth, mfa_level
from apps.integrations.errors import ApiAuthError
from apps.integrations.principals import ApiPrincipal
from apps.tenants.selectors import membership_list_for_user

logger = logging.getLogger("custos.api")


class ErrorDetailOut(Schema):
    code: str
    message: str
    details: Any = None


class ErrorOut(Schema):
    """Every refusal of the API (the token endpoint answers in the OAuth format instead)."""

    error: ErrorDetailOut


# What every operation can answer besides its own success codes, so the document describes the
# real responses (tests/security/test_api_fuzz.py holds the server to it).
_ERROR_RESPONSES: dict[int, str] = {
    400: "Malformed request or a refusal by a business rule (`error.code` says which).",
    401: "No credential, or an unknown, expired or revoked one (`WWW-Authenticate` says why).",
    403: "The credential lacks the scope, the network is not allowed or the tenant is closed.",
    404: "No such tenant or object — or one this credential may not see.",
    409: "The request conflicts with the current state (e.g. a duplicate).",
    413: "The request body is too large.",
    415: "The request body is not in a media type this operation accepts.",
    422: "The request does not match this document (`error.details` lists the problems).",
    429: "Over the credential's rate limit; retry after `Retry-After` seconds.",
}
_WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})


def _error_codes(method: str, operation: dict[str, Any]) -> list[int]:
    codes = [400, 404, 422]
    if operation.get("security"):
        codes += [401, 403, 429]
    if method in _WRITE_METHODS:
        codes += [409]
    if "requestBody" in operation:
        codes += [413, 415]
    return sorted(codes)


class CustosApi(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(**kwargs)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorDetailOut"] = ErrorDetailOut.model_json_schema()
        schemas["ErrorOut"] = {
            "title": "ErrorOut",
            "type": "object",
            "properties": {"error": {"$ref": "#/components/schemas/ErrorDetailOut"}},
            "required": ["error"],
        }
        error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        for path_item in schema.get("paths", {}).values():
            for method, operation in path_item.items():
                responses = operation.setdefault("responses", {})
                oauth_format = "OAuthErrorOut" in str(responses.get(400, ""))
                for code in _error_codes(method, operation):
                    if code in responses or str(code) in responses:
                        continue
                    if oauth_format and code in (400, 401):
                        continue
                    response: dict[str, Any] = {
                        "description": _ERROR_RESPONSES[code],
                        "content": error_content,
                    }
                    if code == 429:
                        response["headers"] = {
                            "Retry-After": {
                                "description": "Seconds to wait before the next request.",
                                "schema": {"type": "integer", "minimum": 1},
                                "required": True,
                            }
                        }
                    responses[code] = response
        self._mark_deprecated(schema)
        return schema

    def _view_funcs(self) -> dict[str, Any]:
        """operationId -> view function, over every router (to find `@deprecated` ones)."""
        found: dict[str, Any] = {}
        pending = [router for _prefix, router, *_rest in getattr(self, "_routers", [])]
        while pending:
            router = pending.pop()
            pending.extend(r for _p, r, *_x in getattr(router, "_routers", []))
            for path_view in getattr(router, "path_operations", {}).values():
                for operation in path_view.operations:
                    found[self.get_openapi_operation_id(operation)] = operation.view_func
        return found

    def _mark_deprecated(self, schema: Any) -> None:
        """Deprecated operations (decorator or settings.API_DEPRECATIONS) say so in the
        document, with the Deprecation / Sunset / Link headers their answers carry."""
        import re

        from apps.integrations.conf import conf

        configured = {
            (
                key.split(" ", 1)[0].lower(),
                "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", key.split(" ", 1)[1]),
            )
            for key in conf("API_DEPRECATIONS")
            if " " in key
        }
        views = self._view_funcs()
        headers = {
            "Deprecation": {
                "description": "RFC 9745: `@<unix time>` since when",
                "schema": {"type": "string"},
            },
            "Sunset": {
                "description": "RFC 8594: the HTTP-date it stops working",
                "schema": {"type": "string"},
            },
            "Link": {
                "description": "Migration guide (rel=deprecation / sunset)",
                "schema": {"type": "string"},
            },
        }
        for path, path_item in schema.get("paths", {}).items():
            for method, operation in path_item.items():
                view = views.get(operation.get("operationId", ""))
                if (method, path) not in configured and not hasattr(view, "custos_deprecation"):
                    continue
                operation["deprecated"] = True
                for code, response in operation.get("responses", {}).items():
                    if 200 <= int(code) < 300:
                        response.setdefault("headers", {}).update(headers)


api = CustosApi(
    title="Custos API",
    version="1",
    description="Access governance for a multi-tenant SaaS: users, grants, access requests, "
    "decisions, licences and (read-only) audit events, per tenant.\n\n"
    "Authenticate with a tenant API key (`Authorization: Bearer cus_…`), an OAuth2 access "
    "token from `POST /api/v1/oauth/token` (client credentials with private_key_jwt; "
    "`Authorization: Bearer cat_…`) or, from the portal, your signed-in session. "
    'Errors are `{"error": {"code", "message", "details"}}`. See docs/api.md.',
    urls_namespace="api-v1",
    # Bearer credentials first: a bad one is refused and never falls back to the session.
    auth=[ApiKeyAuth(), OAuthBearerAuth(), VerifiedSessionAuth()],
)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return api.create_response(request, error_body(exc.code, exc.message), status=exc.status_code)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(
        request,
        error_body("validation_error", "The request is not valid.", exc.errors),
        status=422,
    )


@api.exception_handler(AuthenticationError)
def _authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request,
        error_body("unauthenticated", "Authentication is required."),
        status=401,
    )


@api.exception_handler(ApiAuthError)
def _api_auth_error(request: HttpRequest, exc: ApiAuthError) -> HttpResponse:
    response = api.create_response(
        request, error_body(exc.code, exc.message, exc.details), status=exc.status
    )
    for name, value in exc.headers.items():
        response[name] = value
    if exc.status == 401:
        response["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{exc.code}"'
        )
    return response


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return api.create_response(
        request, error_body("payload_too_large", "The request body is too large."), status=413
    )


@api.exception_handler(MultiPartParserError)
def _multipart(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    # e.g. `Content-Type: multipart/form-data` without a boundary
    return api.create_response(
        request, error_body("bad_request", "The request body could not be parsed."), status=400
    )


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    return api.create_response(
        request, error_body("bad_request", "The request could not be understood."), status=400
    )


@api.exception_handler(OverflowError)
def _overflow(request: HttpRequest, exc: OverflowError) -> HttpResponse:
    # An integer beyond the database's range (e.g. a 20-digit id): the input is wrong, not us.
    return api.create_response(
        request,
        error_body("validation_error", "A number in the request is out of range."),
        status=422,
    )


@api.exception_handler(DataError)
def _data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
    # The database refused a value (out of range, too long, bad encoding) that passed the
    # schema: the request is at fault. Logged, since the schema should have caught it.
    logger.warning("API input refused by the database: %s", type(exc.__cause__).__name__)
    return api.create_response(
        request,
        error_body("validation_error", "A value in the request is out of range or malformed."),
        status=422,
    )


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Never a traceback (it could carry request data) — not even with DEBUG on.
    logger.exception("unhandled API error (request %s)", getattr(request, "request_id", ""))
    return api.create_response(
        request, error_body("internal_error", "Something went wrong on our side."), status=500
    )


@api.exception_handler(PermissionDenied)
def _permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(
        request, error_body("forbidden", str(exc) or "Not allowed."), status=403
    )


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, error_body("not_found", "Not found."), status=404)


_HTTP_ERROR_CODES = {
    400: "bad_request",  # e.g. a body that is not JSON
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = _HTTP_ERROR_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return api.create_response(request, error_body(code, str(exc)), status=exc.status_code)


class TenantMembershipOut(ApiOut):
    slug: str
    name: str
    role: str


class UserOut(ApiOut):
    id: int
    email: str
    name: str
    kind: str
    staff_role: str


class AuthenticationOut(ApiOut):
    method: str
    mfa: str


class CredentialOut(ApiOut):
    kind: str
    id: int
    name: str
    credential: str
    scopes: list[str]


class MeOut(ApiOut):
    user: UserOut | None
    credential: CredentialOut | None = None
    tenants: list[TenantMembershipOut]
    authentication: AuthenticationOut


me_router = Router(tags=["identity"])


def _me_for_credential(principal: ApiPrincipal) -> dict[str, Any]:
    return {
        "user": None,
        "credential": {
            "kind": principal.kind,
            "id": principal.credential_id,
            "name": principal.name,
            "credential": principal.credential,
            "scopes": sorted(principal.scopes),
        },
        "tenants": [
            {"slug": principal.tenant.slug, "name": principal.tenant.name, "role": "integration"}
        ],
        "authentication": {"method": principal.kind, "mfa": "none"},
    }


@me_router.get("/me", response=MeOut, summary="The signed-in principal")
def me(request: HttpRequest) -> dict[str, Any]:
    """Who is calling: a person (session) or an API key / OAuth client, with its tenant(s)."""
    user: Any = request.auth  # type: ignore[attr-defined]
    if isinstance(user, ApiPrincipal):
        return _me_for_credential(user)
    memberships = membership_list_for_user(user=user)
    return {
        "user": {
            "id": user.pk,
            "email": user.email,
            "name": user.get_full_name(),
            "kind": user.kind,
            "staff_role": user.staff_role,
        },
        "tenants": [
            {"slug": m.tenant.slug, "name": m.tenant.name, "role": m.role} for m in memberships
        ],
        "authentication": {
            "method": getattr(request, "auth_method", "session"),
            "mfa": mfa_level(request),
        },
    }


api.add_router("/", me_router)

from apps.integrations.api_oauth import router as oauth_router  # noqa: E402
from apps.integrations.api_tenant import router as integrations_router  # noqa: E402

api.add_router("/", oauth_router)
api.add_router("/", integrations_router)
api.add_router("/", "apps.licenses.api.router")  # onboarding and licences (issue 7)
api.add_router("/", "apps.requests.api.router")  # access requests (issue 4)
api.add_router("/", "apps.access.api.router")  # policy decisions (issue 3)
api.add_router("/", "apps.certification.analytics.api.router")  # access events (issue 6)


def api_not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Unknown endpoints and unknown API versions answer JSON, never an HTML page."""
    return JsonResponse(
        error_body("not_found", "No such API endpoint or version. This server speaks /api/v1/."),
        status=404,
    )
