"""Customer portal: Integrations (API keys, OAuth clients, webhooks, API usage and alerts).
Tenant admins only. A new credential's secret is rendered once, in the response to the POST
that created it (never stored, never in a URL, `Cache-Control: no-store`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.core.exceptions import DomainError
from apps.integrations import selectors
from apps.integrations.forms import (
    ApiKeyForm,
    OAuthClientForm,
    RevokeForm,
    RotateForm,
    WebhookForm,
)
from apps.integrations.services import api_keys as key_services
from apps.integrations.services import oauth as oauth_services
from apps.integrations.services import webhooks as webhook_services
from apps.integrations.services.oauth import token_endpoint_url
from apps.tenants.permissions import tenant_admin_required


def _page(
    request: HttpRequest, template: str, partial: str, context: dict[str, Any]
) -> HttpResponse:
    htmx = getattr(request, "htmx", None)
    is_partial = bool(htmx and not htmx.boosted)
    name = f"{template}#{partial}" if is_partial else template
    context = {"tenant": request.tenant, "partial": is_partial, **context}  # type: ignore[attr-defined]
    response = render(request, template_name=name, context=context)
    add_never_cache_headers(response)  # pages may carry a secret shown once
    return response


def _contact_initial(request: HttpRequest) -> dict[str, Any]:
    user: Any = request.user
    return {"technical_contact_email": user.email, "contact_language": user.language or "en"}


# --- overview --------------------------------------------------------------------------------
@require_GET
@tenant_admin_required
def integrations_home(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    return _page(
        request,
        "integrations/integrations_home.html",
        "integrations-overview",
        {
            "usage": selectors.api_usage_by_credential(tenant=tenant),
            "alerts": selectors.security_alert_list(tenant=tenant),
            "deprecated": list(selectors.deprecated_call_list(tenant=tenant)[:50]),
            "rotations": selectors.rotation_mark_list_open(tenant=tenant),
            "token_url": token_endpoint_url(request),
        },
    )


# --- API keys --------------------------------------------------------------------------------
def _keys_page(request: HttpRequest, **extra: Any) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    context = {
        "keys": list(selectors.api_key_list(tenant=tenant)),
        "form": ApiKeyForm(initial=_contact_initial(request)),
        "rotate_form": RotateForm(),
        "now": timezone.now(),
        **extra,
    }
    return _page(request, "integrations/api_key_list.html", "api-key-page", context)


@require_GET
@vary_on_headers("HX-Request")
@tenant_admin_required
def api_keys(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return _keys_page(request)


@require_POST
@sensitive_post_parameters()
@sensitive_variables("issued")
@tenant_admin_required
def api_key_create(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, form=form)
    data = form.cleaned_data
    try:
        issued = key_services.api_key_create(
            actor=request.user,
            tenant=request.tenant,  # type: ignore[attr-defined]
            name=data["name"],
            scopes=data["scopes"],
            technical_contact_email=data["technical_contact_email"],
            contact_language=data["contact_language"],
            expires_at=timezone.now() + timedelta(days=data["expires_in_days"]),
            allowed_cidrs=data["allowed_cidrs"],
            rate_limit_per_minute=data["rate_limit_per_minute"],
            rate_limit_burst=data["rate_limit_burst"],
        )
    except DomainError as exc:
        form.add_error(None, exc.message)
        return _keys_page(request, form=form)
    return _keys_page(request, issued_token=issued.token, issued_key=issued.key)


@require_POST
@sensitive_post_parameters()
@sensitive_variables("issued")
@tenant_admin_required
def api_key_rotate(request: HttpRequest, tenant_slug: str, key_id: int) -> HttpResponse:
    key = selectors.api_key_get(tenant=request.tenant, pk=key_id)  # type: ignore[attr-defined]
    form = RotateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose an overlap between 0 and 336 hours."))
        return _keys_page(request)
    try:
        issued = key_services.api_key_rotate(
            actor=request.user, key=key, overlap_hours=form.cleaned_data["overlap_hours"]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return _keys_page(request)
    return _keys_page(request, issued_token=issued.token, issued_key=issued.key, rotated=key)


@require_POST
@sensitive_post_parameters()
@tenant_admin_required
def api_key_revoke(request: HttpRequest, tenant_slug: str, key_id: int) -> HttpResponse:
    key = selectors.api_key_get(tenant=request.tenant, pk=key_id)  # type: ignore[attr-defined]
    form = RevokeForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    if key_services.api_key_revoke(actor=request.user, key=key, reason=reason):
        messages.success(request, _("The key %(key)s is revoked.") % {"key": key.display_token})
    return _keys_page(request)


# --- OAuth clients -----------------------------------------------------------------------------
def _clients_page(request: HttpRequest, **extra: Any) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    context = {
        "clients": list(selectors.oauth_client_list(tenant=tenant)),
        "form": OAuthClientForm(initial=_contact_initial(request)),
        "token_url": token_endpoint_url(request),
        **extra,
    }
    return _page(request, "integrations/oauth_client_list.html", "oauth-client-page", context)


@require_GET
@vary_on_headers("HX-Request")
@tenant_admin_required
def oauth_clients(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return _clients_page(request)


@require_POST
@sensitive_post_parameters()
@tenant_admin_required
def oauth_client_create(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = OAuthClientForm(request.POST)
    if not form.is_valid():
        return _clients_page(request, form=form)
    data = form.cleaned_data
    try:
        client = oauth_services.oauth_client_create(
            actor=request.user,
            tenant=request.tenant,  # type: ignore[attr-defined]
            spec=oauth_services.ClientSpec(
                name=data["name"],
                allowed_scopes=data["scopes"],
                technical_contact_email=data["technical_contact_email"],
                contact_language=data["contact_language"],
                public_key_pem=data["public_key_pem"],
                jwks_url=data["jwks_url"] or "",
                token_lifetime_seconds=data["token_lifetime_seconds"],
                allowed_cidrs=data["allowed_cidrs"],
            ),
        )
    except DomainError as exc:
        form.add_error(None, exc.message)
        return _clients_page(request, form=form)
    return _clients_page(request, created=client)


@require_POST
@sensitive_post_parameters()
@tenant_admin_required
def oauth_client_revoke(request: HttpRequest, tenant_slug: str, client_id: int) -> HttpResponse:
    client = selectors.oauth_client_get(tenant=request.tenant, pk=client_id)  # type: ignore[attr-defined]
    form = RevokeForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    if oauth_services.oauth_client_revoke(actor=request.user, client=client, reason=reason):
        messages.success(request, _("The client %(name)s is revoked.") % {"name": client.name})
    return _clients_page(request)


# --- webhooks --------------------------------------------------------------------------------
def _webhooks_page(request: HttpRequest, **extra: Any) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    context = {
        "endpoints": list(selectors.webhook_endpoint_list(tenant=tenant)),
        "deliveries": selectors.webhook_delivery_list(tenant=tenant),
        "form": WebhookForm(),
        "event_types": webhook_services.EVENT_TYPES,
        **extra,
    }
    return _page(request, "integrations/webhook_list.html", "webhook-page", context)


@require_GET
@vary_on_headers("HX-Request")
@tenant_admin_required
def webhooks(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return _webhooks_page(request)


@require_POST
@sensitive_post_parameters()
@sensitive_variables("issued")
@tenant_admin_required
def webhook_create(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _webhooks_page(request, form=form)
    try:
        issued = webhook_services.webhook_endpoint_create(
            actor=request.user,
            tenant=request.tenant,  # type: ignore[attr-defined]
            url=form.cleaned_data["url"],
            event_types=form.cleaned_data["event_types"],
            description=form.cleaned_data["description"],
        )
    except DomainError as exc:
        form.add_error(None, exc.message)
        return _webhooks_page(request, form=form)
    return _webhooks_page(request, issued_secret=issued.secret, issued_endpoint=issued.endpoint)


@require_POST
@sensitive_post_parameters()
@sensitive_variables("issued")
@tenant_admin_required
def webhook_rotate_secret(request: HttpRequest, tenant_slug: str, endpoint_id: int) -> HttpResponse:
    endpoint = selectors.webhook_endpoint_get(tenant=request.tenant, pk=endpoint_id)  # type: ignore[attr-defined]
    form = RotateForm(request.POST)
    hours = form.cleaned_data["overlap_hours"] if form.is_valid() else None
    issued = webhook_services.webhook_endpoint_rotate_secret(
        actor=request.user, endpoint=endpoint, overlap_hours=hours
    )
    return _webhooks_page(request, issued_secret=issued.secret, issued_endpoint=issued.endpoint)


@require_POST
@tenant_admin_required
def webhook_toggle(request: HttpRequest, tenant_slug: str, endpoint_id: int) -> HttpResponse:
    endpoint = selectors.webhook_endpoint_get(tenant=request.tenant, pk=endpoint_id)  # type: ignore[attr-defined]
    webhook_services.webhook_endpoint_set_active(
        actor=request.user, endpoint=endpoint, active=not endpoint.is_active
    )
    return _webhooks_page(request)


@require_POST
@tenant_admin_required
def webhook_test(request: HttpRequest, tenant_slug: str, endpoint_id: int) -> HttpResponse:
    endpoint = selectors.webhook_endpoint_get(tenant=request.tenant, pk=endpoint_id)  # type: ignore[attr-defined]
    webhook_services.webhook_event_emit(
        tenant=request.tenant,  # type: ignore[attr-defined]
        event_type=webhook_services.TEST_EVENT,
        payload={"message": "Test event from Custos", "requested_by": request.user.pk},
        endpoint=endpoint,
    )
    messages.success(request, _("A test event is queued; it is sent within seconds."))
    return _webhooks_page(request)


# --- shared credentials to rotate after someone left --------------------------------------------
@require_POST
@tenant_admin_required
def rotation_mark_confirm(request: HttpRequest, tenant_slug: str, mark_id: int) -> HttpResponse:
    from apps.integrations.services.offboarding import rotation_mark_confirm as confirm

    mark = selectors.rotation_mark_get(tenant=request.tenant, pk=mark_id)  # type: ignore[attr-defined]
    try:
        confirm(actor=request.user, mark=mark)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Recorded: the credential has been rotated."))
    return redirect("integrations:home", tenant_slug=tenant_slug)
