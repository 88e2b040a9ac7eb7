"""Public, per-tenant federation endpoints (stable URLs, docs/federation.md):

    /federation/saml/<tenant>/metadata/   SP metadata (XML)
    /federation/saml/<tenant>/login/      SP-initiated SAML sign-in (redirect to the IdP)
    /federation/saml/<tenant>/acs/        assertion consumer service (HTTP-POST)
    /federation/saml/<tenant>/sls/        single logout service (HTTP-Redirect)
    /federation/oidc/<tenant>/login/      OIDC sign-in start (code + PKCE)
    /federation/oidc/<tenant>/callback/   OIDC redirect URI
    /federation/discover/                 home-realm discovery (email -> tenant IdP)

Every refusal is audited and answered with a 4xx page, never a 500.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import user_has_device

from apps.core.middleware import client_ip
from apps.core.tenancy import tenant_context
from apps.identity import services as identity_services
from apps.identity.federation import oidc, saml, selectors, services
from apps.identity.federation.models import ConnectionKind, IdpConnection, MfaPolicy
from apps.identity.mfa import mfa_required_for
from apps.tenants.models import Tenant

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
SAML_REQUESTS_KEY = "federation_saml_requests"
IDP_MFA_SESSION_KEY = "federation_mfa"
RELAY_KEY = "federation_next"
SAML_SESSION_KEY = "federation_saml_session"
SLO_PENDING_KEY = "federation_saml_logout"


def _error(request: HttpRequest, message: str, status: int = 403) -> HttpResponse:
    return render(
        request,
        "federation/error.html",
        {"message": message, "login_url": reverse("identity:login")},
        status=status,
    )


def _tenant(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def _refuse(
    request: HttpRequest,
    *,
    tenant: Tenant | None,
    connection: IdpConnection | None,
    reason: str,
    detail: str,
    method: str,
    status: int = 403,
    message: str | None = None,
) -> HttpResponse:
    services.refusal_record(
        connection=connection,
        tenant=tenant.pk if tenant else None,
        reason=reason,
        detail=detail,
        method=method,
    )
    return _error(
        request,
        message
        or _(
            "Sign-in through your identity provider was refused (%(reason)s). Ask your "
            "administrator to check the connection, or try again."
        )
        % {"reason": reason},
        status,
    )


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    from apps.identity.views import safe_next_url

    return safe_next_url(request, candidate)


def _complete(
    request: HttpRequest, *, connection: IdpConnection, login: services.FederatedLogin
) -> HttpResponse:
    """Shared end of every federated sign-in: link/JIT/map, then the same suspension,
    lockout and MFA rules as a password sign-in."""
    from apps.identity import views as identity_views

    tenant = connection.tenant
    ip = client_ip(request)
    try:
        result = services.federated_sign_in(connection=connection, login=login, ip=ip)
    except services.FederatedSignInRefused as exc:
        return _refuse(
            request,
            tenant=tenant,
            connection=connection,
            reason=exc.reason,
            detail=login.subject,
            method=login.method,
            message=str(exc.message),
        )
    user = result.user
    next_url = _safe_next(request, request.session.pop(RELAY_KEY, "")) or ""
    trusted = connection.mfa_policy == MfaPolicy.TRUST_IDP and login.mfa
    # One transaction for the second-factor checks and the sign-in's writes (fewer round
    # trips than a transaction per query).
    with transaction.atomic():
        has_device = False if trusted else user_has_device(user)
        needs_second = connection.mfa_policy == MfaPolicy.REQUIRE_TOTP or (
            not trusted and (has_device or mfa_required_for(user))
        )
        if needs_second and (has_device or user_has_device(user)):
            identity_views._pending_start(request, user, next_url)
            request.session["auth_method"] = login.method
            return redirect("identity:login_mfa")
        if request.user.is_authenticated and request.user.pk != user.pk:
            auth_logout(request)
        auth_login(request, user, backend=MODEL_BACKEND)
        request.session["auth_method"] = login.method
        if trusted:
            request.session[IDP_MFA_SESSION_KEY] = "idp"
        factor = "idp_mfa" if trusted else ("enrolment_required" if needs_second else "none")
        identity_services.login_succeeded_record(user=user, ip=ip, factor=factor)
    if needs_second:
        return redirect("identity:mfa_setup")
    response = HttpResponseRedirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
    if user.language:
        identity_views.set_language_cookie(response, user.language)
    return response


# --- SAML ------------------------------------------------------------------------------------


@require_GET
def saml_metadata(request: HttpRequest, org: str) -> HttpResponse:
    """The tenant's SP metadata; with `?connection=<id>` (tenants with several SAML
    connections) the certificate of that connection, else of the tenant's first one."""
    tenant = _tenant(org)
    if tenant is None:
        return _error(request, _("Unknown organisation."), 404)
    connection = selectors.saml_connection_for_metadata(
        tenant=tenant, connection_id=request.GET.get("connection")
    )
    with tenant_context(tenant):
        xml = saml.sp_metadata(connection, tenant.slug, request)
    return HttpResponse(xml, content_type="application/samlmetadata+xml")


