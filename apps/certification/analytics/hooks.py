"""Where access events come from without the other apps knowing about analytics: Django's
sign-in signals (success and failed password) and one middleware for portal pages and API
calls. Recording never breaks the request: a failure is logged and the response goes out.

The middleware writes one INSERT per recorded request by default. With
ANALYTICS_EVENT_BUFFER_SIZE > 1 it keeps the events in a per-process buffer written in one bulk
INSERT when full, or by a timer at most ANALYTICS_EVENT_MAX_AGE_SECONDS after its first event
(the pattern of the API call log, apps.integrations.services.calls): a busy API then pays
~0.05 ms per call instead of an INSERT and a detection kick. Each event keeps the time of its
request; a crashed process loses at most one buffer."""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from apps.core.tenancy import unscoped

logger = logging.getLogger("custos.analytics")

PORTAL_READ_EVERY = 300  # seconds: one portal "read" per person and tenant in this window
EXPORT_SUFFIXES = (".csv", ".pdf", ".jsonl", ".xlsx")


def _tenants_of(user: Any) -> list[int]:
    from apps.tenants.models import Membership

    with unscoped(reason="access events: the person's tenants"):
        return list(
            Membership.objects.filter(user=user, is_active=True).values_list("tenant_id", flat=True)
        )


def _record_each(tenant_ids: list[int], **fields: Any) -> None:
    from apps.certification.analytics.services.events import access_event_record

    with unscoped(reason="access events: one per tenant of the person"):
        for tenant_id in tenant_ids:
            access_event_record(tenant=tenant_id, **fields)


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    try:
        from apps.core.middleware import client_ip

        ip = client_ip(request) if request is not None else ""
        _record_each(_tenants_of(user), kind="login", user=user, ip=ip, detail="sign-in")
    except Exception:
        logger.exception("could not record a sign-in event")


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kw: Any
) -> None:
    try:
        from apps.core.requestcontext import current_request_info
        from apps.identity.models import User

        email = str(credentials.get("username") or credentials.get("email") or "")
        user = User.objects.filter(email__iexact=email).first() if email else None
        if user is None:
            return  # no tenant to attribute it to (identity's lockout handles it)
        _record_each(
            _tenants_of(user),
            kind="auth_failed",
            user=user,
            ip=current_request_info().ip,
            detail="sign-in: wrong password",
        )
    except Exception:
        logger.exception("could not record a failed sign-in event")


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="analytics-logged-in")
    user_login_failed.connect(on_login_failed, dispatch_uid="analytics-login-failed")


def _kind(request: HttpRequest) -> str:
    path = request.path_info.lower()
    if path.endswith(EXPORT_SUFFIXES) or "/export" in path:
        return "export"
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return "read"
    return "write"


def _size(response: HttpResponse) -> int | None:
    if getattr(response, "streaming", False):
        return None
    return len(response.content)


class AccessEventMiddleware:
    """After TenantMiddleware: a successful portal page or API call in a tenant becomes an
    access event (portal reads at most once per PORTAL_READ_EVERY per person and tenant)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400:
            try:
                self._record(request, response)
            except Exception:
                logger.exception("could not record an access event")
        return response

    def _record(self, request: HttpRequest, response: HttpResponse) -> None:
        from apps.core.middleware import client_ip

        path = request.path_info
        user = getattr(request, "user", None)
        principal = ""
        if path.startswith("/api/"):
            from apps.integrations.principals import ApiPrincipal

            auth = getattr(request, "auth", None)
            if isinstance(auth, ApiPrincipal):
                tenant_id: Any = auth.tenant.pk
                principal, user = auth.credential, None
            else:
                tenant_id = getattr(request, "custos_tenant_id", None)
            channel = "api"
        else:
            tenant = getattr(request, "tenant", None)
            tenant_id = getattr(tenant, "pk", None)
            channel = "portal"
        if tenant_id is None:
            return
        if user is not None and not getattr(user, "is_authenticated", False):
            user = None
        if user is None and not principal:
            return
        kind = _kind(request)
        if kind == "read" and channel == "portal":
            key = f"custos:analytics:portal:{tenant_id}:{user.pk if user else principal}"
            if not cache.add(key, 1, timeout=PORTAL_READ_EVERY):
                return
        fields: dict[str, Any] = {
            "kind": kind,
            "user": user,
            "principal": principal,
            "channel": channel,
            "ip": client_ip(request),
            "size": _size(response) if kind == "export" else None,
            "detail": f"{request.method} {path}"[:200],
        }
        if _buffer_size() > 1:
            _buffer_add(tenant_id=int(tenant_id), fields=fields)
            return
        from apps.certification.analytics.services.events import access_event_record

        with unscoped(reason="access event of the request's tenant"):
            access_event_record(tenant=tenant_id, **fields)


# --- the per-process buffer (ANALYTICS_EVENT_BUFFER_SIZE > 1) ---------------------------------
_buffer: list[Any] = []
_buffer_since = 0.0
_buffer_lock = threading.Lock()


def _buffer_size() -> int:
    return int(getattr(settings, "ANALYTICS_EVENT_BUFFER_SIZE", 1))


def _buffer_add(*, tenant_id: int, fields: dict[str, Any]) -> None:
    from apps.certification.analytics.services.events import _build

    global _buffer_since
    event = _build(tenant_id=tenant_id, at=timezone.now(), **fields)
    now = time.monotonic()
    max_age = float(getattr(settings, "ANALYTICS_EVENT_MAX_AGE_SECONDS", 2.0))
    with _buffer_lock:
        if not _buffer:
            _buffer_since = now
            timer = threading.Timer(max_age, _flush_from_timer)
            timer.daemon = True
            timer.start()
        _buffer.append(event)
        due = len(_buffer) >= _buffer_size() or now - _buffer_since >= max_age
        batch = _buffer[:] if due else []
        if due:
            _buffer.clear()
    _write(batch)


def _write(events: list[Any]) -> None:
    """One bulk INSERT for the events of every tenant in the batch, then one detection kick."""
    if not events:
        return
    from django.db import transaction

    from apps.certification.analytics.models import AccessEvent
    from apps.certification.analytics.services.events import detection_kick

    try:
        with unscoped(reason="buffered access events: rows of many tenants"):
            with transaction.atomic():
                AccessEvent.objects.bulk_create(events)
            detection_kick()
    except Exception:  # recording must never break the request
        logger.warning("access events: %d buffered event(s) could not be written", len(events))


def _flush_from_timer() -> None:
    from django.db import connection

    try:
        access_events_flush()
    finally:
        connection.close()  # this thread's own connection


def access_events_flush() -> int:
    """Write the buffered events now (timer, process exit, tests). Returns how many."""
    with _buffer_lock:
        batch = _buffer[:]
        _buffer.clear()
    _write(batch)
    return len(batch)


atexit.register(access_events_flush)
