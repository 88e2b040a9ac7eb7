"""Staff-console pages of certification (/staff/certification/...): the vendor's internal
reviewers review their items; internal reviewers, compliance and security staff create, run,
close and sign off campaigns in any tenant. A campaign is found across tenants (an explicit,
reasoned crossing) and the rest of the view runs inside its tenant's scope; staff who neither
review in it nor manage campaigns get 404."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.certification import selectors, views
from apps.certification.models import Campaign, ReviewItem
from apps.certification.services.common import is_managing_staff
from apps.certification.views_portal import campaign_form, create_from_form
from apps.core.tenancy import tenant_context, unscoped
from apps.tenants.models import Tenant

ViewFunc = Callable[..., HttpResponse]


def staff_required(view: ViewFunc) -> ViewFunc:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(request.user, "is_vendor_staff", False):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def with_campaign(view: Callable[..., Any]) -> ViewFunc:
    """Load the campaign across tenants, check the staff member's part in it, and run the view
    inside the campaign's tenant scope."""

    @staff_required
    @wraps(view)
    def wrapper(request: HttpRequest, campaign_id: int, **kwargs: Any) -> HttpResponse:
        user = request.user
        with unscoped(reason="staff console: the tenant of a certification campaign"):
            campaign = Campaign.objects.select_related("tenant").filter(pk=campaign_id).first()
            involved = campaign is not None and (
                is_managing_staff(user)
                or ReviewItem.objects.filter(campaign_id=campaign_id)
                .filter(reviewer_id=user.pk)
                .exists()
            )
        if campaign is None or not involved:
            raise Http404
        with tenant_context(campaign.tenant):
            response: HttpResponse = view(
                request, campaign, views.staff_urls(campaign.pk), **kwargs
            )
        return response

    return wrapper


@require_GET
@staff_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    with unscoped(reason="staff console: campaigns a staff member reviews, in every tenant"):
        mine = list(selectors.campaigns_reviewed_by(user=user)[:100])
        campaigns = list(selectors.campaign_list()[:200]) if is_managing_staff(user) else []
    return render(
        request,
        "certification/campaign_list.html",
        {
            "mine": mine,
            "campaigns": campaigns,
            "can_manage": is_managing_staff(user),
            "staff": True,
            "tenants": list(Tenant.objects.order_by("name")) if is_managing_staff(user) else [],
        },
    )


@require_http_methods(["GET", "POST"])
@staff_required
def campaign_new(request: HttpRequest) -> HttpResponse:
    if not is_managing_staff(request.user):
        raise PermissionDenied
    slug = request.POST.get("tenant") or request.GET.get("tenant") or ""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        return redirect("staff_certification:home")
    with tenant_context(tenant):
        form = campaign_form(tenant, request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            campaign = create_from_form(request, tenant, form)
            if campaign is not None:
                return redirect(views.staff_urls(campaign.pk).dashboard)
        return render(
            request,
            "certification/campaign_form.html",
            {
                "form": form,
                "tenant": tenant,
                "staff": True,
                "cancel_url": reverse("staff_certification:home"),
            },
        )


@require_GET
@with_campaign
def dashboard(request: HttpRequest, campaign: Campaign, urls: views.Urls) -> HttpResponse:
    return views.dashboard_page(request, campaign, urls)


@require_POST
@with_campaign
def launch(request: HttpRequest, campaign: Campaign, urls: views.Urls) -> HttpResponse:
    return views.campaign_action(request, campaign, urls, "launch")


@require_POST
@with_campaign
def close(request: HttpRequest, campaign: Campaign, urls: views.Urls) -> HttpResponse:
    return views.campaign_action(request, campaign, urls, "close")


@require_POST
@with_campaign
def sign_off(request: HttpRequest, campaign: Campaign, urls: views.Urls) -> HttpResponse:
    return views.campaign_action(request, campaign, urls, "sign_off")


@require_GET
@with_campaign
def review(request: HttpRequest, campaign: Campaign, urls: views.Urls) -> HttpResponse:
    return views.review_page(request, campaign, urls)


@require_POST
@with_campaign
def bulk(request: HttpRequest, campaign: Campaign, urls: views.Urls) -> HttpResponse:
    return views.decide_bulk(request, campaign, urls)


@require_POST
@with_campaign
def decide(
    request: HttpRequest, campaign: Campaign, urls: views.Urls, review_item_id: int
) -> HttpResponse:
    return views.decide_item(request, campaign, urls, review_item_id)


@require_GET
@with_campaign
def report_csv(request: HttpRequest, campaign: Campaign, urls: views.Urls) -> Any:
    return views.report_csv(request, campaign)


@require_GET
@with_campaign
def report_pdf(request: HttpRequest, campaign: Campaign, urls: views.Urls) -> HttpResponse:
    return views.report_pdf(request, campaign)
