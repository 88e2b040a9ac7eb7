"""Customer-portal pages of certification (/t/<tenant>/certification/...). The tenant scope is
set by the middleware (404 for strangers); each view loads the campaign through the scoped
manager and hands over to apps.certification.views."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.access.models import Role
from apps.certification import selectors, services, views
from apps.certification.forms import CampaignForm
from apps.certification.models import Campaign
from apps.core.exceptions import DomainError
from apps.identity.models import StaffRole, User
from apps.tenants.models import Environment
from apps.tenants.permissions import tenant_member_required


def _campaign(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.select_related("tenant").filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404
    return campaign


def _urls(request: HttpRequest, campaign: Campaign) -> views.Urls:
    return views.portal_urls(request.tenant.slug, campaign.pk)  # type: ignore[attr-defined]


@require_GET
@tenant_member_required
def home(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    manager = services.can_manage(actor=request.user, tenant=tenant)
    return render(
        request,
        "certification/campaign_list.html",
        {
            "tenant": tenant,
            "mine": list(selectors.campaigns_reviewed_by(user=request.user)[:100]),
            "campaigns": list(selectors.campaign_list(tenant=tenant)[:200]) if manager else [],
            "can_manage": manager,
            "staff": False,
        },
    )


def campaign_form(tenant: Any, data: Any = None) -> CampaignForm:
    members = User.objects.filter(
        memberships__tenant=tenant, memberships__is_active=True, is_active=True
    )
    reviewers = User.objects.filter(
        Q(pk__in=members.values("pk"))
        | Q(kind="staff", staff_role__in=[StaffRole.INTERNAL_REVIEWER, StaffRole.COMPLIANCE]),
        is_active=True,
    ).order_by("email")
    return CampaignForm(
        data,
        environments=Environment.objects.for_tenant(tenant).order_by("name"),
        roles=Role.objects.for_tenant(tenant).order_by("name"),
        members=members.order_by("email"),
        reviewers=reviewers,
    )


def create_from_form(request: HttpRequest, tenant: Any, form: CampaignForm) -> Campaign | None:
    data = form.cleaned_data
    try:
        campaign = services.campaign_create(
            actor=request.user,
            tenant=tenant,
            name=data["name"],
            description=data.get("description") or "",
            scope_kind=data["scope_kind"],
            scope_environment=data.get("scope_environment"),
            scope_role=data.get("scope_role"),
            reviewer_policy=data["reviewer_policy"],
            default_reviewer=data.get("default_reviewer"),
            fallback_reviewer=data.get("fallback_reviewer"),
            customer_reviewer=data.get("customer_reviewer"),
            co_managed_environment_ids=[e.pk for e in data.get("co_managed_environments") or []],
            joint_mode=data["joint_mode"],
            recurrence=data["recurrence"],
            effect_timing=data["effect_timing"],
            auto_decision=data["auto_decision"],
            due_at=data["due_at"],
        )
    except DomainError as exc:
        field = exc.code if exc.code in form.fields else None
        form.add_error(field, exc.message)
        return None
    messages.success(request, _created_message())
    return campaign


def _created_message() -> str:
    from django.utils.translation import gettext as _

    return _("Campaign created as a draft. Launch it to generate the review items.")


@require_http_methods(["GET", "POST"])
@tenant_member_required
def campaign_new(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    if not services.can_manage(actor=request.user, tenant=tenant):
        raise PermissionDenied
    form = campaign_form(tenant, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        campaign = create_from_form(request, tenant, form)
        if campaign is not None:
            return redirect(views.portal_urls(tenant.slug, campaign.pk).dashboard)
    return render(
        request,
        "certification/campaign_form.html",
        {
            "form": form,
            "tenant": tenant,
            "cancel_url": reverse("certification:home", kwargs={"tenant_slug": tenant.slug}),
        },
    )


@require_GET
@tenant_member_required
def dashboard(request: HttpRequest, tenant_slug: str, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    return views.dashboard_page(request, campaign, _urls(request, campaign))


@require_POST
@tenant_member_required
def launch(request: HttpRequest, tenant_slug: str, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    return views.campaign_action(request, campaign, _urls(request, campaign), "launch")


@require_POST
@tenant_member_required
def close(request: HttpRequest, tenant_slug: str, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    return views.campaign_action(request, campaign, _urls(request, campaign), "close")


@require_POST
@tenant_member_required
def sign_off(request: HttpRequest, tenant_slug: str, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    return views.campaign_action(request, campaign, _urls(request, campaign), "sign_off")


@require_GET
@tenant_member_required
def review(request: HttpRequest, tenant_slug: str, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    return views.review_page(request, campaign, _urls(request, campaign))


@require_POST
@tenant_member_required
def bulk(request: HttpRequest, tenant_slug: str, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    return views.decide_bulk(request, campaign, _urls(request, campaign))


@require_POST
@tenant_member_required
def decide(
    request: HttpRequest, tenant_slug: str, campaign_id: int, review_item_id: int
) -> HttpResponse:
    campaign = _campaign(campaign_id)
    return views.decide_item(request, campaign, _urls(request, campaign), review_item_id)


@require_GET
@tenant_member_required
def report_csv(request: HttpRequest, tenant_slug: str, campaign_id: int) -> Any:
    return views.report_csv(request, _campaign(campaign_id))


@require_GET
@tenant_member_required
def report_pdf(request: HttpRequest, tenant_slug: str, campaign_id: int) -> HttpResponse:
    return views.report_pdf(request, _campaign(campaign_id))
