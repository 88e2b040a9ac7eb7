"""Customer portal: licence pools (live utilisation, forecast, seats, waiting list), onboarding
(one person, bulk files), the provisioning queue and the signup review queue. Tenant admins
only; every write goes through a service (apps.licenses.services / apps.lifecycle.joiner)."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.licenses import selectors
from apps.licenses.conf import conf
from apps.licenses.forms import (
    AllocateForm,
    CapacityForm,
    DecisionForm,
    ImportUploadForm,
    OnboardForm,
    ReserveForm,
)
from apps.licenses.models import (
    ImportStatus,
    JobStatus,
    Product,
    ProvisioningJob,
    Seat,
    SeatSource,
    SignupDecision,
)
from apps.licenses.services import imports as import_services
from apps.licenses.services import provisioning as queue_services
from apps.licenses.services import risk as risk_services
from apps.licenses.services import seats as seat_services
from apps.lifecycle.joiner import JoinerRequest, joiner_import_run, joiner_run, signup_approve
from apps.tenants.permissions import tenant_admin_required

logger = logging.getLogger("custos.licenses")


def _render(
    request: HttpRequest, template: str, partial: str | None, context: dict[str, Any]
) -> HttpResponse:
    htmx = getattr(request, "htmx", None)
    is_partial = bool(partial and htmx and not htmx.boosted)
    name = f"{template}#{partial}" if is_partial else template
    context = {"tenant": request.tenant, "partial": is_partial, **context}  # type: ignore[attr-defined]
    return render(request, name, context)


def _pool_or_404(request: HttpRequest, pool_id: int) -> Any:
    pool = selectors.pool_get(tenant=request.tenant, pool_id=pool_id)  # type: ignore[attr-defined]
    if pool is None:
        raise Http404
    return pool


# --- dashboard ---------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@tenant_admin_required
def dashboard(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """Pools with live utilisation (HTMX polls the `license-live` region), alerts, the
    provisioning queue and the review queue's counters."""
    tenant = request.tenant  # type: ignore[attr-defined]
    return _render(
        request,
        "licenses/license_dashboard.html",
        "license-live",
        {
            "rows": selectors.pool_rows(tenant=tenant),
            "alerts": selectors.alerts_open(tenant=tenant),
            "queue": selectors.queue_state(tenant=tenant),
            "signups": selectors.signup_counts(tenant=tenant),
        },
    )


