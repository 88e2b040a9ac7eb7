"""Certification pages. Customer reviewers and admins work in the portal
(/t/<tenant>/certification/...), the vendor's internal reviewers in the staff console
(/staff/certification/...); both render the same templates through the shared functions below
(`urls` carries the right links). Every write goes through apps.certification.services."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from apps.access.models import Entitlement, GrantSource, RiskLevel
from apps.certification import selectors, services
from apps.certification.forms import BulkForm, DecisionForm, SignOffForm
from apps.certification.models import Campaign, Decision, Outcome, ReviewItem
from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.reports.csvstream import csv_lines, csv_response
from apps.reports.pdf import pdf_render, pdf_response

PDF_MAX_ROWS = 10_000


def htmx_partial(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False)) and not getattr(request.htmx, "boosted", False)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Urls:
    """Where the pages of one campaign live (portal or staff console)."""

    home: str
    dashboard: str
    review: str
    bulk: str
    items: str  # + "<item id>/decide/"
    launch: str
    close: str
    sign_off: str
    csv: str
    pdf: str


def portal_urls(tenant_slug: str, campaign_id: int) -> Urls:
    def u(name: str) -> str:
        return reverse(
            f"certification:{name}", kwargs={"tenant_slug": tenant_slug, "campaign_id": campaign_id}
        )

    return Urls(
        home=reverse("certification:home", kwargs={"tenant_slug": tenant_slug}),
        dashboard=u("dashboard"),
        review=u("review"),
        bulk=u("bulk"),
        items=u("dashboard") + "items/",
        launch=u("launch"),
        close=u("close"),
        sign_off=u("sign_off"),
        csv=u("report_csv"),
        pdf=u("report_pdf"),
    )


def staff_urls(campaign_id: int) -> Urls:
    def u(name: str) -> str:
        return reverse(f"staff_certification:{name}", kwargs={"campaign_id": campaign_id})

    return Urls(
        home=reverse("staff_certification:home"),
        dashboard=u("dashboard"),
        review=u("review"),
        bulk=u("bulk"),
        items=u("dashboard") + "items/",
        launch=u("launch"),
        close=u("close"),
        sign_off=u("sign_off"),
        csv=u("report_csv"),
        pdf=u("report_pdf"),
    )


# --- the reviewer's page ----------------------------------------------------------------------
def review_context(
    request: HttpRequest, campaign: Campaign, urls: Urls, *, filters: Any = None
) -> dict[str, Any]:
    filters = filters or selectors.ReviewFilters.from_query(request.GET)
    data = selectors.review_page(
        campaign=campaign,
        user=request.user,
        filters=filters,
        page_number=request.GET.get("page", 1),
    )
    query = urlencode(filters.as_query())
    return {
        "campaign": campaign,
        "urls": urls,
        "filters": filters,
        "query": query,
        "data": data,
        "bulk_form": BulkForm(),
        "risks": RiskLevel.choices,
        "sources": GrantSource.choices,
        "now": timezone.now(),
        "can_manage": services.can_manage(actor=request.user, tenant=campaign.tenant_id),
    }


def review_page(request: HttpRequest, campaign: Campaign, urls: Urls) -> HttpResponse:
    if not (
        selectors.reviewer_has_items(campaign=campaign, user=request.user)
        or services.can_manage(actor=request.user, tenant=campaign.tenant_id)
    ):
        raise Http404
    context = review_context(request, campaign, urls)
    template = "certification/review.html"
    if htmx_partial(request):
        template += "#review-region"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


def _delegate_user(email: str) -> User | None:
    email = (email or "").strip().lower()
    return User.objects.filter(email__iexact=email).first() if email else None


def decide_item(request: HttpRequest, campaign: Campaign, urls: Urls, item_id: int) -> HttpResponse:
    item = ReviewItem.objects.filter(campaign=campaign, pk=item_id).first()
    if item is None:
        raise Http404
    form = DecisionForm(request.POST)
    error = ""
    status = 200
    if not form.is_valid():
        error = _("Choose a decision.")
        status = 400
    else:
        data = form.cleaned_data
        reduce_to = None
        delegate_to = None
        if data["decision"] == Decision.REDUCE and data.get("reduce_to"):
            reduce_to = Entitlement.objects.filter(pk=data["reduce_to"]).first()
        if data["decision"] == Decision.DELEGATE:
            delegate_to = _delegate_user(data.get("delegate_to") or "")
            if delegate_to is None:
                error, status = _("Nobody with this email address can review here."), 400
        if not error:
            try:
                item = services.review_item_decide(
                    actor=request.user,
                    item=item,
                    decision=data["decision"],
                    comment=data.get("comment") or "",
                    reduce_to=reduce_to,
                    delegate_to=delegate_to,
                )
            except DomainError as exc:
                error, status = exc.message, exc.status_code
    if htmx_partial(request):
        item = ReviewItem.objects.select_related("environment").get(pk=item.pk)
        selectors.decorate([item], user=request.user, options=selectors.reduce_options_for([item]))
        response = render(
            request,
            "certification/review.html#review-row",
            {
                "item": item,
                "campaign": campaign,
                "urls": urls,
                "error": error,
                "just_decided": not error,
                "user": request.user,
            },
            status=200 if status < 500 else status,
        )
        if not error:
            response["HX-Trigger"] = "review-item-decided"
        return response
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Decision recorded."))
    return redirect(f"{urls.review}?{request.GET.urlencode()}")


def decide_bulk(request: HttpRequest, campaign: Campaign, urls: Urls) -> HttpResponse:
    form = BulkForm(request.POST)
    filters = selectors.ReviewFilters.from_query(request.POST)
    notes: list[tuple[str, str]] = []
    if not form.is_valid():
        notes.append(("error", _("Choose a decision for the selected items.")))
    else:
        data = form.cleaned_data
        if data.get("all_matching"):
            ids: Any = list(
                selectors.review_items_for_reviewer(
                    campaign=campaign, user=request.user, filters=filters
                ).values_list("pk", flat=True)[: services.decisions.MAX_BULK + 1]
            )
        else:
            ids = data.get("ids") or []
        delegate_to = None
        if data["decision"] == Decision.DELEGATE:
            delegate_to = _delegate_user(data.get("delegate_to") or "")
        try:
            if data["decision"] == Decision.DELEGATE and delegate_to is None:
                raise DomainError(_("Nobody with this email address can review here."))
            result = services.review_items_decide_bulk(
                actor=request.user,
                campaign=campaign,
                item_ids=ids,
                decision=data["decision"],
                comment=data.get("comment") or "",
                delegate_to=delegate_to,
            )
        except DomainError as exc:
            notes.append(("error", exc.message))
        else:
            notes.append(("success", _("%(n)d items decided.") % {"n": result.decided}))
            notes += [("warning", m) for m in result.messages]
    if htmx_partial(request):
        context = review_context(request, campaign, urls, filters=filters)
        context["notes"] = notes
        response = render(request, "certification/review.html#review-region", context)
        response["HX-Trigger"] = "review-item-decided"
        return response
    for level, text in notes:
        getattr(messages, level)(request, text)
    return redirect(f"{urls.review}?{urlencode(filters.as_query())}")


# --- campaign management ----------------------------------------------------------------------
def require_manager(request: HttpRequest, campaign: Campaign) -> None:
    if services.can_manage(actor=request.user, tenant=campaign.tenant_id):
        return
    if selectors.reviewer_has_items(campaign=campaign, user=request.user):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(_("Only the campaign's managers can see this page."))
    raise Http404


def dashboard_page(request: HttpRequest, campaign: Campaign, urls: Urls) -> HttpResponse:
    require_manager(request, campaign)
    return render(
        request,
        "certification/campaign_dashboard.html",
        {
            "campaign": campaign,
            "urls": urls,
            "board": selectors.campaign_dashboard(campaign=campaign),
            "sign_off_form": SignOffForm(),
            "mine": selectors.reviewer_has_items(campaign=campaign, user=request.user),
        },
    )


def campaign_action(
    request: HttpRequest, campaign: Campaign, urls: Urls, action: str
) -> HttpResponse:
    require_manager(request, campaign)
    try:
        if action == "launch":
            campaign = services.campaign_launch(actor=request.user, campaign=campaign)
            messages.success(
                request,
                _("Campaign launched with %(n)d items.") % {"n": campaign.items_total},
            )
        elif action == "close":
            result = services.campaign_close(actor=request.user, campaign=campaign)
            messages.success(
                request,
                _(
                    "Campaign closed: %(revoked)d revoked, %(reduced)d reduced, %(flagged)d "
                    "kept and flagged."
                )
                % {
                    "revoked": result.revoked,
                    "reduced": result.reduced,
                    "flagged": result.flagged,
                },
            )
            for note in result.refused:
                messages.warning(request, note)
            if result.next_campaign is not None:
                messages.info(
                    request,
                    _("The next run is scheduled for %(when)s.")
                    % {"when": timezone.localtime(result.next_campaign.starts_at).date()},
                )
        elif action == "sign_off":
            form = SignOffForm(request.POST)
            note = form.cleaned_data["note"] if form.is_valid() else ""
            services.campaign_sign_off(actor=request.user, campaign=campaign, note=note)
            messages.success(request, _("Campaign signed off."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(urls.dashboard)


def _rows_in(tenant: Any, rows: Iterator[Any]) -> Iterator[Any]:
    """Streamed after the view returns: keep the tenant scope while the rows are read."""
    with tenant_context(tenant):
        yield from rows


def report_csv(request: HttpRequest, campaign: Campaign) -> Any:
    require_manager(request, campaign)
    rows = _rows_in(campaign.tenant, selectors.campaign_result_rows(campaign=campaign))
    return csv_response(
        csv_lines(selectors.RESULT_HEADER, rows),
        basename=f"custos-campaign-{campaign.tenant.slug}-{campaign.pk}",
    )


def report_pdf(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    require_manager(request, campaign)
    items = list(selectors.campaign_result_items(campaign=campaign)[: PDF_MAX_ROWS + 1])
    truncated = len(items) > PDF_MAX_ROWS
    data = pdf_render(
        template="certification/campaign_report_pdf.html",
        context={
            "campaign": campaign,
            "board": selectors.campaign_dashboard(campaign=campaign),
            "items": items[:PDF_MAX_ROWS],
            "truncated": truncated,
            "max_rows": PDF_MAX_ROWS,
            "generated_at": timezone.localtime(),
            "generated_by": request.user,
            "outcomes": Outcome,
        },
        request=request,
    )
    return pdf_response(data, basename=f"custos-campaign-{campaign.tenant.slug}-{campaign.pk}")
