"""Portal pages for customer admins: /t/<tenant>/federation/..."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.exceptions import DomainError
from apps.identity.federation import saml, selectors, services
from apps.identity.federation.forms import (
    CertificateForm,
    ConnectionForm,
    DomainForm,
    PreviewForm,
    RuleForm,
)
from apps.identity.federation.models import (
    ConnectionKind,
    IdentityConflict,
    IdpCertificate,
    IdpConnection,
    MappingRule,
    MappingTarget,
    VerifiedDomain,
)
from apps.tenants.permissions import tenant_admin_required


def _endpoints(request: HttpRequest, slug: str) -> dict[str, str]:
    from django.urls import reverse

    base = saml.base_url(request)
    names = ("saml_metadata", "saml_login", "saml_acs", "saml_sls", "oidc_login", "oidc_callback")
    return {n: base + reverse(f"federation_public:{n}", args=[slug]) for n in names}


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def home(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    domain_form = DomainForm(request.POST or None)
    if request.method == "POST" and domain_form.is_valid():
        try:
            services.domain_add(
                actor=request.user, tenant=tenant, domain=domain_form.cleaned_data["domain"]
            )
        except DomainError as exc:
            domain_form.add_error("domain", exc.message)
        else:
            messages.success(
                request, _("Domain added. Publish the DNS TXT record to have it verified.")
            )
            return redirect("federation:home", tenant_slug=tenant.slug)
    return render(
        request,
        "federation/home.html",
        {
            "tenant": tenant,
            "connections": selectors.connections_for_tenant(),
            "domains": VerifiedDomain.objects.order_by("domain"),
            "expiring": selectors.certificates_expiring(days=30),
            "conflicts": selectors.open_conflicts(),
            "domain_form": domain_form,
            "endpoints": _endpoints(request, tenant.slug),
        },
        status=400 if domain_form.errors else 200,
    )


def _save_connection(
    request: HttpRequest, form: ConnectionForm, connection: IdpConnection | None
) -> IdpConnection:
    data = form.cleaned_data
    fields: dict[str, Any] = {
        k: data[k]
        for k in (
            "name",
            "status",
            "mfa_policy",
            "groups_attribute",
            "attribute_map",
            "metadata_url",
            "metadata_refresh_hours",
            "allow_idp_initiated",
            "accept_encrypted",
            "issuer",
            "client_id",
            "scopes",
        )
    }
    fields["metadata_url"] = fields["metadata_url"] or ""
    fields["issuer"] = fields["issuer"] or ""
    tenant = request.tenant  # type: ignore[attr-defined]
    from django.db import transaction

    with transaction.atomic():
        conn = services.connection_save(
            actor=request.user,
            tenant=tenant,
            kind=data["kind"],
            connection=connection,
            client_secret=data["client_secret"] or None,
            **fields,
        )
        if data["kind"] == ConnectionKind.SAML:
            upload = data.get("metadata_file")
            if upload is not None:
                services.metadata_import(actor=request.user, connection=conn, xml=upload.read())
            elif data["metadata_url"] and (
                connection is None or connection.metadata_url != data["metadata_url"]
            ):
                services.metadata_import(
                    actor=request.user,
                    connection=conn,
                    xml=services.metadata_fetch(data["metadata_url"]),
                    source="url",
                )
    return conn


def _sp_certificate_info(connection: IdpConnection | None) -> saml.CertInfo | None:
    if connection is None or connection.kind != ConnectionKind.SAML:
        return None
    if not connection.sp_certificate:
        return None
    return saml.certificate_parse(connection.sp_certificate)


def _metadata_url(request: HttpRequest, connection: IdpConnection | None) -> str:
    if connection is None or connection.kind != ConnectionKind.SAML:
        return ""
    from django.urls import reverse

    url = reverse("federation_public:saml_metadata", args=[connection.tenant.slug])
    return f"{saml.base_url(request)}{url}?connection={connection.pk}"


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def connection_edit(
    request: HttpRequest, tenant_slug: str, connection_id: int | None = None
) -> HttpResponse:
    connection = get_object_or_404(IdpConnection, pk=connection_id) if connection_id else None
    initial: dict[str, Any] = {}
    if connection is not None:
        initial = {
            f: getattr(connection, f)
            for f in (
                "name",
                "kind",
                "status",
                "mfa_policy",
                "groups_attribute",
                "metadata_url",
                "metadata_refresh_hours",
                "allow_idp_initiated",
                "accept_encrypted",
                "issuer",
                "client_id",
                "scopes",
            )
        }
        import json

        initial["attribute_map"] = (
            json.dumps(connection.attribute_map) if connection.attribute_map else ""
        )
    form = ConnectionForm(request.POST or None, request.FILES or None, initial=initial)
    cert_form = CertificateForm()
    if request.method == "POST" and form.is_valid():
        try:
            conn = _save_connection(request, form, connection)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Connection saved."))
            return redirect(
                "federation:connection_edit", tenant_slug=tenant_slug, connection_id=conn.pk
            )
    return render(
        request,
        "federation/connection_form.html",
        {
            "tenant": request.tenant,  # type: ignore[attr-defined]
            "form": form,
            "connection": connection,
            "cert_form": cert_form,
            "certificates": connection.certificates.all() if connection else [],
            "has_secret": bool(connection and connection.client_secret),
            "sp_certificate": _sp_certificate_info(connection),
            "metadata_url": _metadata_url(request, connection),
        },
        status=400 if form.errors else 200,
    )


@require_POST
@tenant_admin_required
def certificate_add(request: HttpRequest, tenant_slug: str, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(IdpConnection, pk=connection_id)
    form = CertificateForm(request.POST)
    if form.is_valid():
        try:
            services.certificate_add(
                actor=request.user, connection=connection, pem=form.cleaned_data["pem"]
            )
            messages.success(request, _("Certificate added."))
        except DomainError as exc:
            messages.error(request, exc.message)
    return redirect(
        "federation:connection_edit", tenant_slug=tenant_slug, connection_id=connection.pk
    )


@require_POST
@tenant_admin_required
def certificate_remove(request: HttpRequest, tenant_slug: str, certificate_id: int) -> HttpResponse:
    cert = get_object_or_404(IdpCertificate, pk=certificate_id)
    services.certificate_remove(actor=request.user, certificate=cert)
    messages.success(request, _("Certificate removed."))
    return redirect(
        "federation:connection_edit", tenant_slug=tenant_slug, connection_id=cert.connection_id
    )


@require_POST
@tenant_admin_required
def domain_remove(request: HttpRequest, tenant_slug: str, domain_id: int) -> HttpResponse:
    domain = get_object_or_404(VerifiedDomain, pk=domain_id)
    services.domain_remove(actor=request.user, domain=domain)
    messages.success(request, _("Domain removed."))
    return redirect("federation:home", tenant_slug=tenant_slug)


@require_POST
@tenant_admin_required
def domain_verify(request: HttpRequest, tenant_slug: str, domain_id: int) -> HttpResponse:
    """Look the domain's TXT record up in the DNS now."""
    domain = get_object_or_404(VerifiedDomain, pk=domain_id)
    try:
        services.domain_verify_dns(actor=request.user, domain=domain)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Domain %(domain)s verified.") % {"domain": domain.domain})
    return redirect("federation:home", tenant_slug=tenant_slug)


