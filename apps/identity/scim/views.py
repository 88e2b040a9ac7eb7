"""Customer portal: Directory sync (/t/<tenant>/directory/). Tenant admins only: SCIM tokens
(shown once, rotate with overlap, revoke), sync settings, group → role mappings, the stale
access report and the revocation confirmations of the leaver."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.core.exceptions import DomainError
from apps.identity.scim import selectors, services
from apps.identity.scim.forms import (
    GroupMappingForm,
    SyncSettingsForm,
    TokenForm,
    TokenRevokeForm,
    TokenRotateForm,
)
from apps.identity.scim.models import ScimGroup, ScimGroupRoleMapping
from apps.tenants.permissions import tenant_admin_required


def _role_choices(tenant: Any) -> list[tuple[str, str]] | None:
    """The tenant's roles from apps.access when it offers them; else a free role key."""
    try:
        from apps.access.models import Role
    except ImportError:
        return None
    try:
        roles = Role.objects.for_tenant(tenant).order_by("name")  # type: ignore[attr-defined]
        return [(r.key, f"{r.name} ({r.key})") for r in roles]
    except Exception:
        return None


def _confirmations(tenant: Any) -> list[Any]:
    from apps.lifecycle.models import RevocationConfirmation

    return list(RevocationConfirmation.objects.for_tenant(tenant).select_related("user")[:50])


def _page(request: HttpRequest, **extra: Any) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    settings_row = selectors.scim_settings_for(tenant)
    groups = selectors.group_choices(tenant=tenant)
    context = {
        "tenant": tenant,
        "scim_base_url": request.build_absolute_uri(f"/scim/v2/{tenant.slug}/"),
        "tokens": list(selectors.scim_token_list(tenant=tenant)),
        "counts": selectors.directory_counts(tenant=tenant),
        "settings_row": settings_row,
        "stale": selectors.stale_users(tenant=tenant, staleness_days=settings_row.staleness_days),
        "mappings": list(selectors.group_mapping_list(tenant=tenant)),
        "confirmations": _confirmations(tenant),
        "now": timezone.now(),
        "token_form": TokenForm(),
        "rotate_form": TokenRotateForm(),
        "settings_form": SyncSettingsForm(
            initial={
                "sync_interval_minutes": settings_row.sync_interval_minutes,
                "staleness_days": settings_row.staleness_days,
            }
        ),
        "mapping_form": GroupMappingForm(
            groups=[(g.pk, g.display_name) for g in groups], roles=_role_choices(tenant)
        ),
        **extra,
    }
    htmx = getattr(request, "htmx", None)
    partial = bool(htmx and not htmx.boosted)
    name = "scim/directory_home.html" + ("#directory-page" if partial else "")
    response = render(request, name, {**context, "partial": partial})
    add_never_cache_headers(response)  # may carry a token shown once
    return response


@require_GET
@vary_on_headers("HX-Request")
@tenant_admin_required
def directory_home(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return _page(request)


@require_POST
@sensitive_post_parameters()
@sensitive_variables("issued")
@tenant_admin_required
def token_create(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, token_form=form)
    days = form.cleaned_data["expires_in_days"]
    try:
        issued = services.scim_token_create(
            actor=request.user,
            tenant=request.tenant,  # type: ignore[attr-defined]
            name=form.cleaned_data["name"],
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
    except DomainError as exc:
        form.add_error(None, exc.message)
        return _page(request, token_form=form)
    return _page(request, issued_secret=issued.secret, issued_token=issued.token)


@require_POST
@sensitive_post_parameters()
@sensitive_variables("issued")
@tenant_admin_required
def token_rotate(request: HttpRequest, tenant_slug: str, token_id: int) -> HttpResponse:
    token = selectors.scim_token_get(tenant=request.tenant, pk=token_id)  # type: ignore[attr-defined]
    form = TokenRotateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose an overlap between 0 and 336 hours."))
        return _page(request)
    try:
        issued = services.scim_token_rotate(
            actor=request.user, token=token, overlap_hours=form.cleaned_data["overlap_hours"]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return _page(request)
    return _page(request, issued_secret=issued.secret, issued_token=issued.token, rotated=token)


@require_POST
@tenant_admin_required
def token_revoke(request: HttpRequest, tenant_slug: str, token_id: int) -> HttpResponse:
    token = selectors.scim_token_get(tenant=request.tenant, pk=token_id)  # type: ignore[attr-defined]
    form = TokenRevokeForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    if services.scim_token_revoke(actor=request.user, token=token, reason=reason):
        messages.success(
            request, _("The token %(token)s is revoked.") % {"token": token.display_token}
        )
    return _page(request)


@require_POST
@tenant_admin_required
def settings_update(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = SyncSettingsForm(request.POST)
    if not form.is_valid():
        return _page(request, settings_form=form)
    try:
        services.scim_settings_update(
            actor=request.user,
            tenant=request.tenant,  # type: ignore[attr-defined]
            sync_interval_minutes=form.cleaned_data["sync_interval_minutes"],
            staleness_days=form.cleaned_data["staleness_days"],
        )
    except DomainError as exc:
        form.add_error(None, exc.message)
        return _page(request, settings_form=form)
    messages.success(request, _("Sync settings saved."))
    return _page(request)


@require_POST
@tenant_admin_required
def mapping_create(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    groups = selectors.group_choices(tenant=tenant)
    form = GroupMappingForm(
        request.POST, groups=[(g.pk, g.display_name) for g in groups], roles=_role_choices(tenant)
    )
    if not form.is_valid():
        return _page(request, mapping_form=form)
    group = ScimGroup.objects.for_tenant(tenant).filter(pk=form.cleaned_data["group"]).first()
    if group is None:
        raise Http404
    try:
        services.group_role_mapping_create(
            actor=request.user, tenant=tenant, group=group, role_key=form.cleaned_data["role_key"]
        )
    except DomainError as exc:
        form.add_error(None, exc.message)
        return _page(request, mapping_form=form)
    messages.success(
        request,
        _("Members of %(group)s now get the role %(role)s at their next directory change.")
        % {"group": group.display_name, "role": form.cleaned_data["role_key"]},
    )
    return _page(request)


@require_POST
@tenant_admin_required
def mapping_delete(request: HttpRequest, tenant_slug: str, mapping_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    mapping = ScimGroupRoleMapping.objects.for_tenant(tenant).filter(pk=mapping_id).first()
    if mapping is None:
        raise Http404
    services.group_role_mapping_delete(actor=request.user, mapping=mapping)
    messages.success(request, _("The mapping is removed."))
    return _page(request)