@never_cache
@require_GET
def saml_login(request: HttpRequest, org: str) -> HttpResponse:
    tenant = _tenant(org)
    if tenant is None:
        return _error(request, _("Unknown organisation."), 404)
    connection = selectors.active_connection(
        tenant=tenant, kind=ConnectionKind.SAML, connection_id=request.GET.get("connection")
    )
    if connection is None:
        return _error(request, _("This organisation has no active SAML connection."), 404)
    with tenant_context(tenant):
        url, request_id = saml.login_url(
            connection=connection, tenant_slug=tenant.slug, request=request, relay_state=""
        )
    pending = request.session.get(SAML_REQUESTS_KEY) or []
    request.session[SAML_REQUESTS_KEY] = [*pending[-4:], request_id]
    request.session[RELAY_KEY] = _safe_next(request, request.GET.get("next"))
    return HttpResponseRedirect(url)


@csrf_exempt  # the IdP posts cross-site; the signed assertion and InResponseTo protect it
@never_cache
@require_POST
def saml_acs(request: HttpRequest, org: str) -> HttpResponse:
    tenant = _tenant(org)
    if tenant is None:
        return _error(request, _("Unknown organisation."), 404)
    peek = saml.response_peek(request.POST.get("SAMLResponse", ""))
    issuer = peek.issuer
    pending = list(request.session.get(SAML_REQUESTS_KEY) or [])
    connection: IdpConnection | None = None
    try:
        # One transaction from the connection lookup to the replay row: the reads share one
        # tenant-scope setting instead of a transaction each; a refusal rolls it all back.
        with tenant_context(tenant), transaction.atomic():
            connection = selectors.saml_connection_for_issuer(tenant=tenant, issuer=issuer)
            if connection is None and not issuer:
                # An encrypted assertion hides its Issuer and the Response's own is optional:
                # the tenant's only SAML connection is then the one whose certificates verify.
                connection = selectors.saml_connection_single(tenant=tenant)
            if connection is None:
                raise saml.SamlError("unknown_issuer", issuer[:200])
            parsed = saml.acs_process(
                connection=connection,
                tenant_slug=tenant.slug,
                request=request,
                pending_request_ids=pending,
                peek=peek,
            )
            if parsed.in_response_to:
                request.session[SAML_REQUESTS_KEY] = [
                    i for i in pending if i != parsed.in_response_to
                ]
            services.assertion_mark_used(
                connection=connection,
                assertion_id=parsed.assertion_id,
                not_on_or_after=parsed.not_on_or_after,
            )
    except saml.SamlError as exc:
        return _refuse(
            request,
            tenant=tenant,
            connection=connection,
            reason=exc.reason,
            detail=exc.detail,
            method="saml",
            status=400,
        )
    except services.FederatedSignInRefused as exc:
        return _refuse(
            request,
            tenant=tenant,
            connection=connection,
            reason=exc.reason,
            detail="",
            method="saml",
            status=400,
        )
    assert connection is not None
    attributes: dict[str, Any] = dict(parsed.attributes)
    attributes.setdefault("name_id", [parsed.subject])
    if "@" in parsed.subject:
        attributes.setdefault("email", [parsed.subject])
    response = _complete(
        request,
        connection=connection,
        login=services.FederatedLogin(
            method="saml",
            issuer=parsed.issuer,
            subject=parsed.subject,
            attributes=attributes,
            mfa=parsed.mfa,
        ),
    )
    if response.status_code == 302:
        # What a LogoutRequest to the IdP has to name, and what an IdP-initiated one must
        # match before it ends this session.
        request.session[SAML_SESSION_KEY] = {
            "tenant": tenant.slug,
            "connection": connection.pk,
            "name_id": parsed.subject,
            "name_id_format": parsed.name_id_format,
            "nq": parsed.name_id_nq,
            "spnq": parsed.name_id_spnq,
            "session_index": parsed.session_index,
        }
    return response


