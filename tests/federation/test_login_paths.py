"""Every sign-in path — password, SAML, OIDC, API key — honours tenant suspension, account
lockout and the MFA policy alike, and `GET /api/v1/me` says how the caller authenticated and
with which second factor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.tenancy import tenant_context
from apps.identity import lockout
from apps.identity.federation import services
from apps.identity.federation.models import ConnectionKind, ConnectionStatus, IdpConnection
from apps.identity.models import User
from apps.tenants.models import Membership, Tenant
from tests.conftest import PASSWORD
from tests.federation.conftest import acs, audience, audit_actions, post_response, saml_start
from tests.federation.idp import SamlTestIdp
from tests.federation.op import LocalProvider
from tests.identity.conftest import START, code_for, enrol

pytestmark = pytest.mark.django_db

IP = "127.0.0.1"  # the test client's address: the one lockout counts against


@pytest.fixture
def clock(time_machine: Any) -> Any:
    """Frozen time, as in tests/identity (TOTP codes are about time)."""
    time_machine.move_to(START, tick=False)
    return time_machine


def _saml(client: Client, idp: SamlTestIdp, email: str, **kw: Any) -> Any:
    rid = saml_start(client)
    xml = idp.response(
        acs=acs(),
        audience=audience(),
        name_id=email,
        in_response_to=rid,
        attributes={"email": [email]},
        **kw,
    )
    return post_response(client, xml)


@pytest.fixture
def op(local_network: None) -> Iterator[LocalProvider]:
    with LocalProvider() as provider:
        yield provider


@pytest.fixture
def oidc_conn(saml_conn: Any, admin_a: Any, op: LocalProvider) -> IdpConnection:
    return services.connection_save(
        actor=admin_a,
        tenant=saml_conn.tenant,
        kind=ConnectionKind.OIDC,
        name="ACME OIDC",
        status=ConnectionStatus.ACTIVE,
        issuer=op.issuer,
        client_id=op.client_id,
        client_secret=op.client_secret,
    )


def _oidc(client: Client, op: LocalProvider, email: str, extra: Any = None) -> Any:
    start = client.get("/federation/oidc/acme/login/")
    assert start.status_code == 302, start.content[:300]
    code = op.authorize(auth_url=start["Location"], sub="sub-" + email, email=email, extra=extra)
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    return client.get("/federation/oidc/acme/callback/", {"code": code, "state": state})


def _me(client: Client) -> Any:
    return client.get("/api/v1/me")


def _last_refusal() -> str:
    return str(audit_actions("federation.login.refused")[-1].personal)


def _suspend(tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(status="suspended")


def _lock(email: str, settings: Any) -> None:
    settings.LOCKOUT_THRESHOLD = 2
    settings.LOCKOUT_ACCOUNT_THRESHOLD = 2
    for _ in range(3):
        lockout.lockout_register_failure(email=email, ip=IP)
    assert lockout.lockout_state(email=email, ip=IP).locked


# --- Suspension ----------------------------------------------------------------------------


def test_suspended_tenant_refuses_saml_and_oidc(
    oidc_conn: Any, idp: SamlTestIdp, op: LocalProvider, tenant_a: Any
) -> None:
    _suspend(tenant_a)
    response = _saml(Client(), idp, "pat@acme.test")
    assert response.status_code == 403
    assert "tenant_suspended" in _last_refusal()
    # OIDC: a suspended tenant has no active sign-in start either.
    client = Client()
    start = client.get("/federation/oidc/acme/login/")
    response = _oidc(client, op, "olly@acme.test") if start.status_code == 302 else start
    assert response.status_code in (400, 403, 404)
    assert not User.objects.filter(email__in=["pat@acme.test", "olly@acme.test"]).exists()


def test_suspended_tenant_refuses_password_session_pages_and_api_keys(
    tenant_a: Any, member_a: Any, admin_a: Any
) -> None:
    from apps.integrations.scopes import SCOPES
    from apps.integrations.services.api_keys import api_key_create

    issued = api_key_create(
        actor=admin_a,
        tenant=tenant_a,
        name="CI",
        scopes=list(SCOPES),
        technical_contact_email="ops@acme.test",
    )
    _suspend(tenant_a)
    client = Client()
    client.post(reverse("identity:login"), {"email": member_a.email, "password": PASSWORD})
    assert client.get("/t/acme/").status_code in (403, 404)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {issued.token}").get("/api/v1/me")
    assert api.status_code == 403


def test_suspended_membership_refuses_saml(saml_conn: Any, idp: SamlTestIdp, member_a: Any) -> None:
    with tenant_context(saml_conn.tenant):
        Membership.objects.filter(user=member_a).update(is_active=False)
    response = _saml(Client(), idp, member_a.email)
    assert response.status_code == 403
    assert "membership_suspended" in _last_refusal()


# --- Lockout -------------------------------------------------------------------------------


def test_locked_account_is_refused_on_password_saml_and_oidc(
    oidc_conn: Any, idp: SamlTestIdp, op: LocalProvider, member_a: Any, settings: Any
) -> None:
    assert _saml(Client(), idp, member_a.email).status_code == 302  # linked while unlocked
    _lock(member_a.email, settings)
    password = Client().post(
        reverse("identity:login"), {"email": member_a.email, "password": PASSWORD}
    )
    assert password.status_code != 302
    saml = _saml(Client(), idp, member_a.email)
    assert saml.status_code == 403
    assert "account_locked" in _last_refusal()
    oidc = _oidc(Client(), op, member_a.email)
    assert oidc.status_code in (400, 403)


def test_a_locked_newcomer_is_refused_with_nothing_provisioned(
    saml_conn: Any, idp: SamlTestIdp, settings: Any
) -> None:
    """A refusal after the JIT step rolls the whole sign-in back: no user, no linked identity,
    no membership, no mapped grant — only the refusal is on record."""
    email = "newcomer@acme.test"
    _lock(email, settings)
    response = _saml(Client(), idp, email)
    assert response.status_code == 403
    assert "account_locked" in _last_refusal()
    assert not User.objects.filter(email=email).exists()
    assert not audit_actions("federation.user.provisioned")
    assert not audit_actions("federation.identity.linked")


# --- MFA policy and /api/v1/me -------------------------------------------------------------


def test_me_reports_password_and_totp(clock: Any, member_a: Any) -> None:
    device, _codes = enrol(member_a)
    clock.shift(60)
    client = Client()
    client.post(reverse("identity:login"), {"email": member_a.email, "password": PASSWORD})
    assert _me(client).status_code == 401  # half signed in: no principal yet
    client.post(reverse("identity:login_mfa"), {"code": code_for(device)})
    body = _me(client).json()
    assert body["authentication"] == {"method": "password", "mfa": "totp"}
    assert body["user"]["email"] == member_a.email


def test_me_is_401_when_anonymous() -> None:
    assert _me(Client()).status_code == 401


def test_admin_through_saml_without_idp_mfa_must_pass_totp(
    clock: Any, saml_conn: Any, idp: SamlTestIdp, admin_a: Any
) -> None:
    device, _codes = enrol(admin_a)
    clock.shift(60)
    client = Client()
    response = _saml(client, idp, admin_a.email)
    assert response.status_code == 302
    assert response["Location"] == reverse("identity:login_mfa")
    assert _me(client).status_code == 401
    client.post(reverse("identity:login_mfa"), {"code": code_for(device)})
    assert _me(client).json()["authentication"] == {"method": "saml", "mfa": "totp"}


def test_admin_without_a_device_is_held_at_enrolment_after_saml(
    saml_conn: Any, idp: SamlTestIdp, admin_a: Any
) -> None:
    client = Client()
    response = _saml(client, idp, admin_a.email)
    assert response["Location"] == reverse("identity:mfa_setup")
    assert _me(client).status_code == 401
    assert client.get("/t/acme/").status_code in (302, 403)


def test_require_totp_policy_asks_even_with_an_idp_mfa_claim(
    clock: Any, saml_conn: Any, idp: SamlTestIdp, member_a: Any, admin_a: Any
) -> None:
    services.connection_save(
        actor=admin_a,
        tenant=saml_conn.tenant,
        kind="saml",
        connection=saml_conn,
        mfa_policy="require_totp",
    )
    device, _codes = enrol(member_a)
    clock.shift(60)
    client = Client()
    response = _saml(client, idp, member_a.email, authn_context="https://refeds.org/profile/mfa")
    assert response["Location"] == reverse("identity:login_mfa")
    client.post(reverse("identity:login_mfa"), {"code": code_for(device)})
    assert _me(client).json()["authentication"]["mfa"] == "totp"


def test_role_based_policy_ignores_the_idp_claim_for_admins(
    saml_conn: Any, idp: SamlTestIdp, admin_a: Any
) -> None:
    services.connection_save(
        actor=admin_a,
        tenant=saml_conn.tenant,
        kind="saml",
        connection=saml_conn,
        mfa_policy="role_based",
    )
    client = Client()
    response = _saml(client, idp, admin_a.email, authn_context="https://refeds.org/profile/mfa")
    assert response["Location"] == reverse("identity:mfa_setup")
    assert _me(client).status_code == 401


def test_trusted_idp_mfa_claim_satisfies_admin_mfa_on_oidc(
    oidc_conn: Any, op: LocalProvider, admin_a: Any
) -> None:
    client = Client()
    response = _oidc(client, op, admin_a.email, extra={"amr": ["pwd", "mfa"]})
    assert response.status_code == 302, response.content[:300]
    assert _me(client).json()["authentication"] == {"method": "oidc", "mfa": "idp_mfa"}


def test_oidc_member_without_mfa_claim_reports_none(
    oidc_conn: Any, op: LocalProvider, member_a: Any
) -> None:
    client = Client()
    assert _oidc(client, op, member_a.email).status_code == 302
    assert _me(client).json()["authentication"] == {"method": "oidc", "mfa": "none"}


def test_me_for_an_api_key(tenant_a: Any, admin_a: Any) -> None:
    from apps.integrations.scopes import SCOPES
    from apps.integrations.services.api_keys import api_key_create

    issued = api_key_create(
        actor=admin_a,
        tenant=tenant_a,
        name="CI",
        scopes=list(SCOPES),
        technical_contact_email="ops@acme.test",
    )
    body = Client(HTTP_AUTHORIZATION=f"Bearer {issued.token}").get("/api/v1/me").json()
    assert body["authentication"] == {"method": "api_key", "mfa": "none"}
    assert body["user"] is None
    assert body["tenants"][0]["slug"] == "acme"
