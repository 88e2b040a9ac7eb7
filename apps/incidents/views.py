"""Customer portal: the incidents that affect this tenant (/t/<tenant>/incidents/), what was
suspended here, the write-up, notifications, policy changes, and the customer admin's
sign-off. Everything is read inside the tenant scope the middleware set."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.core.exceptions import DomainError
from apps.incidents import selectors, services
from apps.incidents.forms import SignoffForm
from apps.tenants.models import TenantRole
from apps.tenants.permissions import tenant_admin_required


@require_GET
@tenant_admin_required
def incident_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return render(
        request, "incidents/incident_list.html", {"rows": selectors.portal_incident_rows()}
    )


def _detail_context(request: HttpRequest, incident_id: int, form: SignoffForm | None) -> dict:
    row = selectors.portal_incident_row(incident_id=incident_id)
    can_sign = (
        request.membership.role == TenantRole.CUSTOMER_ADMIN  # type: ignore[attr-defined]
        and row.signed_off_at is None
        and row.incident.postmortem_done
        and not row.incident.is_closed
    )
    return {
        "row": row,
        "incident": row.incident,
        "facts": selectors.portal_incident_facts(row=row),
        "can_sign": can_sign,
        "form": form or SignoffForm(),
    }


@require_GET
@tenant_admin_required
def incident_detail(request: HttpRequest, tenant_slug: str, incident_id: int) -> HttpResponse:
    return render(
        request, "incidents/incident_detail.html", _detail_context(request, incident_id, None)
    )


@require_POST
@tenant_admin_required
def incident_signoff(request: HttpRequest, tenant_slug: str, incident_id: int) -> HttpResponse:
    row = selectors.portal_incident_row(incident_id=incident_id)
    form = SignoffForm(request.POST)
    if form.is_valid():
        try:
            services.incident_signoff_record(
                actor=request.user,
                incident=row.incident,
                tenant=request.tenant,  # type: ignore[attr-defined]
                statement=form.cleaned_data["statement"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
            status = exc.status_code
        else:
            messages.success(request, _("Sign-off recorded. Thank you."))
            return redirect(
                "incidents:detail", tenant_slug=tenant_slug, incident_id=row.incident_id
            )
    else:
        status = 400
    return render(
        request,
        "incidents/incident_detail.html",
        _detail_context(request, incident_id, form),
        status=status,
    )
