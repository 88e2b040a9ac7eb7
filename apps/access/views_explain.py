"""The "who can reach what, and why" pages, the vendor-access page and the access inventory
downloads (portal), and the access explorer (staff console: one employee in every tenant).

Portal pages run inside the tenant scope set by TenantMiddleware, so every lookup below is
tenant-scoped: another tenant's environment or person is simply not found (404).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.access import reports
from apps.access import selectors_explain as sel
from apps.access.models import GrantSource, PermissionLevel, ServiceAccount
from apps.core.audit.services import audit_event_record
from apps.tenants.models import ADMIN_ROLES, Environment, TenantRole
from apps.tenants.permissions import tenant_member_required, tenant_role_required

EXPLAIN_ROLES = (*ADMIN_ROLES, TenantRole.REVIEWER, TenantRole.APPROVER)
explainer_required = tenant_role_required(*EXPLAIN_ROLES)


def _wants_region(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request  # type: ignore[union-attr]


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], region: str = "explain-rows"
) -> HttpResponse:
    name = f"{template}#{region}" if _wants_region(request) else template
    return render(request, name, context)


def _after(request: HttpRequest) -> int | None:
    try:
        value = int(request.GET.get("after", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def _filter_context(filters: sel.ExplainFilter) -> dict[str, Any]:
    return {
        "filters": filters,
        "levels": PermissionLevel.choices,
        "sources": GrantSource.choices,
    }


def _environment_or_404(environment_id: int) -> Environment:
    environment = Environment.objects.filter(pk=environment_id).first()
    if environment is None:
        raise Http404(_("No such environment."))
    return environment


def _user_or_404(user_id: int) -> Any:
    person = get_user_model().objects.filter(pk=user_id).first()
    if person is None or not sel.user_has_presence(user=person):
        raise Http404(_("No such person in this tenant."))
    return person


def _explain_base(request: HttpRequest) -> str:
    """URL prefix of the explain pages (row links are built from it: one reverse a page)."""
    return reverse("access:explain_home", kwargs={"tenant_slug": request.tenant.slug})  # type: ignore[attr-defined]


def _can_explain(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and membership.role in EXPLAIN_ROLES


# --- portal ---------------------------------------------------------------------------------------


@require_GET
@explainer_required
def explain_home(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """Start page: pick an environment or a person; download the inventory."""
    tenant = request.tenant  # type: ignore[attr-defined]
    from apps.tenants.models import Membership

    return render(
        request,
        "access/explain_home.html",
        {
            "tenant": tenant,
            "environments": list(Environment.objects.order_by("name")[:500]),
            "members": list(
                Membership.objects.filter(is_active=True)
                .select_related("user")
                .order_by("user__full_name", "user__email")[:500]
            ),
        },
    )


@require_GET
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
@explainer_required
def explain_environment(
    request: HttpRequest, tenant_slug: str, environment_id: int
) -> HttpResponse:
    """Who can access environment E, and why."""
    environment = _environment_or_404(environment_id)
    filters = sel.ExplainFilter.parse(request.GET)
    page = sel.environment_access_page(
        environment=environment, filters=filters, after=_after(request)
    )
    return _render(
        request,
        "access/explain_environment.html",
        {
            "tenant": request.tenant,  # type: ignore[attr-defined]
            "explain_base": _explain_base(request),
            "environment": environment,
            "page": page,
            "after": _after(request),
            **_filter_context(filters),
        },
    )


@require_GET
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
@tenant_member_required
def explain_user(request: HttpRequest, tenant_slug: str, user_id: int) -> HttpResponse:
    """What can person U access in this tenant, and why. Admins, approvers and reviewers see
    anyone; everyone else only themselves."""
    if user_id != request.user.pk and not _can_explain(request):
        raise PermissionDenied
    person = _user_or_404(user_id)
    filters = sel.ExplainFilter.parse(request.GET)
    page = sel.user_access_page(user=person, filters=filters, after=_after(request))
    return _render(
        request,
        "access/explain_user.html",
        {
            "tenant": request.tenant,  # type: ignore[attr-defined]
            "explain_base": _explain_base(request),
            "person": person,
            "page": page,
            "after": _after(request),
            **_filter_context(filters),
        },
    )


SUBJECT_MODELS = ("user", "service_account", "api_key")


def _subject_or_404(kind: str, subject_id: int) -> Any:
    if kind == "user":
        return _user_or_404(subject_id)
    if kind == "service_account":
        found = ServiceAccount.objects.filter(pk=subject_id).first()
    elif kind == "api_key":
        from apps.integrations.models import ApiKey

        found = ApiKey.objects.filter(pk=subject_id).first()
    else:
        found = None
    if found is None:
        raise Http404(_("No such subject in this tenant."))
    return found


@require_GET
@tenant_member_required
def explain_why(
    request: HttpRequest, tenant_slug: str, environment_id: int, kind: str, subject_id: int
) -> HttpResponse:
    """Why does this subject have (or not have) each level on the environment: the policy
    engine's own decision and reasons, with the grants behind them."""
    if not (kind == "user" and subject_id == request.user.pk) and not _can_explain(request):
        raise PermissionDenied
    environment = _environment_or_404(environment_id)
    subject = _subject_or_404(kind, subject_id)
    explanation = sel.explain_subject_on_environment(subject=subject, environment=environment)
    return render(
        request,
        "access/explain_why.html",
        {
            "tenant": request.tenant,  # type: ignore[attr-defined]
            "explain_base": _explain_base(request),
            "environment": environment,
            "subject": subject,
            "kind": kind,
            "explanation": explanation,
        },
    )


