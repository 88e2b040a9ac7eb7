"""Request id / client info, and the tenant context for `/t/<tenant_slug>/...` URLs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

from apps.core import tenancy
from apps.core.requestcontext import RequestInfo, reset_request_info, set_request_info

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_ip(request: HttpRequest) -> str:
    if getattr(settings, "TRUST_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:45]
    return str(request.META.get("REMOTE_ADDR", ""))[:45]


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = set_request_info(
            RequestInfo(
                request_id=request_id,
                ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", "")[:300],
            )
        )
        try:
            response = self.get_response(request)
        finally:
            reset_request_info(token)
        response["X-Request-ID"] = request_id
        return response


class TenantMiddleware:
    """Enters the tenant scope for views taking `tenant_slug`, after checking that the user may
    be there (apps.tenants.selectors.tenant_access_for_request). Outsiders get 404."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.tenant = None  # type: ignore[attr-defined]
        request.membership = None  # type: ignore[attr-defined]
        try:
            return self.get_response(request)
        finally:
            token = getattr(request, "_tenant_scope_token", None)
            if token is not None:
                token.__exit__(None, None, None)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        slug = view_kwargs.get("tenant_slug")
        if slug is None:
            return None
        if request.path_info.startswith(("/api/", "/scim/")):
            # The API authenticates bearer credentials itself and enters the tenant scope in
            # each handler (apps.integrations.auth.api_tenant), answering JSON, not redirects;
            # so does SCIM (apps.identity.scim.views_scim.scim_endpoint).
            return None
        from apps.tenants.selectors import tenant_access_for_request

        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        access = tenant_access_for_request(user=request.user, slug=slug)
        request.tenant = access.tenant  # type: ignore[attr-defined]
        request.membership = access.membership  # type: ignore[attr-defined]
        ctx = tenancy.tenant_context(access.tenant)
        ctx.__enter__()
        request._tenant_scope_token = ctx  # type: ignore[attr-defined]
        return None
