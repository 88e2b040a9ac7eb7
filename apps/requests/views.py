"""Customer-portal pages of access requests (/t/<tenant>/requests/...). Tenant scope is set by
the middleware; every page is scoped, every write goes through a service."""

from __future__ import annotations

import csv
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.core.exceptions import DomainError
from apps.requests import selectors, services
from apps.requests.forms import (
    BulkApproveForm,
    DecisionForm,
    DelegateForm,
    RequestForm,
    ReviewForm,
    RevokeForm,
)
from apps.requests.links import approval_link_read
from apps.requests.models import (
    AccessRequest,
    ApprovalAssignment,
    DecisionKind,
    Delegate,
    Notification,
    RequestStatus,
)
from apps.requests.policy import narrower_entitlements
from apps.tenants.models import ADMIN_ROLES, Membership, TenantRole
from apps.tenants.permissions import tenant_member_required, tenant_role_required

FIELD_FOR_CODE = {
    "duration_too_long": "duration_hours",
    "invalid_duration": "duration_hours",
    "justification": "justification",
    "ticket_required": "ticket_ref",
    "invalid_window": "start_before",
}

decider_required = tenant_role_required(*ADMIN_ROLES, TenantRole.APPROVER)


def htmx_partial(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False)) and not getattr(request.htmx, "boosted", False)  # type: ignore[attr-defined]


def _tenant(request: HttpRequest) -> Any:
    return request.tenant  # type: ignore[attr-defined]


def _membership(request: HttpRequest) -> Membership:
    return request.membership  # type: ignore[attr-defined]


def _request_or_404(request: HttpRequest, request_id: int) -> AccessRequest:
    """The request, if the person may see it: its requester, its beneficiary, an approver of
    it, or a tenant admin/approver; 404 otherwise."""
    req = selectors.access_request_get(pk=request_id)
    if req is None:
        raise Http404
    user = request.user
    if user.pk in (req.requester_id, req.beneficiary_id):
        return req
    if _membership(request).role in (*ADMIN_ROLES, TenantRole.APPROVER):
        return req
    if ApprovalAssignment.objects.filter(request=req, approver=user).exists():
        return req
    raise Http404


@require_GET
@tenant_member_required
@vary_on_headers("HX-Request")
def catalog(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:100]
    level = request.GET.get("level", "")[:10]
    risk = request.GET.get("risk", "")[:10]
    items = selectors.catalog_items(
        user=request.user, tenant=_tenant(request), q=q, level=level, risk=risk
    )
    context = {"tenant": _tenant(request), "items": items, "q": q, "level": level, "risk": risk}
    template = (
        "requests/catalog.html#catalog-rows" if htmx_partial(request) else "requests/catalog.html"
    )
    return render(request, template, context)


def _team(request: HttpRequest) -> list[Any]:
    membership = _membership(request)
    qs = Membership.objects.filter(is_active=True).exclude(user=request.user).select_related("user")
    if membership.role not in ADMIN_ROLES:
        qs = qs.filter(manager=request.user)
    return [m.user for m in qs.order_by("user__email")[:500]]


def _target(data: Any) -> tuple[Any, Any]:
    from apps.access.models import Entitlement, Role

    entitlement = role = None
    if data.get("entitlement"):
        entitlement = (
            Entitlement.objects.filter(pk=data["entitlement"]).select_related("environment").first()
        )
        if entitlement is None:
            raise DomainError(_("This item is not in your eligible catalog."), code="not_eligible")
    elif data.get("role"):
        role = Role.objects.filter(pk=data["role"]).first()
        if role is None:
            raise DomainError(_("This item is not in your eligible catalog."), code="not_eligible")
    return entitlement, role


