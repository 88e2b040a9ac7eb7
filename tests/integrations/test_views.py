"""Portal pages (customer admins) and staff pages (security/compliance), with the usual trio:
anonymous → login, other tenant → 404, insufficient role → 403."""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client

from apps.core.crypto import data_key_active, secret_encrypt
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.identity.models import StaffRole, UserKind
from apps.integrations.models import ApiKey, OAuthClient, WebhookEndpoint
from tests.conftest import make_user
from tests.integrations.conftest import bearer

pytestmark = pytest.mark.django_db
KEYS = "/t/acme/integrations/keys/"
TOKEN_RE = re.compile(r"cus_[0-9a-f]{12}_[A-Za-z0-9]{43}")


def _key_form(**extra):
    data = {
        "name": "Data warehouse export",
        "scopes": ["audit:read", "users:read"],
        "technical_contact_email": "dwh@acme.test",
        "contact_language": "de",
        "expires_in_days": "30",
        "allowed_cidrs": "",
        "rate_limit_per_minute": "600",
        "rate_limit_burst": "100",
    }
    data.update(extra)
    return data


@pytest.mark.parametrize(
    "path",
    [
        KEYS,
        "/t/acme/integrations/",
        "/t/acme/integrations/oauth-clients/",
        "/t/acme/integrations/webhooks/",
    ],
)
def test_pages_trio(path, client_for, outsider_b, member_a, admin_a):
    assert Client().get(path).status_code == 302
    assert client_for(outsider_b).get(path).status_code == 404
    assert client_for(member_a).get(path).status_code == 403
    assert client_for(admin_a).get(path).status_code == 200


def test_create_shows_the_key_once(client_for, admin_a, tenant_a):
    client = client_for(admin_a)
    response = client.post(KEYS + "new/", _key_form())
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    (token,) = set(TOKEN_RE.findall(response.content.decode()))
    assert bearer(token).get("/api/v1/tenants/acme/audit-events").status_code == 200
    again = client.get(KEYS).content.decode()
    assert token not in again
    assert token.split("_")[1] in again  # the prefix identifies it
    with tenant_context(tenant_a):
        key = ApiKey.objects.get()
        assert key.contact_language == "de"
        assert AuditEvent.objects.filter(action="api_key.created", actor_id=admin_a.pk).exists()


def test_htmx_create_answers_the_fragment(client_for, admin_a):
    response = client_for(admin_a).post(KEYS + "new/", _key_form(), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "<html" not in body
    assert TOKEN_RE.search(body)


def test_invalid_input_is_explained(client_for, admin_a, tenant_a):
    response = client_for(admin_a).post(KEYS + "new/", _key_form(allowed_cidrs="not-a-net"))
    assert "not-a-net is not an IP address or network" in response.content.decode()
    with tenant_context(tenant_a):
        assert not ApiKey.objects.exists()


def test_rotate_and_revoke_from_the_portal(client_for, admin_a, tenant_a):
    client = client_for(admin_a)
    old_token = TOKEN_RE.search(client.post(KEYS + "new/", _key_form()).content.decode())[0]
    with tenant_context(tenant_a):
        key = ApiKey.objects.get()
    rotated = client.post(f"{KEYS}{key.pk}/rotate/", {"overlap_hours": "1"}).content.decode()
    new_token = next(t for t in TOKEN_RE.findall(rotated) if t != old_token)
    assert bearer(old_token).get("/api/v1/me").status_code == 200
    assert bearer(new_token).get("/api/v1/me").status_code == 200
    client.post(f"{KEYS}{key.pk}/revoke/", {"reason": "done"})
    assert bearer(old_token).get("/api/v1/me").status_code == 401
    assert bearer(new_token).get("/api/v1/me").status_code == 200


def test_other_tenants_key_cannot_be_touched(client_for, admin_a, outsider_b, tenant_b):
    client_for(admin_a).post(KEYS + "new/", _key_form())
    with tenant_context(tenant_b.__class__.objects.get(slug="acme")):
        key = ApiKey.objects.get()
    response = client_for(outsider_b).post(f"/t/globex/integrations/keys/{key.pk}/revoke/", {})
    assert response.status_code == 404


def test_register_an_oauth_client(client_for, admin_a, tenant_a):
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    response = client_for(admin_a).post(
        "/t/acme/integrations/oauth-clients/new/",
        {
            "name": "ITSM",
            "scopes": ["audit:read"],
            "public_key_pem": pem,
            "jwks_url": "",
            "token_lifetime_seconds": "600",
            "technical_contact_email": "itsm@acme.test",
            "contact_language": "en",
        },
    )
    assert response.status_code == 200
    with tenant_context(tenant_a):
        client = OAuthClient.objects.get()
    assert client.client_id in response.content.decode()


def test_add_a_webhook_shows_the_secret_once(client_for, admin_a, tenant_a, local_server):
    client = client_for(admin_a)
    response = client.post(
        "/t/acme/integrations/webhooks/new/",
        {"url": f"{local_server.url}/in", "event_types": ["grant.ended"], "description": ""},
    )
    secret = re.search(r"whsec_[A-Za-z0-9]{40}", response.content.decode())[0]
    assert secret not in client.get("/t/acme/integrations/webhooks/").content.decode()
    with tenant_context(tenant_a):
        assert secret not in WebhookEndpoint.objects.get().secret


@pytest.fixture
def security_officer(db):
    return make_user(
        "sec@vendor.test",
        full_name="Sid Security",
        kind=UserKind.STAFF,
        staff_role=StaffRole.SECURITY,
    )


def test_key_status_page_is_for_security_staff_only(
    client_for, security_officer, compliance_officer, staff_engineer, admin_a, tenant_a
):
    secret_encrypt(tenant=tenant_a, plaintext="x")
    data_key = data_key_active(tenant=tenant_a)
    path = "/staff/keys/"
    assert Client().get(path).status_code == 302
    assert client_for(staff_engineer).get(path).status_code == 403
    assert client_for(admin_a).get(path).status_code == 403
    assert client_for(compliance_officer).get(path).status_code == 200
    page = client_for(security_officer).get(path)
    assert page.status_code == 200
    html = page.content.decode()
    assert "ACME Corp" in html
    assert "v1" in html
    assert "integrations.WebhookEndpoint.secret" in html
    assert data_key.wrapped_key not in html
    assert data_key.wrapped_key[:16] not in html


def test_staff_alert_and_deprecation_pages_need_oversight(
    client_for, security_officer, staff_engineer
):
    for path in ("/staff/api/alerts/", "/staff/api/deprecations/"):
        assert client_for(staff_engineer).get(path).status_code == 403
        assert client_for(security_officer).get(path).status_code == 200
