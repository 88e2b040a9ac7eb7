"""Catalog management for customer admins: entitlements, roles (from global templates), ABAC
rules (versioned), SoD rules, provisioning templates, and the manual grant form. Every write
goes through apps.access.services; refusals are shown in the form, never a 500.

Objects are loaded through the tenant-scoped managers (the middleware set the tenant), so
another tenant's ids are 404.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from apps.access import services
from apps.access.forms import (
    EntitlementForm,
    GrantForm,
    PolicyRuleForm,
    RoleBundleForm,
    RoleFromTemplateForm,
    SodRuleForm,
)
from apps.access.models import (
    Entitlement,
    PolicyRule,
    ProvisioningTemplate,
    Role,
    SodRule,
)
from apps.core.exceptions import DomainError
from apps.tenants.permissions import tenant_admin_required


def _get(model: Any, pk: int, **select: Any) -> Any:
    obj = model.objects.filter(pk=pk).first()  # tenant-scoped manager: others' ids -> None
    if obj is None:
        raise Http404
    return obj


def _tenant(request: HttpRequest) -> Any:
    return request.tenant  # type: ignore[attr-defined]


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def entitlement_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = _tenant(request)
    form = EntitlementForm(request.POST or None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.entitlement_create(
                actor=request.user,
                tenant=tenant,
                environment=data["environment"],
                level=data["level"],
                risk=data["risk"],
                description=data["description"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Entitlement created."))
            return redirect("access:entitlement_list", tenant_slug=tenant.slug)
    entitlements = Entitlement.objects.select_related("environment").order_by(
        "environment__name", "level"
    )
    return render(
        request,
        "access/entitlement_list.html",
        {"tenant": tenant, "entitlements": entitlements, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def role_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = _tenant(request)
    form = RoleFromTemplateForm(request.POST or None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            role = services.role_create_from_template(
                actor=request.user,
                tenant=tenant,
                template=data["template"],
                environments=data["environments"],
                key=data["key"],
                name=data["name"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Role created from the template."))
            return redirect("access:role_edit", tenant_slug=tenant.slug, role_id=role.pk)
    roles = (
        Role.objects.select_related("template").prefetch_related("entitlements").order_by("name")
    )
    return render(
        request,
        "access/role_list.html",
        {"tenant": tenant, "roles": roles, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def role_edit(request: HttpRequest, tenant_slug: str, role_id: int) -> HttpResponse:
    tenant = _tenant(request)
    role = _get(Role, role_id)
    initial = {
        "name": role.name,
        "description": role.description,
        "entitlements": list(role.entitlements.all()),
    }
    form = RoleBundleForm(request.POST or None, tenant=tenant, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.role_entitlements_set(
                actor=request.user,
                role=role,
                entitlements=data["entitlements"],
                name=data["name"],
                description=data["description"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Role saved."))
            return redirect("access:role_list", tenant_slug=tenant.slug)
    return render(
        request,
        "access/role_edit.html",
        {"tenant": tenant, "role": role, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_GET
@tenant_admin_required
def policy_rule_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    rules = PolicyRule.objects.filter(is_current=True).order_by("key")
    return render(
        request, "access/policy_rule_list.html", {"tenant": _tenant(request), "rules": rules}
    )


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def policy_rule_edit(
    request: HttpRequest, tenant_slug: str, policy_rule_id: int | None = None
) -> HttpResponse:
    tenant = _tenant(request)
    rule = _get(PolicyRule, policy_rule_id) if policy_rule_id is not None else None
    initial: dict[str, Any] = {"effect": "deny", "enabled": True}
    if rule is not None:
        initial = {
            "key": rule.key,
            "name": rule.name,
            "description": rule.description,
            "effect": rule.effect,
            "enabled": rule.enabled,
            "conditions": json.dumps(rule.conditions, indent=2, ensure_ascii=False),
        }
    form = PolicyRuleForm(request.POST or None, initial=initial)
    if rule is not None:
        form.fields["key"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = services.policy_rule_save(
                actor=request.user,
                tenant=tenant,
                key=rule.key if rule is not None else data["key"],
                name=data["name"],
                conditions=data["conditions"],
                effect=data["effect"],
                description=data["description"],
                enabled=data["enabled"],
            )
        except DomainError as exc:
            form.add_error("conditions" if exc.code == "rule_invalid" else None, exc.message)
        else:
            messages.success(
                request,
                _("Rule %(key)s saved as version %(v)d.") % {"key": saved.key, "v": saved.version},
            )
            return redirect("access:policy_rule_list", tenant_slug=tenant.slug)
    versions = PolicyRule.objects.filter(key=rule.key).order_by("-version") if rule else []
    return render(
        request,
        "access/policy_rule_edit.html",
        {"tenant": tenant, "rule": rule, "form": form, "versions": versions},
        status=400 if request.method == "POST" else 200,
    )


@require_GET
@tenant_admin_required
def sod_rule_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    rules = SodRule.objects.prefetch_related("entitlements", "roles").order_by("key")
    return render(
        request, "access/sod_rule_list.html", {"tenant": _tenant(request), "rules": rules}
    )


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def sod_rule_edit(
    request: HttpRequest, tenant_slug: str, sod_rule_id: int | None = None
) -> HttpResponse:
    tenant = _tenant(request)
    rule = _get(SodRule, sod_rule_id) if sod_rule_id is not None else None
    initial: dict[str, Any] = {"mode": "deny", "threshold": 2, "enabled": True}
    if rule is not None:
        initial = {
            "key": rule.key,
            "name": rule.name,
            "description": rule.description,
            "mode": rule.mode,
            "threshold": rule.threshold,
            "enabled": rule.enabled,
            "entitlements": list(rule.entitlements.all()),
            "roles": list(rule.roles.all()),
        }
    form = SodRuleForm(request.POST or None, tenant=tenant, initial=initial)
    if rule is not None:
        form.fields["key"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.sod_rule_save(
                actor=request.user,
                tenant=tenant,
                key=rule.key if rule is not None else data["key"],
                name=data["name"],
                description=data["description"],
                mode=data["mode"],
                threshold=data["threshold"],
                entitlements=data["entitlements"],
                roles=data["roles"],
                enabled=data["enabled"],
                rule=rule,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Separation-of-duties rule saved."))
            return redirect("access:sod_rule_list", tenant_slug=tenant.slug)
    return render(
        request,
        "access/sod_rule_edit.html",
        {"tenant": tenant, "rule": rule, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_GET
@tenant_admin_required
def provisioning_template_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    templates = ProvisioningTemplate.objects.prefetch_related("roles").order_by("priority", "name")
    return render(
        request,
        "access/provisioning_template_list.html",
        {"tenant": _tenant(request), "templates": templates},
    )


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def grant_create(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = _tenant(request)
    form = GrantForm(request.POST or None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            grant = services.grant_create(
                actor=request.user,
                tenant=tenant,
                user=data["user"],
                entitlement=data["entitlement"],
                role=data["role"],
                source=data["source"],
                duration=data["duration"],
                justification=data["justification"],
                ticket_ref=data["ticket_ref"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                _("Granted %(target)s to %(user)s.")
                % {"target": grant.target_label, "user": grant.subject_label},
            )
            return redirect("access:grant_create", tenant_slug=tenant.slug)
    return render(
        request,
        "access/grant_form.html",
        {"tenant": tenant, "form": form},
        status=400 if request.method == "POST" else 200,
    )
