"""Around every /api/ request: the call record, deprecation headers and usage, read-volume
counting. Never lets its own failure break the response."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

logger = logging.getLogger("custos.integrations")


def _endpoint(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name == "api-not-found":
        return "api/<unknown>"
    return str(match.route)[:200]


class ApiCallMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith("/api/"):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        try:
            self._after(request, response, elapsed_ms)
        except Exception:  # bookkeeping must not break the API
            logger.exception("API call bookkeeping failed")
        return response

    def _after(self, request: HttpRequest, response: HttpResponse, elapsed_ms: float) -> None:
        from apps.core.middleware import client_ip
        from apps.integrations.deprecation import deprecation_apply, deprecation_for
        from apps.integrations.models import ApiCallRecord, PrincipalKind
        from apps.integrations.principals import ApiPrincipal
        from apps.integrations.services.calls import (
            call_log_record,
            deprecated_call_note,
            read_volume_note,
        )

        method = request.method or ""
        endpoint = _endpoint(request)
        principal = getattr(request, "auth", None)
        tenant_id = getattr(request, "custos_tenant_id", None)
        credential = ""
        if isinstance(principal, ApiPrincipal):
            kind, principal_id = principal.kind, str(principal.credential_id)
            credential, tenant_id = principal.credential, principal.tenant.pk
        elif principal is not None and getattr(principal, "is_authenticated", False):
            kind, principal_id = PrincipalKind.SESSION, str(principal.pk)
        else:
            kind, principal_id = PrincipalKind.ANONYMOUS, ""
            failure = getattr(request, "custos_auth_failure", None)
            if failure:
                tenant_id = failure["tenant_id"]
                credential = failure["credential"]

        info = deprecation_for(request, method=method, route=endpoint)
        if info is not None:
            deprecation_apply(response, info)
            if isinstance(principal, ApiPrincipal):
                deprecated_call_note(
                    principal=principal, method=method, endpoint=endpoint, sunset=info.sunset
                )
        if (
            isinstance(principal, ApiPrincipal)
            and method in ("GET", "HEAD")
            and response.status_code < 400
        ):
            read_volume_note(principal=principal)

        call_log_record(
            ApiCallRecord(
                occurred_at=timezone.now(),
                tenant_id=tenant_id,
                principal_kind=kind,
                principal_id=principal_id,
                credential=credential[:64],
                method=method[:8],
                endpoint=endpoint,
                status_code=response.status_code,
                latency_ms=round(elapsed_ms, 3),
                ip=client_ip(request),
                request_id=getattr(request, "request_id", "")[:64],
            )
        )