@require_http_methods(["GET", "POST"])
@tenant_member_required
def request_new(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = _tenant(request)
    team = _team(request)
    if request.method == "POST":
        form = RequestForm(request.POST, team=team)
        if form.is_valid():
            data = form.cleaned_data
            try:
                entitlement, role = _target(data)
                on_behalf_of = None
                if data.get("on_behalf_of"):
                    on_behalf_of = next((u for u in team if u.pk == data["on_behalf_of"]), None)
                    if on_behalf_of is None:
                        raise DomainError(_("You can ask on behalf of the people you manage only."))
                extends = None
                if data.get("extends"):
                    extends = AccessRequest.objects.filter(pk=data["extends"]).first()
                req = services.access_request_submit(
                    actor=request.user,
                    tenant=tenant,
                    entitlement=entitlement,
                    role=role,
                    duration=form.duration,
                    justification=data["justification"],
                    ticket_ref=data.get("ticket_ref", ""),
                    ticket_bound=data.get("ticket_bound", False),
                    on_behalf_of=on_behalf_of,
                    start_after=data.get("start_after"),
                    start_before=data.get("start_before"),
                    extends=extends,
                )
            except DomainError as exc:
                form.add_error(
                    FIELD_FOR_CODE.get(exc.code)
                    if FIELD_FOR_CODE.get(exc.code) in form.fields
                    else None,
                    exc.message,
                )
            else:
                if getattr(req, "was_existing", False):
                    messages.info(
                        request, _("You asked for this already; here is your open request.")
                    )
                elif req.status == RequestStatus.PENDING:
                    messages.success(
                        request, _("Request submitted. Your approvers have been notified.")
                    )
                else:
                    messages.success(request, _("Approved at once: your access is ready."))
                return redirect("requests:detail", tenant_slug=tenant.slug, request_id=req.pk)
    else:
        initial: dict[str, Any] = {
            "entitlement": request.GET.get("entitlement") or None,
            "role": request.GET.get("role") or None,
        }
        extends_id = request.GET.get("extends")
        if extends_id and extends_id.isdigit():
            previous = AccessRequest.objects.filter(pk=int(extends_id)).first()
            if previous is not None and request.user.pk in (
                previous.requester_id,
                previous.beneficiary_id,
            ):
                initial = services.access_request_extend_initial(req=previous)
        form = RequestForm(initial=initial, team=team)
    target = None
    try:
        entitlement, role = _target(
            {"entitlement": form["entitlement"].value(), "role": form["role"].value()}
        )
        target = entitlement or role
    except (DomainError, ValueError, TypeError):
        target = None
    return render(
        request, "requests/request_form.html", {"tenant": tenant, "form": form, "target": target}
    )


@require_GET
@tenant_member_required
def request_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in RequestStatus.values:
        status = ""
    reqs = list(selectors.access_request_list_for_user(user=request.user, status=status)[:100])
    return render(
        request,
        "requests/request_list.html",
        {
            "tenant": _tenant(request),
            "requests": reqs,
            "status": status,
            "statuses": RequestStatus.choices,
        },
    )


@require_GET
@tenant_member_required
def request_detail(request: HttpRequest, tenant_slug: str, request_id: int) -> HttpResponse:
    req = _request_or_404(request, request_id)
    mine = (
        ApprovalAssignment.objects.filter(request=req, approver=request.user, active=True)
        .select_related("step")
        .first()
    )
    context = {
        "tenant": _tenant(request),
        "req": req,
        "steps": list(req.steps.all()),
        "approvers": selectors.eligible_approvers(req=req) if req.is_open else [],
        "is_holder": request.user.pk in (req.requester_id, req.beneficiary_id),
        "my_step": mine.step if mine else None,
        "narrower": narrower_entitlements(req.entitlement) if mine and req.entitlement_id else [],
        "decision_form": DecisionForm(),
        "now": timezone.now(),
    }
    return render(request, "requests/request_detail.html", context)


@require_POST
@tenant_member_required
def request_cancel(request: HttpRequest, tenant_slug: str, request_id: int) -> HttpResponse:
    req = _request_or_404(request, request_id)
    try:
        services.access_request_cancel(actor=request.user, req=req)
        messages.success(request, _("Request cancelled."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("requests:detail", tenant_slug=tenant_slug, request_id=request_id)


@require_POST
@tenant_member_required
def request_relinquish(request: HttpRequest, tenant_slug: str, request_id: int) -> HttpResponse:
    req = _request_or_404(request, request_id)
    try:
        services.access_request_relinquish(actor=request.user, req=req)
        messages.success(request, _("Access given back. It has ended."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("requests:my_access", tenant_slug=tenant_slug)


@require_GET
@tenant_member_required
def my_access(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    rows = list(selectors.active_access_for_user(user=request.user))
    return render(
        request,
        "requests/my_access.html",
        {"tenant": _tenant(request), "rows": rows, "now": timezone.now()},
    )


@require_GET
@tenant_member_required
@vary_on_headers("HX-Request")
def inbox(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    before = request.GET.get("before", "")
    page = selectors.inbox_page(user=request.user, before=int(before) if before.isdigit() else None)
    context = {"tenant": _tenant(request), "page": page, "form": DecisionForm()}
    template = "requests/inbox.html#inbox-rows" if htmx_partial(request) else "requests/inbox.html"
    return render(request, template, context)


def _decide_from_form(
    request: HttpRequest, req: AccessRequest, form: DecisionForm, *, via_link: bool = False
) -> AccessRequest:
    data = form.cleaned_data
    entitlement = None
    if data.get("entitlement") and req.entitlement_id and data["entitlement"] != req.entitlement_id:
        entitlement = next(
            (e for e in narrower_entitlements(req.entitlement) if e.pk == data["entitlement"]), None
        )
        if entitlement is None:
            raise DomainError(
                _("You can narrow the request to a lower level of the same environment only.")
            )
    duration = timedelta(hours=data["duration_hours"]) if data.get("duration_hours") else None
    return services.access_request_decide(
        actor=request.user,
        req=req,
        decision=data["decision"],
        reason=data.get("reason") or "",
        duration=duration,
        entitlement=entitlement,
        via_link=via_link,
    )


@require_POST
@tenant_member_required
def decide(request: HttpRequest, tenant_slug: str, request_id: int) -> HttpResponse:
    req = _request_or_404(request, request_id)
    form = DecisionForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            req = _decide_from_form(request, req, form)
        except DomainError as exc:
            error = exc.message
    else:
        error = " ".join(str(e) for errs in form.errors.values() for e in errs)
    if htmx_partial(request):
        response = render(
            request,
            "requests/inbox.html#inbox-row-done",
            {"tenant": _tenant(request), "req": req, "error": error, "form": form},
            status=200 if not error else 422,
        )
        response["HX-Trigger"] = "access-request-changed"
        if error:
            response["HX-Retarget"] = f"#row-error-{req.pk}"
            response["HX-Reswap"] = "innerHTML"
        return response
    if error:
        messages.error(request, error)
    elif req.status == RequestStatus.DENIED:
        messages.success(request, _("Request denied."))
    else:
        messages.success(request, _("Approved."))
    if request.POST.get("next"):
        return redirect(_safe_next(request))
    return redirect("requests:inbox", tenant_slug=tenant_slug)


def _safe_next(request: HttpRequest) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return "/"


@require_POST
@tenant_member_required
def bulk_approve(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = BulkApproveForm(request.POST)
    if not form.is_valid() or not form.cleaned_data["ids"]:
        messages.error(request, _("Select the requests to approve."))
        return redirect("requests:inbox", tenant_slug=tenant_slug)
    reqs = list(
        AccessRequest.objects.filter(pk__in=form.cleaned_data["ids"]).select_related("tenant")
    )
    result = services.access_requests_bulk_approve(
        actor=request.user, requests=reqs, reason=form.cleaned_data.get("reason") or ""
    )
    if result["approved"]:
        messages.success(request, _("%(n)d request(s) approved.") % {"n": len(result["approved"])})
    for req, message in result["refused"]:
        messages.error(request, _("#%(id)s: %(message)s") % {"id": req.pk, "message": message})
    return redirect("requests:inbox", tenant_slug=tenant_slug)


def _mfa_verified(request: HttpRequest) -> bool:
    verified = getattr(request.user, "is_verified", None)
    return bool(verified and verified())


@require_http_methods(["GET", "POST"])
@login_required
def link(request: HttpRequest, tenant_slug: str, token: str) -> HttpResponse:
    """Approve from the email: the signed link names request, step and approver; it needs
    that approver's session with MFA done, and decides once."""
    claim = approval_link_read(token)
    tenant = _tenant(request)
    if claim is None:
        return render(request, "requests/link_invalid.html", {"tenant": tenant}, status=400)
    if claim.tenant_id != tenant.pk:
        raise Http404
    if claim.approver_id != request.user.pk:
        raise PermissionDenied(_("This link was sent to another approver."))
    req = selectors.access_request_get(pk=claim.request_id)
    if req is None:
        raise Http404
    if not _mfa_verified(request):
        return render(request, "requests/link_mfa.html", {"tenant": tenant, "req": req}, status=403)
    error = ""
    if request.method == "POST":
        form = DecisionForm(request.POST)
        if form.is_valid():
            try:
                req = _decide_from_form(request, req, form, via_link=True)
                messages.success(request, _("Your decision is recorded."))
                return redirect("requests:detail", tenant_slug=tenant.slug, request_id=req.pk)
            except DomainError as exc:
                error = exc.message
        else:
            error = " ".join(str(e) for errs in form.errors.values() for e in errs)
    return render(
        request,
        "requests/link_confirm.html",
        {
            "tenant": tenant,
            "req": req,
            "error": error,
            "token": token,
            "steps": list(req.steps.all()),
        },
        status=200 if not error else 409,
    )


@require_GET
@decider_required
def vendor_access(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = _tenant(request)
    rows = selectors.vendor_access_in_tenant(tenant=tenant)
    for row in rows:
        row.activity = selectors.activity_of(req=row)  # type: ignore[attr-defined]
    context = {
        "tenant": tenant,
        "rows": rows,
        "recent": selectors.vendor_recent_in_tenant(tenant=tenant),
        "reviews": selectors.break_glass_to_review(tenant=tenant),
        "review_form": ReviewForm(),
        "now": timezone.now(),
    }
    return render(request, "requests/vendor_access.html", context)


@require_POST
@decider_required
def revoke(request: HttpRequest, tenant_slug: str, request_id: int) -> HttpResponse:
    req = _request_or_404(request, request_id)
    form = RevokeForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.access_request_revoke(actor=request.user, req=req, reason=reason)
        messages.success(request, _("Access revoked. It ended now."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("requests:vendor_access", tenant_slug=tenant_slug)


@require_POST
@decider_required
def review(request: HttpRequest, tenant_slug: str, request_id: int) -> HttpResponse:
    req = _request_or_404(request, request_id)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose an outcome and add a note."))
    else:
        try:
            services.break_glass_review(
                actor=request.user,
                req=req,
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
            )
            messages.success(request, _("Review recorded."))
        except DomainError as exc:
            messages.error(request, exc.message)
    return redirect("requests:vendor_access", tenant_slug=tenant_slug)


@require_GET
@decider_required
def service_levels(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = _tenant(request)
    days = request.GET.get("days", "30")
    days_n = int(days) if days.isdigit() and 1 <= int(days) <= 366 else 30
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="service-levels-{tenant.slug}.csv"'
        writer = csv.writer(response)
        columns = [
            "day",
            "requests",
            "decided",
            "within_sla",
            "granted",
            "escalations",
            "median_first_decision_s",
            "median_time_to_grant_s",
        ]
        writer.writerow(columns)
        for row in selectors.service_levels_daily(tenant=tenant, days=days_n):
            writer.writerow([row[c] for c in columns])
        return response
    context = {
        "tenant": tenant,
        "levels": selectors.service_levels(tenant=tenant, days=days_n),
        "daily": selectors.service_levels_daily(tenant=tenant, days=days_n),
        "days": days_n,
    }
    return render(request, "requests/service_levels.html", context)


@require_http_methods(["GET", "POST"])
@tenant_member_required
def notifications(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    if request.method == "POST":
        Notification.objects.filter(recipient=request.user, read_at__isnull=True).update(
            read_at=timezone.now()
        )
        return redirect("requests:notifications", tenant_slug=tenant_slug)
    return render(
        request,
        "requests/notifications.html",
        {"tenant": _tenant(request), "notices": selectors.notifications_for(user=request.user)},
    )


@require_http_methods(["GET", "POST"])
@decider_required
def delegates(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """Out of office: hand my approvals to a colleague for a date range."""
    tenant = _tenant(request)
    people = [
        m.user
        for m in Membership.objects.filter(is_active=True)
        .exclude(user=request.user)
        .select_related("user")
        .order_by("user__email")[:500]
    ]
    form = DelegateForm(request.POST or None, people=people)
    if request.method == "POST":
        end_id = request.POST.get("end", "")
        if end_id.isdigit():
            row = Delegate.objects.filter(pk=int(end_id), delegator=request.user).first()
            if row is None:
                raise Http404
            services.delegate_end(actor=request.user, delegation=row)
            messages.success(request, _("Delegation ended."))
            return redirect("requests:delegates", tenant_slug=tenant.slug)
        if form.is_valid():
            data = form.cleaned_data
            chosen = next((u for u in people if u.pk == data["delegate"]), None)
            try:
                if chosen is None:
                    raise DomainError(_("The delegate must be a member of this tenant."))
                services.delegate_create(
                    actor=request.user,
                    tenant=tenant,
                    delegate=chosen,
                    starts_at=data["starts_at"],
                    ends_at=data["ends_at"],
                    note=data.get("note") or "",
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Delegation saved."))
                return redirect("requests:delegates", tenant_slug=tenant.slug)
    rows = list(
        Delegate.objects.filter(delegator=request.user, ends_at__gt=timezone.now())
        .select_related("delegate")
        .order_by("starts_at")
    )
    return render(
        request, "requests/delegates.html", {"tenant": tenant, "form": form, "rows": rows}
    )


__all__ = ["DecisionKind"]
