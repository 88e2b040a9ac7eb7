"""Bad input of issue 2, end to end: an unknown tenant slug, a tenant the person is not a member
of, a disabled account, a wrong TOTP code, a tampered session cookie. Each gets a clear page
with the right status (our styled error page, never a 500), and an audit event where it is
security-relevant.

A stranger's tenant answers exactly like a tenant that does not exist (404, same page), so the
portal does not confirm which tenants exist; the cross-tenant walker
(tests/security/test_cross_tenant_urls.py) holds every URL to the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client, RequestFactory
from django.urls import reverse
from django_otp.oath import totp

from apps.core.errors import server_error
from apps.core.models import AuditEvent
from apps.core.tenancy import unscoped
from apps.identity import services as identity_services
from apps.identity.models import User
from apps.tenants import services as tenant_services
from apps.tenants.models import Tenant, TenantStatus
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SIGN_IN_ERROR = "Sign-in failed. Check your email address and password and try again."
CODE_ERROR = "This code was not accepted."
LOGIN = reverse("identity:login")


def _events(action: str) -> list[AuditEvent]:
    with unscoped(reason="test reads the audit log"):
        return list(AuditEvent.objects.filter(action=action).order_by("id"))


def _styled_error(response: Any, status: int) -> str:
    """The response is our error page (base layout, navigation, stylesheet) with `status`."""
    assert response.status_code == status
    names = [t.name for t in response.templates]
    assert "error.html" in names
    assert "base.html" in names
    body = response.content.decode()
    assert 'class="error-page"' in body
    assert 'rel="stylesheet"' in body
    assert "Traceback" not in body
    return body


def _main_text(body: str) -> str:
    """The error section's text, without per-request noise (nonces, CSRF tokens)."""
    match = re.search(r'<section class="error-page".*?</section>', body, re.S)
    assert match is not None
    return match.group(0)


