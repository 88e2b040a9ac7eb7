"""Django admin for operators: credentials are viewable (never their secrets) but not created
or edited here — the portal services issue them (shown once) and write the audit trail."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.integrations.models import (
    ApiCallRecord,
    ApiDeprecatedCall,
    ApiKey,
    OAuthClient,
    SecurityAlert,
    WebhookDelivery,
    WebhookEndpoint,
)


class _TenantReadOnly(ReadOnlyAdmin):
    list_select_related = ("tenant",)

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        from apps.core.tenancy import unscoped

        with unscoped(reason="Django admin list for operators"):
            return super().get_queryset(request)


@admin.register(ApiKey)
class ApiKeyAdmin(_TenantReadOnly):
    list_display = ("name", "tenant", "prefix", "state", "expires_at", "last_used_at")
    list_filter = ("state",)
    search_fields = ("name", "prefix", "tenant__name", "technical_contact_email")
    exclude = ("secret_hash",)


@admin.register(OAuthClient)
class OAuthClientAdmin(_TenantReadOnly):
    list_display = ("name", "tenant", "client_id", "state", "last_used_at")
    list_filter = ("state",)
    search_fields = ("name", "client_id", "tenant__name")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_TenantReadOnly):
    list_display = ("url", "tenant", "is_active", "consecutive_failures", "last_success_at")
    exclude = ("secret", "previous_secret")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_TenantReadOnly):
    list_display = ("event_type", "tenant", "status", "attempts", "next_attempt_at")
    list_filter = ("status", "event_type")


@admin.register(SecurityAlert)
class SecurityAlertAdmin(_TenantReadOnly):
    list_display = ("raised_at", "tenant", "kind", "severity", "summary", "notified_at")
    list_filter = ("kind", "severity")


@admin.register(ApiCallRecord)
class ApiCallRecordAdmin(_TenantReadOnly):
    list_display = (
        "occurred_at",
        "tenant",
        "principal_kind",
        "credential",
        "method",
        "endpoint",
        "status_code",
        "latency_ms",
    )
    list_filter = ("principal_kind", "method")


@admin.register(ApiDeprecatedCall)
class ApiDeprecatedCallAdmin(_TenantReadOnly):
    list_display = ("tenant", "credential_label", "method", "endpoint", "calls", "last_seen_at")
