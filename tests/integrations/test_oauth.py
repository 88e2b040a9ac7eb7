"""OAuth2 client credentials with private_key_jwt, with real key pairs (RSA, EC, Ed25519) and
PyJWT-signed assertions, a real local JWKS server, and the classic attacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta
from typing import Any

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.test import Client
from django.utils import timezone

from apps.core.exceptions import DomainError
from apps.integrations.services.oauth import ClientSpec, oauth_client_create, oauth_client_revoke
from tests.integrations.conftest import bearer

pytestmark = pytest.mark.django_db
TOKEN_URL = "/api/v1/oauth/token"
AUD = "http://testserver/api/v1/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def pem_public(private: Any) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def jwk_public(private: Any, kid: str) -> dict[str, Any]:
    algorithm = {
        rsa.RSAPrivateKey: jwt.algorithms.RSAAlgorithm,
        ec.EllipticCurvePrivateKey: jwt.algorithms.ECAlgorithm,
        ed25519.Ed25519PrivateKey: jwt.algorithms.OKPAlgorithm,
    }
    for cls, alg in algorithm.items():
        if isinstance(private, cls):
            data = json.loads(alg.to_jwk(private.public_key()))
            data["kid"] = kid
            return data
    raise AssertionError("unknown key type")


def assertion(
    private: Any,
    client_id: str,
    *,
    alg: str = "RS256",
    aud: str = AUD,
    lifetime: int = 120,
    jti: str | None = None,
    kid: str | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti or uuid.uuid4().hex,
        **claims,
    }
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, private, algorithm=alg, headers=headers)


def token_request(client_assertion: str, **extra: str) -> Any:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
        **extra,
    }
    return Client().post(TOKEN_URL, data)


def register(admin: Any, tenant: Any, **spec: Any) -> Any:
    values: dict[str, Any] = {
        "name": "Ticketing sync",
        "allowed_scopes": ["audit:read", "users:read"],
        "technical_contact_email": "dev@acme.test",
    }
    values.update(spec)
    return oauth_client_create(actor=admin, tenant=tenant, spec=ClientSpec(**values))


@pytest.fixture
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def rsa_client(admin_a, tenant_a, rsa_key):
    return register(admin_a, tenant_a, public_key_pem=pem_public(rsa_key))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_rsa_client_gets_a_short_lived_scoped_token(rsa_client, rsa_key):
    response = token_request(assertion(rsa_key, rsa_client.client_id), scope="audit:read")
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "audit:read"
    assert body["access_token"].startswith("cat_")
    api = bearer(body["access_token"])
    me = api.get("/api/v1/me").json()
    assert me["credential"]["kind"] == "oauth_client"
    assert me["credential"]["credential"] == rsa_client.client_id
    assert api.get("/api/v1/tenants/acme/audit-events").status_code == 200
    # Only the scope asked for: users:read was allowed for the client but not requested.
    assert me["credential"]["scopes"] == ["audit:read"]
    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        expired = api.get("/api/v1/me")
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "credential_expired"


def test_ec_p256_client(admin_a, tenant_a):
    key = ec.generate_private_key(ec.SECP256R1())
    client = register(admin_a, tenant_a, public_key_pem=pem_public(key))
    response = token_request(assertion(key, client.client_id, alg="ES256"))
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "users:read audit:read"  # all allowed, none asked


def test_jwks_url_with_key_rotation_by_kid(admin_a, tenant_a, local_server, settings):
    settings.OAUTH_JWKS_REFRESH_MIN_SECONDS = 0
    first = ed25519.Ed25519PrivateKey.generate()
    second = ec.generate_private_key(ec.SECP256R1())
    local_server.routes["/jwks.json"] = {"keys": [jwk_public(first, "k1")]}
    client = register(admin_a, tenant_a, jwks_url=f"{local_server.url}/jwks.json")
    ok = token_request(assertion(first, client.client_id, alg="EdDSA", kid="k1"))
    assert ok.status_code == 200, ok.content
    # The client rotates: publishes k2 and signs with it; we fetch the JWKS again.
    local_server.routes["/jwks.json"] = {
        "keys": [jwk_public(first, "k1"), jwk_public(second, "k2")]
    }
    rotated = token_request(assertion(second, client.client_id, alg="ES256", kid="k2"))
    assert rotated.status_code == 200, rotated.content
    fetches = [r for r in local_server.received if r.path == "/jwks.json"]
    assert len(fetches) == 3  # registration, first token, the unknown kid


def test_unknown_kid_refetch_is_rate_limited(admin_a, tenant_a, local_server):
    key = ed25519.Ed25519PrivateKey.generate()
    local_server.routes["/jwks.json"] = {"keys": [jwk_public(key, "k1")]}
    client = register(admin_a, tenant_a, jwks_url=f"{local_server.url}/jwks.json")
    assert token_request(assertion(key, client.client_id, alg="EdDSA", kid="k1")).status_code == 200
    for _ in range(3):
        refused = token_request(assertion(key, client.client_id, alg="EdDSA", kid="nope"))
        assert refused.status_code == 401
    assert len([r for r in local_server.received if r.path == "/jwks.json"]) == 2


def test_jwks_url_on_a_private_address_is_refused_by_default(admin_a, tenant_a):
    with pytest.raises(DomainError, match="not public"):
        register(admin_a, tenant_a, jwks_url="https://127.0.0.1:9/jwks.json")


def test_weak_or_wrong_keys_are_refused_at_registration(admin_a, tenant_a):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    with pytest.raises(DomainError):
        register(admin_a, tenant_a, public_key_pem=pem_public(weak))
    with pytest.raises(DomainError):
        register(admin_a, tenant_a, public_key_pem="-----BEGIN PUBLIC KEY-----\nnope\n")


def _refused(response: Any, error: str = "invalid_client", status: int = 401) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    return body


def test_alg_none_is_refused(rsa_client):
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    now = int(time.time())
    claims = {
        "iss": rsa_client.client_id,
        "sub": rsa_client.client_id,
        "aud": AUD,
        "exp": now + 60,
        "jti": "x1",
    }
    token = f"{header}.{_b64(json.dumps(claims).encode())}."
    _refused(token_request(token))


def test_hs256_signed_with_the_public_key_is_refused(rsa_client, rsa_key):
    """The classic key-confusion attack: HMAC keyed with the (public) PEM."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    claims = {
        "iss": rsa_client.client_id,
        "sub": rsa_client.client_id,
        "aud": AUD,
        "exp": now + 60,
        "jti": "x2",
    }
    body = _b64(json.dumps(claims).encode())
    signing_input = f"{header}.{body}".encode()
    secret = pem_public(rsa_key).encode()
    signature = _b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
    _refused(token_request(f"{header}.{body}.{signature}"))