# --- tenants --------------------------------------------------------------------------------
def test_unknown_tenant_slug_is_a_styled_404(
    admin_a: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(admin_a)
    for method in ("get", "post"):
        body = _styled_error(getattr(client, method)("/t/no-such-tenant/"), 404)
        assert "Not found" in body
    # A slug the URL pattern refuses is the same page.
    _styled_error(client.get("/t/Not_A_Slug!/"), 404)
    _styled_error(client.get("/t/no-such-tenant/environments/"), 404)


def test_a_stranger_tenant_looks_exactly_like_an_unknown_one(
    admin_a: User, tenant_b: Tenant, client_for: Callable[[User], Client]
) -> None:
    client = client_for(admin_a)
    stranger = _styled_error(client.get(f"/t/{tenant_b.slug}/"), 404)
    unknown = _styled_error(client.get("/t/no-such-tenant/"), 404)
    assert _main_text(stranger) == _main_text(unknown)
    assert tenant_b.name not in stranger


def test_vendor_staff_without_membership_gets_404_too(
    staff_engineer: User, tenant_a: Tenant, client_for: Callable[[User], Client]
) -> None:
    _styled_error(client_for(staff_engineer).get(f"/t/{tenant_a.slug}/"), 404)


def test_anonymous_visitors_are_sent_to_login_whatever_the_slug(
    client: Client, tenant_a: Tenant
) -> None:
    """Anonymous people learn nothing about which tenants exist: both go to the login."""
    for slug in (tenant_a.slug, "no-such-tenant"):
        response = client.get(f"/t/{slug}/")
        assert response.status_code == 302
        assert response["Location"].startswith(LOGIN)


def test_a_suspended_tenant_is_a_styled_403_for_its_members(
    operator: User, admin_a: User, tenant_a: Tenant, client_for: Callable[[User], Client]
) -> None:
    tenant_services.tenant_set_status(
        actor=operator, tenant=tenant_a, status=TenantStatus.SUSPENDED, reason="unpaid invoices"
    )
    body = _styled_error(client_for(admin_a).get(f"/t/{tenant_a.slug}/"), 403)
    assert "suspended" in body


def test_the_api_answers_json_for_an_unknown_or_foreign_tenant(
    admin_a: User, tenant_b: Tenant, client_for: Callable[[User], Client]
) -> None:
    client = client_for(admin_a)
    for slug in ("no-such-tenant", tenant_b.slug):
        response = client.get(f"/api/v1/tenants/{slug}/audit-events")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/")
        assert "json" in response["Content-Type"]


# --- accounts -------------------------------------------------------------------------------
def _password_step(client: Client, email: str, password: str = PASSWORD) -> Any:
    return client.post(LOGIN, {"email": email, "password": password})


def test_a_disabled_account_cannot_sign_in_and_sees_the_wrong_password_message(
    operator: User, member_a: User
) -> None:
    identity_services.user_disable(actor=operator, user=member_a, reason="left the company")
    disabled = _password_step(Client(), member_a.email)
    wrong = _password_step(Client(), "mia@acme.test", "not the password at all")
    assert disabled.status_code == wrong.status_code == 401
    assert SIGN_IN_ERROR in disabled.content.decode()
    assert SIGN_IN_ERROR in wrong.content.decode()
    failed = _events("login.failed")
    assert len(failed) == 2
    assert {e.outcome for e in failed} == {"failure"}


def test_disabling_an_account_ends_its_sessions_at_once(
    operator: User, admin_a: User, client_for: Callable[[User], Client]
) -> None:
    browser, phone = client_for(admin_a), client_for(admin_a)
    assert browser.get("/t/acme/").status_code == 200
    assert phone.get("/accounts/").status_code == 200

    identity_services.user_disable(actor=operator, user=admin_a, reason="account compromised")

    for client, url in ((browser, "/t/acme/"), (phone, "/accounts/")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(LOGIN)
    assert len(_events("user.disabled")) == 1


def test_a_wrong_totp_code_is_a_form_error_and_an_audit_event(admin_a: User) -> None:
    device = identity_services.mfa_device_start(user=admin_a)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=6):06d}"
    identity_services.mfa_device_confirm(user=admin_a, device=device, code=code)
    client = Client()
    assert _password_step(client, admin_a.email).status_code == 302

    # A code that is valid in no step of the accepted window, so the test cannot pass by luck.
    near = {
        f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=6, drift=d):06d}"
        for d in (-2, -1, 0, 1, 2)
    }
    wrong = next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in near)
    response = client.post(reverse("identity:login_mfa"), {"code": wrong})
    assert response.status_code == 401
    body = response.content.decode()
    assert CODE_ERROR in body
    assert 'aria-invalid="true"' in body
    [event] = _events("login.mfa_failed")
    assert event.outcome == "failure"
    assert event.actor_id in (None, admin_a.pk)
    # Still not signed in: the portal sends the person back to the login.
    assert client.get("/t/acme/")["Location"].startswith(LOGIN)


# --- tampered session cookies ---------------------------------------------------------------
TAMPERED_COOKIES = [
    "0" * 32,  # well-formed, but no such session
    "x" * 5000,  # absurdly long
    "../../etc/passwd",
    "';DROP TABLE django_session;--",
    "\u00fcmlaut-\u00df",  # non-ASCII (the test client sends latin-1 only)
]


@pytest.mark.parametrize("value", TAMPERED_COOKIES)
def test_a_tampered_session_cookie_is_anonymous_not_an_error(
    value: str, admin_a: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(admin_a)
    client.cookies[settings.SESSION_COOKIE_NAME] = value
    for url in ("/t/acme/", "/accounts/", "/staff/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(LOGIN)
    assert client.get(LOGIN).status_code == 200
    assert client.get("/api/v1/tenants/acme/audit-events").status_code == 401


def test_a_session_whose_stored_data_was_tampered_with_is_anonymous(
    admin_a: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(admin_a)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(session_key=key).update(session_data="tampered:with:this")
    response = client.get("/t/acme/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_a_stale_csrf_token_is_a_styled_403(admin_a: User) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(LOGIN, {"email": admin_a.email, "password": PASSWORD})
    body = _styled_error(response, 403)
    assert "Form expired" in body


def test_the_500_page_renders_without_the_template_machinery_failing() -> None:
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body
    assert "Traceback" not in body
