"""Compliance attestations page (portal, /t/<tenant>/access/attestations/): the list with its
filters, the record/renew form and revocation with a reason. For customer admins and vendor
compliance officers who are members of the tenant (apps.access.permissions).

Every write goes through apps.access.services; refusals are shown in the form, never a 500.
Lookups run inside the tenant scope the middleware set: another tenant's ids are 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.access import selectors, services
from apps.access.forms import AttestationForm, AttestationRevokeForm
from apps.access.models import ComplianceAttestation
from apps.access.permissions import attestation_manager_required
from apps.core.exceptions import DomainError
from apps.tenants.permissions import is_tenant_admin

PAGE_LIMIT = 500
# Which form field a refusal of attestation_record belongs to (by its code).
ERROR_FIELDS = {"flag": "flag", "expires": "expires_on", "not_member": "user", "user": "user"}


def _wants_region(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request  # type: ignore[union-attr]


def _list_url(tenant: Any, filters: selectors.AttestationFilter) -> str:
    url = reverse("access:attestation_list", kwargs={"tenant_slug": tenant.slug})
    query = {k: v for k, v in (("flag", filters.flag), ("state", filters.state)) if v}
    return f"{url}?{urlencode(query)}" if query else url


def _initial(tenant: Any, request: HttpRequest) -> dict[str, Any]:
    """?renew=<id> prefills the form with that attestation's person and flag."""
    try:
        renew_id = int(request.GET.get("renew", ""))
    except ValueError:
        return {}
    found = selectors.attestation_get(tenant=tenant, attestation_id=renew_id)
    if found is None:
        return {}
    return {"user": found.user_id, "flag": found.flag, "evidence": found.evidence}


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
@attestation_manager_required
def attestation_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    filters = selectors.AttestationFilter.parse(request.GET)
    flags = selectors.attestation_flag_choices(tenant=tenant)
    form = AttestationForm(
        request.POST or None,
        users=selectors.attestation_member_users(tenant=tenant),
        flags=flags,
        initial=_initial(tenant, request),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = services.attestation_record(
                actor=request.user,
                tenant=tenant,
                user=data["user"],
                flag=data["flag"],
                expires_at=form.expires_at(),
                evidence=data["evidence"],
            )
        except DomainError as exc:
            form.add_error(ERROR_FIELDS.get(exc.code), exc.message)
        else:
            messages.success(
                request,
                _("Attestation %(flag)s recorded for %(user)s.")
                % {"flag": saved.flag_label, "user": saved.user},
            )
            return redirect(_list_url(tenant, filters))
    attestations: list[ComplianceAttestation] = list(
        selectors.attestation_list(tenant=tenant, filters=filters)[:PAGE_LIMIT]
    )
    context = {
        "tenant": tenant,
        "list_url": reverse("access:attestation_list", kwargs={"tenant_slug": tenant.slug}),
        "attestations": attestations,
        "limited": len(attestations) == PAGE_LIMIT,
        "filters": filters,
        "flags": flags,
        "form": form,
        "revoke_form": AttestationRevokeForm(),
        "is_admin": is_tenant_admin(request),
    }
    status = 400 if request.method == "POST" else 200
    if request.method == "GET" and _wants_region(request):
        return render(request, "access/attestation_list.html#attestation-rows", context)
    return render(request, "access/attestation_list.html", context, status=status)


@require_POST
@attestation_manager_required
def attestation_revoke(request: HttpRequest, tenant_slug: str, attestation_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    attestation = selectors.attestation_get(tenant=tenant, attestation_id=attestation_id)
    if attestation is None:
        raise Http404(_("No such attestation."))
    filters = selectors.AttestationFilter.parse(request.POST)
    form = AttestationRevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give a reason for the revocation."))
        return redirect(_list_url(tenant, filters))
    try:
        services.attestation_revoke(
            actor=request.user, attestation=attestation, reason=form.cleaned_data["reason"]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Attestation %(flag)s of %(user)s revoked.")
            % {"flag": attestation.flag_label, "user": attestation.user},
        )
    return redirect(_list_url(tenant, filters))