@require_POST
@tenant_admin_required
def sp_key_rotate(request: HttpRequest, tenant_slug: str, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(IdpConnection, pk=connection_id, kind=ConnectionKind.SAML)
    services.connection_sp_key_rotate(actor=request.user, connection=connection)
    messages.success(
        request,
        _("New SP key created. Give your identity provider the new SP metadata now."),
    )
    return redirect(
        "federation:connection_edit", tenant_slug=tenant_slug, connection_id=connection.pk
    )


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def rules(request: HttpRequest, tenant_slug: str, connection_id: int) -> HttpResponse:
    """Mapping rules with a preview: what would this assertion produce, with the saved rules
    plus the one being written, before saving it."""
    connection = get_object_or_404(IdpConnection, pk=connection_id)
    form = RuleForm(request.POST or None)
    preview_form = PreviewForm(request.POST or None)
    preview = None
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if "preview" in request.POST:
            if preview_form.is_valid():
                draft = MappingRule(
                    connection=connection,
                    attribute=data["attribute"],
                    value=data["value"],
                    target_kind=data["target_kind"],
                    target=data["target"],
                    priority=data["priority"],
                )
                saved = list(MappingRule.objects.filter(connection=connection, active=True))
                preview = services.mapping_evaluate(
                    connection=connection,
                    attributes=preview_form.cleaned_data["assertion"],
                    rules=[*saved, draft],
                )
            else:
                status = 400
        else:
            try:
                services.mapping_rule_save(actor=request.user, connection=connection, **data)
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                messages.success(request, _("Mapping rule saved."))
                return redirect(
                    "federation:rules", tenant_slug=tenant_slug, connection_id=connection.pk
                )
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "federation/rules.html",
        {
            "tenant": request.tenant,  # type: ignore[attr-defined]
            "connection": connection,
            "rules": MappingRule.objects.filter(connection=connection),
            "form": form,
            "preview_form": preview_form,
            "preview": preview,
            "targets": MappingTarget,
        },
        status=status,
    )


@require_POST
@tenant_admin_required
def rule_delete(request: HttpRequest, tenant_slug: str, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(MappingRule, pk=rule_id)
    connection_id = rule.connection_id
    services.mapping_rule_delete(actor=request.user, rule=rule)
    messages.success(request, _("Mapping rule deleted."))
    return redirect("federation:rules", tenant_slug=tenant_slug, connection_id=connection_id)


@require_POST
@tenant_admin_required
def conflict_resolve(request: HttpRequest, tenant_slug: str, conflict_id: int) -> HttpResponse:
    conflict = get_object_or_404(IdentityConflict, pk=conflict_id)
    try:
        services.conflict_resolve(
            actor=request.user, conflict=conflict, decision=request.POST.get("decision", "")
        )
        messages.success(request, _("Conflict resolved."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("federation:home", tenant_slug=tenant_slug)
