"""OIDC login against a real (local, HTTP) OpenID provider, and the attacks on ID tokens."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from django.test import Client

from apps.access import services as access_services
from apps.access.models import Grant
from apps.core.tenancy import tenant_context
from apps.identity.federation import services
from apps.identity.federation.models import (
    ConnectionKind,
    ConnectionStatus,
    IdpConnection,
    MappingTarget,
)
from apps.identity.models import User
from tests.federation.conftest import audit_actions, verify_domain
from tests.federation.op import Key, LocalProvider

pytestmark = pytest.mark.django_db


@pytest.fixture
def op(local_network: None) -> Iterator[LocalProvider]:
    with LocalProvider() as provider:
        yield provider


@pytest.fixture
def oidc_conn(tenant_a: Any, admin_a: Any, operator: Any, op: LocalProvider) -> IdpConnection:
    verify_domain(tenant_a, admin_a, operator, "acme.test")
    conn = services.connection_save(
        actor=admin_a,
        tenant=tenant_a,
        kind=ConnectionKind.OIDC,
        name="ACME OIDC",
        status=ConnectionStatus.ACTIVE,
        issuer=op.issuer,
        client_id=op.client_id,
        client_secret=op.client_secret,
    )
    with tenant_context(tenant_a):
        access_services.role_create(actor=admin_a, tenant=tenant_a, key="engineer", name="Eng")
    services.mapping_rule_save(
        actor=admin_a,
        connection=conn,
        attribute="groups",
        value="eng",
        target_kind=MappingTarget.ACCESS_ROLE,
        target="engineer",
    )
    return conn


def _flow(
    client: Client,
    op: LocalProvider,
    *,
    email: str = "olly@acme.test",
    extra: dict[str, Any] | None = None,
    state: str | None = None,
) -> Any:
    start = client.get("/federation/oidc/acme/login/")
    assert start.status_code == 302, start.content[:300]
    code = op.authorize(auth_url=start["Location"], sub="sub-olly", email=email, extra=extra)
    from urllib.parse import parse_qs, urlsplit

    real_state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    return client.get(
        "/federation/oidc/acme/callback/", {"code": code, "state": state or real_state}
    )


def test_client_secret_is_encrypted_at_rest(oidc_conn: IdpConnection, op: LocalProvider) -> None:
    with tenant_context(oidc_conn.tenant):
        stored = IdpConnection.objects.filter(pk=oidc_conn.pk).values_list(
            "client_secret", flat=True
        )[0]
    assert op.client_secret not in stored
    assert stored


def test_oidc_login_with_pkce_nonce_provisions_and_maps(
    oidc_conn: IdpConnection, op: LocalProvider
) -> None:
    client = Client()
    response = _flow(client, op, extra={"groups": ["eng"], "amr": ["pwd", "mfa"]})
    assert response.status_code == 302, response.content[:500]
    user = User.objects.get(email="olly@acme.test")
    assert int(client.session["_auth_user_id"]) == user.pk
    with tenant_context(oidc_conn.tenant):
        assert {g.role.key for g in Grant.objects.filter(user=user, revoked_at__isnull=True)} == {
            "engineer"
        }
    me = client.get("/api/v1/me").json()
    assert me["authentication"] == {"method": "oidc", "mfa": "idp_mfa"}


def test_jwks_key_rotation_is_followed(oidc_conn: IdpConnection, op: LocalProvider) -> None:
    assert _flow(Client(), op).status_code == 302
    op.rotate()  # new kid: the cached JWKS lacks it, the backend re-fetches
    assert _flow(Client(), op).status_code == 302


def _refused(response: Any, reason_part: str) -> None:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert not response.wsgi_request.user.is_authenticated
    events = audit_actions("federation.login.refused")
    assert events
    assert reason_part in str(events[-1].personal), events[-1].personal


def test_wrong_state_is_refused(oidc_conn: IdpConnection, op: LocalProvider) -> None:
    _refused(_flow(Client(), op, state="forged"), "oidc_")


def test_alg_none_is_refused(oidc_conn: IdpConnection, op: LocalProvider) -> None:
    def none_token(claims: dict[str, Any], _op: LocalProvider) -> str:
        head = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "k1"}).encode()).rstrip(
            b"="
        )
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
        return f"{head.decode()}.{body.decode()}."

    op.token_mutator = none_token
    _refused(_flow(Client(), op), "oidc_")


def test_token_signed_by_another_key_is_refused(
    oidc_conn: IdpConnection, op: LocalProvider
) -> None:
    rogue = Key("k1")  # same kid, different key

    def rogue_token(claims: dict[str, Any], _op: LocalProvider) -> str:
        return jwt.encode(claims, rogue.private, algorithm="RS256", headers={"kid": "k1"})

    op.token_mutator = rogue_token
    _refused(_flow(Client(), op), "oidc_")


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("iss", "https://evil.example"),
        ("aud", "someone-else"),
        ("nonce", "replayed-nonce"),
        ("exp", 1_000_000),
    ],
)
def test_wrong_claims_are_refused(
    oidc_conn: IdpConnection, op: LocalProvider, claim: str, value: Any
) -> None:
    op.claims_override = {claim: value}
    _refused(_flow(Client(), op), "oidc_")
