"""REST API v1 (django-ninja): one NinjaAPI; each app contributes a Router.

Errors have one machine-readable shape: {"error": {"code": ..., "message": ..., "details": ...}}.
The OpenAPI 3 document is served at /api/v1/openapi.json, the docs page at /api/v1/docs.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI, Router, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from apps.core.exceptions import DomainError
from apps.integrations.auth import VerifiedSessionAuth, mfa_level
from apps.tenants.selectors import membership_list_for_user

api = NinjaAPI(
    title="Custos API",
    version="1",
    description="Access governance for a multi-tenant SaaS: users, grants, access requests, "
    "decisions, licences and (read-only) audit events, per tenant.",
    urls_namespace="api-v1",
    auth=[VerifiedSessionAuth()],
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


@api.exception_handler(PermissionDenied)
def _permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(
        request, error_body("forbidden", str(exc) or "Not allowed."), status=403
    )


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, error_body("not_found", "Not found."), status=404)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return api.create_response(
        request, error_body(f"http_{exc.status_code}", str(exc)), status=exc.status_code
    )


class TenantMembershipOut(Schema):
    slug: str
    name: str
    role: str


class UserOut(Schema):
    id: int
    email: str
    name: str
    kind: str
    staff_role: str


class AuthenticationOut(Schema):
    method: str
    mfa: str


class MeOut(Schema):
    user: UserOut
    tenants: list[TenantMembershipOut]
    authentication: AuthenticationOut


me_router = Router(tags=["identity"])


@me_router.get("/me", response=MeOut, summary="The signed-in principal")
def me(request: HttpRequest) -> dict[str, Any]:
    user: Any = request.auth  # type: ignore[attr-defined]
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


def api_not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Unknown endpoints and unknown API versions answer JSON, never an HTML page."""
    return JsonResponse(
        error_body("not_found", "No such API endpoint or version. This server speaks /api/v1/."),
        status=404,
    )