def saml_logout_redirect(request: HttpRequest) -> HttpResponse | None:
    """SP-initiated single logout, called by the sign-out view: when this session came from
    a SAML IdP that has a logout endpoint, end the local session now and send the browser to
    the IdP with our signed LogoutRequest. None when there is nothing to do at an IdP (the
    caller then signs out locally as usual)."""
    info = request.session.get(SAML_SESSION_KEY)
    if not isinstance(info, dict):
        return None
    tenant = _tenant(str(info.get("tenant", "")))
    if tenant is None:
        return None
    connection = selectors.active_connection(
        tenant=tenant, kind=ConnectionKind.SAML, connection_id=info.get("connection")
    )
    if connection is None or not connection.slo_url:
        return None
    user = request.user
    try:
        with tenant_context(tenant):
            url, request_id = saml.logout_request_url(
                connection=connection,
                tenant_slug=tenant.slug,
                request=request,
                name_id=str(info.get("name_id", "")),
                session_index=str(info.get("session_index", "")),
                name_id_format=str(info.get("name_id_format", "")),
                nq=str(info.get("nq", "")),
                spnq=str(info.get("spnq", "")),
                relay_state=saml.base_url(request) + reverse("identity:login"),
            )
    except saml.SamlError as exc:
        services.saml_logout_record(
            connection=connection,
            tenant=tenant.pk,
            action="federation.logout.refused",
            user=user,
            details={"direction": "sp_initiated", "reason": exc.reason},
        )
        return None
    services.saml_logout_record(
        connection=connection,
        tenant=tenant.pk,
        action="federation.logout.requested",
        user=user,
        details={"request_id": request_id, "name_id": str(info.get("name_id", ""))},
    )
    # The local session ends here, whatever the IdP answers (or if it never answers).
    auth_logout(request)
    request.session[SLO_PENDING_KEY] = {
        "tenant": tenant.slug,
        "connection": connection.pk,
        "request_id": request_id,
    }
    return HttpResponseRedirect(url)


@never_cache
@require_GET
def saml_sls(request: HttpRequest, org: str) -> HttpResponse:
    """Single logout service (HTTP-Redirect): the IdP's LogoutResponse to our LogoutRequest,
    or an IdP-initiated LogoutRequest, which ends the local session it names and is answered
    with our signed LogoutResponse. Unsigned, badly signed, expired, replayed or unsolicited
    messages are refused (400) and audited."""
    tenant = _tenant(org)
    if tenant is None:
        return _error(request, _("Unknown organisation."), 404)
    pending = request.session.get(SLO_PENDING_KEY)
    pending = pending if isinstance(pending, dict) and pending.get("tenant") == org else {}
    is_response = "SAMLResponse" in request.GET
    connection = None
    if is_response and pending:
        connection = selectors.active_connection(
            tenant=tenant, kind=ConnectionKind.SAML, connection_id=pending.get("connection")
        )
    if connection is None:
        connection = selectors.saml_connection_for_issuer(
            tenant=tenant, issuer=saml.logout_message_issuer(request.GET)
        )

    def refused(reason: str, detail: str = "") -> HttpResponse:
        services.saml_logout_record(
            connection=connection,
            tenant=tenant.pk,
            action="federation.logout.refused",
            user=request.user,
            details={"reason": reason, "detail": detail[:300]},
        )
        return _error(
            request,
            _("The sign-out message from your identity provider was refused (%(reason)s).")
            % {"reason": reason},
            400,
        )

    if connection is None:
        return refused("unknown_issuer")
    try:
        with tenant_context(tenant):
            outcome = saml.sls_process(
                connection=connection,
                tenant_slug=tenant.slug,
                request=request,
                pending_logout_id=str(pending.get("request_id") or "") if is_response else None,
            )
            if outcome.kind == "request":
                services.logout_request_mark_used(
                    connection=connection,
                    message_id=outcome.message_id,
                    not_on_or_after=outcome.not_on_or_after,
                )
    except saml.SamlError as exc:
        return refused(exc.reason, exc.detail)
    except services.FederatedSignInRefused as exc:
        return refused(exc.reason)
    if outcome.kind == "response":
        request.session.pop(SLO_PENDING_KEY, None)
        if request.user.is_authenticated:
            auth_logout(request)
        services.saml_logout_record(
            connection=connection,
            tenant=tenant.pk,
            action="federation.logout.completed",
            details={"response_id": outcome.message_id},
        )
        messages.success(request, _("You have been signed out."))
        return redirect("identity:login")
    info = request.session.get(SAML_SESSION_KEY)
    info = info if isinstance(info, dict) else {}
    matches = (
        request.user.is_authenticated
        and info.get("tenant") == tenant.slug
        and info.get("connection") == connection.pk
        and info.get("name_id") == outcome.name_id
        and (not outcome.session_indexes or info.get("session_index") in outcome.session_indexes)
    )
    user = request.user if matches else None
    if matches:
        auth_logout(request)
    services.saml_logout_record(
        connection=connection,
        tenant=tenant.pk,
        action="federation.logout.idp_initiated",
        user=user,
        details={
            "request_id": outcome.message_id,
            "name_id": outcome.name_id,
            "session_ended": bool(matches),
        },
    )
    return HttpResponseRedirect(outcome.redirect_url or reverse("identity:login"))