def test_wrong_audience_is_refused(rsa_client, rsa_key):
    body = _refused(token_request(assertion(rsa_key, rsa_client.client_id, aud="https://other/")))
    assert "aud" in body["error_description"]


def test_expired_assertion_is_refused(rsa_client, rsa_key):
    old = assertion(rsa_key, rsa_client.client_id, lifetime=60)
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        _refused(token_request(old))


def test_assertion_valid_too_long_is_refused(rsa_client, rsa_key):
    _refused(token_request(assertion(rsa_key, rsa_client.client_id, lifetime=3600)))


def test_replayed_jti_is_refused(rsa_client, rsa_key):
    signed = assertion(rsa_key, rsa_client.client_id, jti="once-only")
    assert token_request(signed).status_code == 200
    body = _refused(token_request(signed))
    assert "jti" in body["error_description"]


def test_unknown_client_is_refused(rsa_key):
    _refused(token_request(assertion(rsa_key, "cuc_doesnotexist")))


def test_assertion_signed_by_another_key_is_refused(rsa_client):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _refused(token_request(assertion(stranger, rsa_client.client_id)))


def test_iss_and_sub_must_both_be_the_client(rsa_client, rsa_key):
    _refused(token_request(assertion(rsa_key, rsa_client.client_id, sub="someone-else")))


def test_grant_type_and_scope_errors(rsa_client, rsa_key):
    _refused(
        token_request(assertion(rsa_key, rsa_client.client_id), grant_type="password"),
        "unsupported_grant_type",
        400,
    )
    _refused(
        token_request(assertion(rsa_key, rsa_client.client_id), scope="grants:write"),
        "invalid_scope",
        400,
    )
    _refused(Client().post(TOKEN_URL, {}), "invalid_request", 400)
    _refused(
        Client().post(
            TOKEN_URL,
            {
                "grant_type": "client_credentials",
                "client_id": rsa_client.client_id,
                "client_secret": "guess",
            },
        )
    )


def test_revoked_client_loses_its_tokens_at_once(rsa_client, rsa_key, admin_a):
    token = token_request(assertion(rsa_key, rsa_client.client_id)).json()["access_token"]
    assert bearer(token).get("/api/v1/me").status_code == 200
    oauth_client_revoke(actor=admin_a, client=rsa_client, reason="key compromised")
    assert bearer(token).get("/api/v1/me").status_code == 401
    _refused(token_request(assertion(rsa_key, rsa_client.client_id)))


def test_token_of_one_tenant_cannot_reach_another(rsa_client, rsa_key, tenant_b):
    token = token_request(assertion(rsa_key, rsa_client.client_id)).json()["access_token"]
    assert bearer(token).get("/api/v1/tenants/globex/audit-events").status_code == 404


def test_openapi_documents_both_schemes():
    doc = Client().get("/api/v1/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"]["scheme"] == "bearer"
    flows = schemes["OAuthBearerAuth"]["flows"]["clientCredentials"]
    assert flows["tokenUrl"] == "/api/v1/oauth/token"
    assert "audit:read" in flows["scopes"]
    assert "/api/v1/oauth/token" in doc["paths"]
