"""Reads of the integrations app (run inside the tenant scope the middleware entered, or in an
explicit `unscoped()` block for staff pages)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone

from apps.core.tenancy import unscoped
from apps.integrations.models import (
    ApiCallRecord,
    ApiDeprecatedCall,
    ApiKey,
    CredentialRotationMark,
    CredentialState,
    OAuthClient,
    SecurityAlert,
    WebhookDelivery,
    WebhookEndpoint,
)


def api_key_list(*, tenant: Any) -> QuerySet[ApiKey]:
    return (
        ApiKey.objects.for_tenant(tenant)
        .select_related("owner", "replaced_by")
        .annotate(
            _order=Case(
                When(state=CredentialState.ACTIVE, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("_order", "-created_at")  # type: ignore[return-value]
    )


def api_key_get(*, tenant: Any, pk: int) -> ApiKey:
    key = ApiKey.objects.for_tenant(tenant).select_related("tenant").filter(pk=pk).first()
    if key is None:
        raise Http404
    return key


def oauth_client_list(*, tenant: Any) -> QuerySet[OAuthClient]:
    return OAuthClient.objects.for_tenant(tenant).order_by("state", "-created_at")


def oauth_client_get(*, tenant: Any, pk: int) -> OAuthClient:
    client = OAuthClient.objects.for_tenant(tenant).select_related("tenant").filter(pk=pk).first()
    if client is None:
        raise Http404
    return client


def webhook_endpoint_list(*, tenant: Any) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.for_tenant(tenant).order_by("-is_active", "-created_at")


def webhook_endpoint_get(*, tenant: Any, pk: int) -> WebhookEndpoint:
    endpoint = (
        WebhookEndpoint.objects.for_tenant(tenant).select_related("tenant").filter(pk=pk).first()
    )
    if endpoint is None:
        raise Http404
    return endpoint


def webhook_delivery_list(*, tenant: Any, limit: int = 30) -> list[WebhookDelivery]:
    return list(
        WebhookDelivery.objects.for_tenant(tenant)
        .select_related("endpoint")
        .order_by("-created_at")[:limit]
    )


def security_alert_list(*, tenant: Any, limit: int = 20) -> list[SecurityAlert]:
    return list(SecurityAlert.objects.filter(tenant=tenant).order_by("-raised_at")[:limit])


def deprecated_call_list(*, tenant: Any) -> QuerySet[ApiDeprecatedCall]:
    return ApiDeprecatedCall.objects.for_tenant(tenant).order_by("-last_seen_at")


def api_usage_by_credential(*, tenant: Any, hours: int = 24) -> list[dict[str, Any]]:
    """Calls per key/client over the last `hours`: total, errors, average latency."""
    since = timezone.now() - timedelta(hours=hours)
    rows = (
        ApiCallRecord.objects.filter(tenant=tenant, occurred_at__gte=since)
        .exclude(credential="")
        .values("principal_kind", "credential")
        .annotate(calls=Count("id"), errors=Count("id", filter=Q(status_code__gte=400)))
        .order_by("-calls")[:50]
    )
    return list(rows)


def deprecated_calls_report() -> list[ApiDeprecatedCall]:
    """Staff: every client still calling deprecated endpoints, across tenants."""
    with unscoped(reason="staff report: deprecated API calls of every tenant"):
        return list(
            ApiDeprecatedCall.objects.select_related("tenant").order_by(
                "tenant__name", "credential_label", "endpoint"
            )[:1000]
        )


def security_alerts_all(*, limit: int = 100) -> list[SecurityAlert]:
    with unscoped(reason="staff page: security alerts of every tenant and the platform"):
        return list(SecurityAlert.objects.select_related("tenant").order_by("-raised_at")[:limit])


def rotation_mark_get(*, tenant: Any, pk: int) -> CredentialRotationMark:
    mark = (
        CredentialRotationMark.objects.for_tenant(tenant)
        .select_related("tenant")
        .filter(pk=pk, resolved_at__isnull=True)
        .first()
    )
    if mark is None:
        raise Http404
    return mark


def rotation_mark_list_open(*, tenant: Any) -> list[CredentialRotationMark]:
    return list(
        CredentialRotationMark.objects.for_tenant(tenant)
        .filter(resolved_at__isnull=True)
        .order_by("marked_at", "pk")
    )


def vendor_staff_list(*, active: bool = True) -> list[Any]:
    """Vendor staff accounts for the offboarding page (no tenant: staff are platform people)."""
    from apps.identity.models import User, UserKind

    return list(User.objects.filter(kind=UserKind.STAFF, is_active=active).order_by("email"))