# --- OIDC ------------------------------------------------------------------------------------


def _oidc_redirect_uri(request: HttpRequest, tenant_slug: str) -> str:
    return saml.base_url(request) + reverse("federation_public:oidc_callback", args=[tenant_slug])


@never_cache
@require_GET
def oidc_login(request: HttpRequest, org: str) -> HttpResponse:
    tenant = _tenant(org)
    if tenant is None:
        return _error(request, _("Unknown organisation."), 404)
    connection = selectors.active_connection(
        tenant=tenant, kind=ConnectionKind.OIDC, connection_id=request.GET.get("connection")
    )
    if connection is None:
        return _error(request, _("This organisation has no active OpenID Connect connection."), 404)
    request.session["federation_oidc_connection"] = connection.pk
    request.session[RELAY_KEY] = _safe_next(request, request.GET.get("next"))
    try:
        with tenant_context(tenant):
            url = oidc.login_redirect_url(
                request=request,
                connection=connection,
                redirect_uri=_oidc_redirect_uri(request, tenant.slug),
            )
    except oidc.OidcError as exc:
        return _refuse(
            request,
            tenant=tenant,
            connection=connection,
            reason=exc.reason,
            detail=exc.detail,
            method="oidc",
            status=502,
            message=_("The identity provider could not be reached. Try again later."),
        )
    return HttpResponseRedirect(url)


@never_cache
@require_GET
def oidc_callback(request: HttpRequest, org: str) -> HttpResponse:
    tenant = _tenant(org)
    if tenant is None:
        return _error(request, _("Unknown organisation."), 404)
    connection = selectors.active_connection(
        tenant=tenant,
        kind=ConnectionKind.OIDC,
        connection_id=request.session.get("federation_oidc_connection"),
    )
    if connection is None:
        return _refuse(
            request,
            tenant=tenant,
            connection=None,
            reason="no_connection",
            detail="",
            method="oidc",
            status=400,
        )
    try:
        with tenant_context(tenant):
            claims = oidc.callback_claims(
                request=request,
                connection=connection,
                redirect_uri=_oidc_redirect_uri(request, tenant.slug),
            )
    except oidc.OidcError as exc:
        return _refuse(
            request,
            tenant=tenant,
            connection=connection,
            reason=exc.reason,
            detail=exc.detail,
            method="oidc",
            status=400,
        )
    return _complete(
        request,
        connection=connection,
        login=services.FederatedLogin(
            method="oidc",
            issuer=connection.issuer,
            subject=str(claims["sub"]),
            attributes=claims,
            mfa=oidc.claims_mfa(claims),
        ),
    )


# --- Home-realm discovery -------------------------------------------------------------------


@never_cache
@require_http_methods(["POST"])
def discover(request: HttpRequest) -> HttpResponse:
    """Email -> the IdP of the tenant that verified its domain; otherwise back to the
    password form (which stays for tenants without IdP and for break-glass accounts)."""
    email = (request.POST.get("email") or "").strip().lower()
    next_url = _safe_next(request, request.POST.get("next"))
    target = selectors.home_realm_for_email(email)
    if target is None:
        url = reverse("identity:login") + "?password=1&email=" + _quote(email)
        if next_url:
            url += "&next=" + _quote(next_url)
        return HttpResponseRedirect(url)
    name = "saml_login" if target.kind == ConnectionKind.SAML else "oidc_login"
    url = reverse(f"federation_public:{name}", args=[target.tenant.slug])
    url += f"?connection={target.pk}"
    if next_url:
        url += "&next=" + _quote(next_url)
    return HttpResponseRedirect(url)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