@require_GET
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
@explainer_required
def explain_vendor(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """Every vendor-staff grant into this tenant: who (name and vendor role), why, until when."""
    filters = sel.ExplainFilter.parse(request.GET)
    page = sel.vendor_access_page(filters=filters, after=_after(request))
    return _render(
        request,
        "access/explain_vendor.html",
        {
            "tenant": request.tenant,  # type: ignore[attr-defined]
            "explain_base": _explain_base(request),
            "page": page,
            "after": _after(request),
            **_filter_context(filters),
        },
    )


@require_GET
@explainer_required  # type: ignore[arg-type]  # a streaming response
def inventory_csv(request: HttpRequest, tenant_slug: str) -> HttpResponseBase:
    tenant = request.tenant  # type: ignore[attr-defined]
    state = request.GET.get("state", "all")
    state = state if state in sel.STATES else "all"
    audit_event_record(
        action="access.inventory.exported",
        actor=request.user,
        target=tenant,
        details={"format": "csv", "state": state},
    )
    return reports.inventory_csv_response(tenant=tenant, state=state)


@require_GET
@explainer_required
def inventory_pdf(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    state = request.GET.get("state", "current")
    state = state if state in sel.STATES else "current"
    audit_event_record(
        action="access.inventory.exported",
        actor=request.user,
        target=tenant,
        details={"format": "pdf", "state": state},
    )
    return reports.inventory_pdf_response(request=request, tenant=tenant, state=state)


# --- staff console: the access explorer --------------------------------------------------------


def _oversight_required(request: HttpRequest) -> None:
    if not getattr(request.user, "has_oversight", False):
        raise PermissionDenied


@require_GET
@login_required
def explain_staff_search(request: HttpRequest) -> HttpResponse:
    _oversight_required(request)
    query = request.GET.get("q", "")[:200]
    return render(
        request,
        "access/explain_staff_search.html",
        {"query": query, "people": sel.staff_search(query=query)},
    )


@require_GET
@login_required
def explain_staff_user(request: HttpRequest, user_id: int) -> HttpResponse:
    """One employee's privileges in every customer tenant, side by side (security and
    compliance staff only; the cross-tenant read is itself audited)."""
    _oversight_required(request)
    person = get_user_model().objects.filter(pk=user_id).first()
    if person is None:
        raise Http404(_("No such person."))
    try:
        page_number = max(1, min(int(request.GET.get("page", "1")), 10_000))
    except ValueError:
        page_number = 1
    page = sel.staff_profile_across_tenants(user=person, page=page_number)
    audit_event_record(
        action="access.explorer.viewed",
        actor=request.user,
        target=person,
        use_current_tenant=False,
        details={"tenants": [p.tenant.slug for p in page.profiles], "page": page.page},
    )
    return render(
        request,
        "access/explain_staff_user.html",
        {"person": person, "page": page, "profiles": page.profiles},
    )