@require_POST
@tenant_admin_required
def job_retry(request: HttpRequest, tenant_slug: str, job_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    with tenant_context(tenant):
        job = ProvisioningJob.objects.filter(pk=job_id, status=JobStatus.FAILED).first()
    if job is None:
        raise Http404
    job.tenant = tenant
    queue_services.job_requeue(actor=request.user, job=job)
    messages.success(request, _("The onboarding was queued again."))
    return redirect("licenses:dashboard", tenant_slug=tenant.slug)


# --- one pool ------------------------------------------------------------------------------------


def _pool_page(request: HttpRequest, pool: Any, **extra: Any) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    context = {
        "pool": pool,
        "row": selectors.pool_row(tenant=tenant, pool=pool),
        "seats": selectors.pool_seats(pool=pool),
        "waiting": selectors.pool_waiting(pool=pool),
        "allocate_form": extra.pop("allocate_form", AllocateForm()),
        "reserve_form": extra.pop("reserve_form", ReserveForm(initial={"seats": 5})),
        "capacity_form": extra.pop(
            "capacity_form", CapacityForm(initial={"capacity": pool.capacity})
        ),
        **extra,
    }
    return _render(request, "licenses/pool_detail.html", "pool-live", context)


@require_GET
@vary_on_headers("HX-Request")
@tenant_admin_required
def pool_detail(request: HttpRequest, tenant_slug: str, pool_id: int) -> HttpResponse:
    return _pool_page(request, _pool_or_404(request, pool_id))


@require_POST
@tenant_admin_required
def pool_allocate(request: HttpRequest, tenant_slug: str, pool_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    pool = _pool_or_404(request, pool_id)
    form = AllocateForm(request.POST)
    if form.is_valid():
        user = User.objects.filter(email=form.cleaned_data["email"].strip().lower()).first()
        from apps.tenants.models import Membership

        with tenant_context(tenant):
            is_member = user is not None and Membership.objects.filter(user=user).exists()
        if not is_member:
            form.add_error("email", _("Nobody with this address is a member of this tenant."))
        else:
            try:
                seat_services.seat_allocate(
                    actor=request.user, tenant=tenant, user=user, pool=pool,
                    source=SeatSource.MANUAL,
                )  # fmt: skip
            except seat_services.PoolExhausted as exc:
                if request.POST.get("wait"):
                    seat_services.waitlist_enqueue(
                        actor=request.user, tenant=tenant, user=user, pool=pool
                    )
                    messages.info(request, _("The pool is full: %(user)s is on the waiting list.")
                                  % {"user": user})  # fmt: skip
                    return redirect(
                        "licenses:pool_detail", tenant_slug=tenant.slug, pool_id=pool.pk
                    )
                form.add_error(None, exc.message)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Seat allocated to %(user)s.") % {"user": user})
                return redirect("licenses:pool_detail", tenant_slug=tenant.slug, pool_id=pool.pk)
    return _pool_page(request, pool, allocate_form=form)


@require_POST
@tenant_admin_required
def seat_release(
    request: HttpRequest, tenant_slug: str, pool_id: int, seat_id: int
) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    pool = _pool_or_404(request, pool_id)
    with tenant_context(tenant):
        seat = Seat.objects.filter(pk=seat_id, pool=pool).select_related("tenant").first()
    if seat is None:
        raise Http404
    seat_services.seat_release(actor=request.user, seat=seat, reason=_("released by an admin"))
    messages.success(request, _("The seat went back to the pool."))
    return redirect("licenses:pool_detail", tenant_slug=tenant.slug, pool_id=pool.pk)


@require_POST
@tenant_admin_required
def pool_reserve(request: HttpRequest, tenant_slug: str, pool_id: int) -> HttpResponse:
    pool = _pool_or_404(request, pool_id)
    form = ReserveForm(request.POST)
    if not form.is_valid():
        return _pool_page(request, pool, reserve_form=form)
    try:
        moved = seat_services.reserve_draw(
            actor=request.user, pool=pool, seats=form.cleaned_data["seats"],
            reason=_("drawn by an admin"),
        )  # fmt: skip
    except DomainError as exc:
        form.add_error(None, exc.message)
        return _pool_page(request, pool, reserve_form=form)
    messages.success(request, _("%(n)d seats moved from the reserve.") % {"n": moved})
    return redirect("licenses:pool_detail", tenant_slug=pool.tenant.slug, pool_id=pool.pk)


@require_POST
@tenant_admin_required
def pool_capacity(request: HttpRequest, tenant_slug: str, pool_id: int) -> HttpResponse:
    pool = _pool_or_404(request, pool_id)
    form = CapacityForm(request.POST)
    if not form.is_valid():
        return _pool_page(request, pool, capacity_form=form)
    try:
        seat_services.pool_set_capacity(
            actor=request.user, pool=pool, capacity=form.cleaned_data["capacity"],
            reason=form.cleaned_data["reason"],
        )  # fmt: skip
    except DomainError as exc:
        form.add_error("capacity", exc.message)
        return _pool_page(request, pool, capacity_form=form)
    messages.success(request, _("Capacity changed."))
    return redirect("licenses:pool_detail", tenant_slug=pool.tenant.slug, pool_id=pool.pk)


# --- onboarding one person ---------------------------------------------------------------------


def _product_choices(tenant: Any) -> list[tuple[str, str]]:
    with tenant_context(tenant):
        return [(p.key, p.name) for p in Product.objects.filter(is_active=True).order_by("name")]


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def onboard(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    choices = _product_choices(tenant)
    form = OnboardForm(request.POST or None, products=choices)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = joiner_run(
                actor=request.user,
                tenant=tenant,
                request=JoinerRequest(
                    email=data["email"], full_name=data["full_name"], role=data["role"],
                    department=data["department"], title=data["title"],
                    location=data["location"], products=list(data["products"]),
                    when_full=data["when_full"],
                ),
                source=SeatSource.JOINER,
            )  # fmt: skip
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                _("%(user)s was onboarded with %(seats)d licence(s).")
                % {"user": result.user.email, "seats": len(result.seats)},
            )
            return redirect("licenses:onboard", tenant_slug=tenant.slug)
    return _render(request, "licenses/onboard_form.html", None, {"form": form})


# --- bulk imports ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def import_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > int(conf("LICENSES_IMPORT_MAX_BYTES")):
            form.add_error("file", _("The file is too large."))
        else:
            try:
                imp = import_services.import_preview(
                    actor=request.user, tenant=tenant, filename=upload.name, data=upload.read()
                )
            except DomainError as exc:
                form.add_error("file", exc.message)
            else:
                return redirect("licenses:import_detail", tenant_slug=tenant.slug, import_id=imp.pk)
    return _render(
        request,
        "licenses/import_list.html",
        None,
        {"form": form, "imports": selectors.import_list(tenant=tenant)},
    )


def _import_or_404(request: HttpRequest, import_id: int) -> Any:
    imp = selectors.import_get(tenant=request.tenant, import_id=import_id)  # type: ignore[attr-defined]
    if imp is None:
        raise Http404
    return imp


@require_GET
@vary_on_headers("HX-Request")
@tenant_admin_required
def import_detail(request: HttpRequest, tenant_slug: str, import_id: int) -> HttpResponse:
    imp = _import_or_404(request, import_id)
    running = imp.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)
    response = _render(
        request,
        "licenses/import_detail.html",
        "import-progress",
        {
            "imp": imp,
            "errors": imp.preview_errors[:500],
            "more_errors": max(0, len(imp.preview_errors) - 500),
            "running": running,
        },
    )
    if not running and getattr(request, "htmx", False):
        response.status_code = 286  # HTMX: stop polling, the import has finished
    return response


def _enqueue_import(tenant_id: int, import_id: int) -> None:
    if conf("LICENSES_IMPORT_INLINE"):
        joiner_import_run(import_id=import_id)
        return
    from apps.licenses.tasks import import_run_task

    try:
        import_run_task.delay(tenant_id, import_id)
    except Exception:  # the imports sweeper picks queued files up anyway
        logger.warning("could not enqueue import %s; the sweeper will run it", import_id)


@require_POST
@tenant_admin_required
def import_start(request: HttpRequest, tenant_slug: str, import_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    imp = _import_or_404(request, import_id)
    try:
        import_services.import_confirm(actor=request.user, imp=imp)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        _enqueue_import(tenant.pk, imp.pk)
        messages.success(request, _("The import runs in the background."))
    return redirect("licenses:import_detail", tenant_slug=tenant.slug, import_id=imp.pk)


@require_POST
@tenant_admin_required
def import_cancel(request: HttpRequest, tenant_slug: str, import_id: int) -> HttpResponse:
    imp = _import_or_404(request, import_id)
    import_services.import_cancel(actor=request.user, imp=imp)
    return redirect("licenses:import_list", tenant_slug=request.tenant.slug)  # type: ignore[attr-defined]


@require_GET
@tenant_admin_required
def import_result(request: HttpRequest, tenant_slug: str, import_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    from apps.licenses.models import OnboardingImport

    with tenant_context(tenant):
        imp = OnboardingImport.objects.filter(pk=import_id, status=ImportStatus.DONE).first()
    if imp is None or imp.result is None:
        raise Http404
    response = HttpResponse(bytes(imp.result), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="onboarding-result-{imp.pk}.csv"'
    return response


@require_GET
@tenant_admin_required
def import_template(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    response = HttpResponse(import_services.template_file(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="onboarding-template.csv"'
    return response


# --- signup review queue -------------------------------------------------------------------------


@require_GET
@tenant_admin_required
def review_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    view = request.GET.get("view", "open")
    if view not in ("open", "decided", "all"):
        view = "open"
    cases = list(selectors.signup_cases(tenant=tenant, view=view)[:200])
    return _render(
        request,
        "licenses/review_list.html",
        None,
        {
            "cases": cases,
            "view": view,
            "counts": selectors.signup_counts(tenant=tenant),
            "labels": risk_services.SIGNAL_LABELS,
        },
    )


@require_GET
@tenant_admin_required
def review_export(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    view = request.GET.get("view", "all")
    cases = selectors.signup_cases(
        tenant=tenant, view=view if view in ("open", "decided") else "all"
    )
    with tenant_context(tenant):
        body = risk_services.signup_cases_csv(actor=request.user, tenant=tenant, cases=cases)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="signup-reviews-{tenant.slug}.csv"'
    return response


def _case_page(request: HttpRequest, case: Any, form: DecisionForm | None = None) -> HttpResponse:
    labels = risk_services.SIGNAL_LABELS
    signals = [{**s, "label": labels.get(str(s.get("code")), s.get("code"))} for s in case.signals]
    return _render(
        request,
        "licenses/review_detail.html",
        None,
        {"case": case, "signals": signals, "form": form or DecisionForm()},
    )


@require_GET
@tenant_admin_required
def review_detail(request: HttpRequest, tenant_slug: str, case_id: int) -> HttpResponse:
    case = selectors.signup_case_get(tenant=request.tenant, case_id=case_id)  # type: ignore[attr-defined]
    if case is None:
        raise Http404
    return _case_page(request, case)


@require_POST
@tenant_admin_required
def review_decide(request: HttpRequest, tenant_slug: str, case_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    case = selectors.signup_case_get(tenant=tenant, case_id=case_id)
    if case is None:
        raise Http404
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _case_page(request, case, form)
    decision = form.cleaned_data["decision"]
    note = form.cleaned_data["note"]
    try:
        if decision == SignupDecision.APPROVED:
            result = signup_approve(actor=request.user, case=case, note=note)
            messages.success(
                request, _("Approved: %(user)s was onboarded.") % {"user": result.user.email}
            )
        else:
            risk_services.signup_decide(actor=request.user, case=case, decision=decision, note=note)
            messages.success(request, _("Decision recorded."))
    except DomainError as exc:
        form.add_error(None, exc.message)
        return _case_page(request, case, form)
    return redirect("licenses:review_list", tenant_slug=tenant.slug)
