"""The API's shape: JSON errors, /me, the OpenAPI document."""

import pytest
from django.test import Client


@pytest.mark.django_db
def test_me_requires_authentication():
    response = Client().get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.django_db
def test_me_describes_the_signed_in_principal(client_for, member_a):
    response = client_for(member_a).get("/api/v1/me")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == "mia@acme.test"
    assert body["tenants"] == [{"slug": "acme", "name": "ACME Corp", "role": "member"}]
    assert body["authentication"]["mfa"] == "totp"


@pytest.mark.django_db
def test_me_refuses_admin_session_without_second_factor(admin_a):
    client = Client()
    client.force_login(admin_a)  # password step only: MFA is required for admins
    response = client.get("/api/v1/me")
    assert response.status_code == 401


@pytest.mark.django_db
def test_unknown_version_and_endpoint_answer_json_404():
    for path in ("/api/v2/me", "/api/v1/no-such-thing", "/api/"):
        response = Client().get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_openapi_document_lists_me():
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/me" in doc["paths"]
