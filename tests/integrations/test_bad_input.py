"""Issue 8's bad-input list, end to end through the API: expired, revoked or wrong-tenant keys
and tokens, a JWT with a wrong audience, `alg: none`, a replayed `jti`, an oversized or
malformed body, an unknown API version. Each gets the right 4xx and a machine-readable body
(the API's `{"error": {"code", "message"}}`, or RFC 6749's `{"error", "error_description"}` at
the token endpoint), never a 500 or an HTML page."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client
from django.utils import timezone

from apps.integrations.services.api_keys import api_key_revoke
from apps.integrations.services.oauth import oauth_client_revoke
from tests.integrations.conftest import bearer
from tests.integrations.test_oauth import (
    AUD,
    assertion,
    pem_public,
    register,
    token_request,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def rsa_client(admin_a: Any, tenant_a: Any, rsa_key: rsa.RSAPrivateKey) -> Any:
    return register(admin_a, tenant_a, public_key_pem=pem_public(rsa_key))


def _api_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body


def _oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == error, body
    assert body["error_description"]
    assert response["Cache-Control"] == "no-store"
    return body


def _access_token(rsa_client: Any, rsa_key: Any) -> str:
    response = token_request(assertion(rsa_key, rsa_client.client_id), scope="audit:read")
    assert response.status_code == 200, response.content
    return str(response.json()["access_token"])


# --- API keys --------------------------------------------------------------------------------
def test_expired_key(issue_key: Any) -> None:
    issued = issue_key(expires_at=timezone.now() + timedelta(hours=1))
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        response = bearer(issued.token).get("/api/v1/tenants/acme/audit-events")
    _api_error(response, 401, "credential_expired")
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_revoked_key(issue_key: Any, admin_a: Any) -> None:
    issued = issue_key()
    api_key_revoke(actor=admin_a, key=issued.key, reason="test")
    _api_error(bearer(issued.token).get("/api/v1/me"), 401, "credential_revoked")


def test_wrong_tenant_key_cannot_tell_foreign_from_missing(issue_key: Any, tenant_b: Any) -> None:
    issued = issue_key()
    foreign = bearer(issued.token).get("/api/v1/tenants/globex/audit-events")
    missing = bearer(issued.token).get("/api/v1/tenants/no-such-tenant/audit-events")
    assert _api_error(foreign, 404, "not_found") == _api_error(missing, 404, "not_found")


def test_wrong_tenant_key_on_a_write(issue_key: Any, tenant_b: Any) -> None:
    issued = issue_key()
    response = bearer(issued.token).post(
        "/api/v1/tenants/globex/access-requests",
        {"entitlement_id": 1, "justification": "x"},
        content_type="application/json",
    )
    assert response.status_code in (404, 422)
    assert response.json()["error"]["code"] in ("not_found", "validation_error")


def test_tampered_key_secret(issue_key: Any) -> None:
    token = issue_key().token
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    _api_error(bearer(tampered).get("/api/v1/me"), 401, "invalid_token")


def test_key_without_the_scope(issue_key: Any) -> None:
    issued = issue_key(scopes=["users:read"])
    body = _api_error(
        bearer(issued.token).get("/api/v1/tenants/acme/audit-events"), 403, "insufficient_scope"
    )
    assert body["error"]["details"] == {"required_scope": "audit:read"}


def test_jwt_sent_as_bearer_is_not_a_credential(rsa_client: Any, rsa_key: Any) -> None:
    """A client assertion is for the token endpoint only; as an API bearer it proves nothing."""
    raw = assertion(rsa_key, rsa_client.client_id)
    _api_error(bearer(raw).get("/api/v1/me"), 401, "unauthenticated")


# --- OAuth2 private_key_jwt ------------------------------------------------------------------
def test_jwt_with_wrong_audience(rsa_client: Any, rsa_key: Any) -> None:
    signed = assertion(rsa_key, rsa_client.client_id, aud="https://evil.example/token")
    body = _oauth_error(token_request(signed), 401, "invalid_client")
    assert "aud" in body["error_description"]


def test_jwt_with_alg_none(rsa_client: Any) -> None:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": rsa_client.client_id, "sub": rsa_client.client_id, "aud": AUD}
    claims |= {"exp": now + 60, "jti": "alg-none"}
    for alg in ("none", "None", "NONE"):
        unsigned = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."
        _oauth_error(token_request(unsigned), 401, "invalid_client")


def test_replayed_jti(rsa_client: Any, rsa_key: Any) -> None:
    signed = assertion(rsa_key, rsa_client.client_id, jti="only-once")
    assert token_request(signed).status_code == 200
    body = _oauth_error(token_request(signed), 401, "invalid_client")
    assert "jti" in body["error_description"]


def test_malformed_assertion(rsa_client: Any) -> None:
    for garbage in ("", "not-a-jwt", "a.b.c", "e30.e30.", "x" * 10_000):
        response = token_request(garbage)
        assert response.status_code in (400, 401), garbage
        assert response.json()["error"] in ("invalid_request", "invalid_client")


def test_expired_access_token(rsa_client: Any, rsa_key: Any) -> None:
    token = _access_token(rsa_client, rsa_key)
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        response = bearer(token).get("/api/v1/tenants/acme/audit-events")
    _api_error(response, 401, "credential_expired")


def test_access_token_of_a_revoked_client(rsa_client: Any, rsa_key: Any, admin_a: Any) -> None:
    token = _access_token(rsa_client, rsa_key)
    oauth_client_revoke(actor=admin_a, client=rsa_client, reason="test")
    _api_error(bearer(token).get("/api/v1/me"), 401, "credential_revoked")


def test_access_token_in_another_tenant(rsa_client: Any, rsa_key: Any, tenant_b: Any) -> None:
    token = _access_token(rsa_client, rsa_key)
    _api_error(bearer(token).get("/api/v1/tenants/globex/audit-events"), 404, "not_found")


# --- bodies and versions ---------------------------------------------------------------------
def test_oversized_json_body(issue_key: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    issued = issue_key()
    payload = json.dumps({"justification": "x" * 10_000, "entitlement_id": 1})
    response = bearer(issued.token).post(
        "/api/v1/tenants/acme/access-requests", payload, content_type="application/json"
    )
    _api_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    "body",
    [b"{", b"\xff\xfe{{{", b"[1, 2", b'{"subject": ', b"null", b"[]", b'"text"'],
)
def test_malformed_json_body(issue_key: Any, body: bytes) -> None:
    issued = issue_key()
    response = bearer(issued.token).post("/api/v1/decisions", body, content_type="application/json")
    assert response.status_code in (400, 422), response.content
    assert response.json()["error"]["code"] in ("bad_request", "validation_error")


def test_wrong_body_media_type(issue_key: Any) -> None:
    issued = issue_key()
    response = bearer(issued.token).post(
        "/api/v1/decisions", b"<xml/>", content_type="application/xml"
    )
    assert response.status_code in (400, 415, 422), response.content
    assert "code" in response.json()["error"]


def test_huge_integer_in_a_path_or_body(issue_key: Any) -> None:
    issued = issue_key()
    response = bearer(issued.token).get(f"/api/v1/tenants/acme/onboarding-jobs/{10**30}")
    assert response.status_code in (404, 422), response.content
    assert response.json()["error"]["code"] in ("not_found", "validation_error")


@pytest.mark.parametrize(
    "path", ["/api/v2/me", "/api/v0/me", "/api/v1.1/me", "/api/latest/me", "/api/me"]
)
def test_unknown_api_version(issue_key: Any, path: str) -> None:
    issued = issue_key()
    for client in (Client(), bearer(issued.token)):
        _api_error(client.get(path), 404, "not_found")
