"""Staff-console pages of the lockbox (/staff/requests/...): a support engineer asks for access
into a customer tenant (or breaks the glass), a support manager decides the vendor step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context
from apps.requests import selectors, services
from apps.requests.forms import BreakGlassForm, DecisionForm, ReviewForm, VendorRequestForm
from apps.requests.links import approval_link_read
from apps.requests.models import RequestKind, RequestStatus
from apps.requests.views import _mfa_verified
from apps.tenants.models import Tenant, TenantStatus

ViewFunc = Callable[..., HttpResponse]


def staff_required(view: ViewFunc) -> ViewFunc:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(request.user, "is_vendor_staff", False):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _tenant_choices() -> list[Tenant]:
    return list(Tenant.objects.filter(status=TenantStatus.ACTIVE).order_by("name"))


def _entitlements(tenant: Tenant | None) -> list[Any]:
    if tenant is None:
        return []
    from apps.access.models import Entitlement

    with tenant_context(tenant):
        return list(
            Entitlement.objects.select_related("environment").order_by("environment__name", "level")
        )


def _resolve(form_data: dict[str, Any]) -> tuple[Tenant, Any]:
    from apps.access.models import Entitlement

    tenant = Tenant.objects.filter(slug=form_data["tenant"]).first()
    if tenant is None:
        raise DomainError(_("No such customer tenant."), code="not_found")
    with tenant_context(tenant):
        entitlement = Entitlement.objects.filter(pk=form_data["entitlement"]).first()
    if entitlement is None:
        raise DomainError(
            _("This entitlement is not in the customer's catalog."), code="not_eligible"
        )
    return tenant, entitlement


@require_GET
@staff_required
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "requests/staff_home.html",
        {
            "requests": selectors.staff_requests_for_user(user=request.user),
            "inbox_count": len(selectors.staff_inbox_page(user=request.user).items),
            "now": timezone.now(),
        },
    )


def _field_for(code: str) -> str | None:
    return {
        "duration_too_long": "duration_hours",
        "justification": "justification",
        "ticket_required": "ticket_ref",
        "confirmation_required": "confirm",
    }.get(code)


@require_http_methods(["GET", "POST"])
@staff_required
def request_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = VendorRequestForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                tenant, entitlement = _resolve(data)
                req = services.access_request_submit(
                    actor=request.user,
                    tenant=tenant,
                    entitlement=entitlement,
                    duration=timedelta(hours=data["duration_hours"]),
                    justification=data["justification"],
                    ticket_ref=data["ticket_ref"],
                    ticket_bound=data.get("ticket_bound", False),
                    kind=RequestKind.VENDOR,
                )
            except DomainError as exc:
                field = _field_for(exc.code)
                form.add_error(field if field in form.fields else None, exc.message)
            else:
                messages.success(
                    request, _("Request sent to the support manager, then to the customer.")
                )
                return redirect("staff_requests:detail", request_id=req.pk)
    else:
        form = VendorRequestForm(initial={"tenant": request.GET.get("tenant", "")})
    chosen = Tenant.objects.filter(slug=form["tenant"].value() or "").first()
    return render(
        request,
        "requests/staff_request_form.html",
        {
            "form": form,
            "tenants": _tenant_choices(),
            "entitlements": _entitlements(chosen),
            "tenant": chosen,
        },
    )


@require_http_methods(["GET", "POST"])
@staff_required
def break_glass(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = BreakGlassForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                tenant, entitlement = _resolve(data)
                req = services.break_glass_activate(
                    actor=request.user,
                    tenant=tenant,
                    entitlement=entitlement,
                    duration=timedelta(hours=data["duration_hours"]),
                    justification=data["justification"],
                    ticket_ref=data.get("ticket_ref", ""),
                    confirmed=data["confirm"],
                )
            except DomainError as exc:
                field = _field_for(exc.code)
                form.add_error(field if field in form.fields else None, exc.message)
            else:
                messages.warning(
                    request, _("Break-glass access is active. The customer has been told.")
                )
                return redirect("staff_requests:detail", request_id=req.pk)
    else:
        form = BreakGlassForm(initial={"tenant": request.GET.get("tenant", "")})
    chosen = Tenant.objects.filter(slug=form["tenant"].value() or "").first()
    return render(
        request,
        "requests/staff_break_glass.html",
        {
            "form": form,
            "tenants": _tenant_choices(),
            "entitlements": _entitlements(chosen),
            "tenant": chosen,
        },
    )


@require_GET
@staff_required
def inbox(request: HttpRequest) -> HttpResponse:
    before = request.GET.get("before", "")
    page = selectors.staff_inbox_page(
        user=request.user, before=int(before) if before.isdigit() else None
    )
    return render(request, "requests/staff_inbox.html", {"page": page})


@require_GET
@staff_required
def detail(request: HttpRequest, request_id: int) -> HttpResponse:
    req = selectors.staff_request_get(user=request.user, pk=request_id)
    if req is None:
        raise Http404
    with tenant_context(req.tenant):
        from apps.requests.models import ApprovalAssignment

        mine = ApprovalAssignment.objects.filter(
            request=req, approver=request.user, active=True
        ).first()
        steps = list(req.steps.all())
    return render(
        request,
        "requests/staff_detail.html",
        {
            "req": req,
            "steps": steps,
            "can_decide": mine is not None,
            "now": timezone.now(),
            "review_form": ReviewForm(),
        },
    )


def _decide(request: HttpRequest, request_id: int, *, via_link: bool) -> tuple[Any, str]:
    req = selectors.staff_request_get(user=request.user, pk=request_id)
    if req is None:
        raise Http404
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return req, " ".join(str(e) for errs in form.errors.values() for e in errs)
    data = form.cleaned_data
    duration = timedelta(hours=data["duration_hours"]) if data.get("duration_hours") else None
    try:
        req = services.access_request_decide(
            actor=request.user,
            req=req,
            decision=data["decision"],
            reason=data.get("reason") or "",
            duration=duration,
            via_link=via_link,
        )
    except DomainError as exc:
        return req, exc.message
    return req, ""


@require_POST
@staff_required
def decide(request: HttpRequest, request_id: int) -> HttpResponse:
    _req, error = _decide(request, request_id, via_link=False)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Decision recorded."))
    return redirect("staff_requests:inbox")


@require_POST
@staff_required
def relinquish(request: HttpRequest, request_id: int) -> HttpResponse:
    req = selectors.staff_request_get(user=request.user, pk=request_id)
    if req is None:
        raise Http404
    try:
        services.access_request_relinquish(actor=request.user, req=req)
        messages.success(request, _("Access given back. It has ended."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("staff_requests:detail", request_id=request_id)


@require_POST
@staff_required
def review(request: HttpRequest, request_id: int) -> HttpResponse:
    req = selectors.staff_request_get(user=request.user, pk=request_id)
    if req is None:
        from apps.core.tenancy import unscoped
        from apps.requests.models import AccessRequest

        if getattr(request.user, "has_oversight", False):
            with unscoped(reason="security staff: break-glass review"):
                req = (
                    AccessRequest.objects.select_related("tenant")
                    .filter(pk=request_id, kind=RequestKind.BREAK_GLASS)
                    .first()
                )
        if req is None:
            raise Http404
    form = ReviewForm(request.POST)
    if form.is_valid():
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
    else:
        messages.error(request, _("Choose an outcome and add a note."))
    return redirect("staff_requests:home")


@require_http_methods(["GET", "POST"])
@login_required
def link(request: HttpRequest, token: str) -> HttpResponse:
    claim = approval_link_read(token)
    if claim is None:
        return render(request, "requests/link_invalid.html", {}, status=400)
    if claim.approver_id != request.user.pk:
        raise PermissionDenied(_("This link was sent to another approver."))
    req = selectors.staff_request_get(user=request.user, pk=claim.request_id)
    if req is None:
        raise Http404
    if not _mfa_verified(request):
        return render(request, "requests/link_mfa.html", {"req": req}, status=403)
    error = ""
    if request.method == "POST":
        req, error = _decide(request, req.pk, via_link=True)
        if not error:
            messages.success(request, _("Your decision is recorded."))
            return redirect("staff_requests:detail", request_id=req.pk)
    return render(
        request,
        "requests/link_confirm.html",
        {"req": req, "error": error, "token": token, "steps": list(req.steps.all()), "staff": True},
        status=200 if not error else 409,
    )


__all__ = ["RequestStatus"]
