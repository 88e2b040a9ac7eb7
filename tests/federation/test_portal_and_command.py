"""Portal pages, the idp_configure command, sweepers and the mapping preview."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.core.tenancy import tenant_context
from apps.identity.federation import services
from apps.identity.federation.models import IdpCertificate, IdpConnection, MappingRule
from tests.conftest import verified_client
from tests.federation.idp import SamlTestIdp

pytestmark = pytest.mark.django_db


def test_admin_sees_federation_home_with_endpoints(saml_conn: Any, admin_a: Any) -> None:
    response = verified_client(admin_a).get("/t/acme/federation/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "ACME Entra" in body
    assert "/federation/saml/acme/acs/" in body


def test_member_and_outsider_cannot_open_it(saml_conn: Any, member_a: Any, outsider_b: Any) -> None:
    assert verified_client(member_a).get("/t/acme/federation/").status_code in (403, 404)
    assert verified_client(outsider_b).get("/t/acme/federation/").status_code == 404


def test_create_saml_connection_from_uploaded_metadata(tenant_a: Any, admin_a: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    idp = SamlTestIdp()
    response = verified_client(admin_a).post(
        "/t/acme/federation/connections/new/",
        {
            "name": "Upload",
            "kind": "saml",
            "status": "active",
            "mfa_policy": "trust_idp",
            "groups_attribute": "groups",
            "metadata_refresh_hours": 24,
            "scopes": "openid",
            "metadata_file": SimpleUploadedFile("idp.xml", idp.metadata().encode()),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_context(tenant_a):
        conn = IdpConnection.objects.get(name="Upload")
        assert conn.idp_entity_id == idp.entity_id
        assert conn.certificates.count() == 1


def test_malformed_metadata_upload_is_a_form_error_and_saves_nothing(
    tenant_a: Any, admin_a: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = verified_client(admin_a).post(
        "/t/acme/federation/connections/new/",
        {
            "name": "Bad",
            "kind": "saml",
            "status": "active",
            "mfa_policy": "trust_idp",
            "groups_attribute": "groups",
            "metadata_refresh_hours": 24,
            "scopes": "openid",
            "metadata_file": SimpleUploadedFile("idp.xml", b"<oops"),
        },
    )
    assert response.status_code == 400
    with tenant_context(tenant_a):
        assert not IdpConnection.objects.filter(name="Bad").exists()


def test_rule_preview_shows_outcome_before_saving(saml_conn: Any, admin_a: Any) -> None:
    client = verified_client(admin_a)
    response = client.post(
        f"/t/acme/federation/connections/{saml_conn.pk}/rules/",
        {
            "attribute": "groups",
            "value": "ops",
            "target_kind": "access_role",
            "target": "auditor",
            "priority": 10,
            "preview": "1",
            "assertion": json.dumps({"email": "x@acme.test", "groups": ["ops", "eng"]}),
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "auditor" in body
    assert "engineer" in body
    with tenant_context(saml_conn.tenant):
        assert not MappingRule.objects.filter(value="ops").exists()


def test_idp_configure_command_saml_file_and_mapping(
    tenant_a: Any, operator: Any, tmp_path: Any
) -> None:
    from apps.access import services as access_services

    with tenant_context(tenant_a):
        access_services.role_create(actor=operator, tenant=tenant_a, key="engineer", name="Eng")
    idp = SamlTestIdp()
    (tmp_path / "idp.xml").write_text(idp.metadata())
    (tmp_path / "rules.json").write_text(
        json.dumps(
            {
                "attribute_map": {"department": "dept"},
                "rules": [{"value": "eng", "target_kind": "access_role", "target": "engineer"}],
            }
        )
    )
    call_command(
        "idp_configure",
        "acme",
        "--saml-metadata-file",
        str(tmp_path / "idp.xml"),
        "--mapping-file",
        str(tmp_path / "rules.json"),
        "--domain",
        "acme.test",
    )
    call_command(
        "idp_configure",
        "acme",
        "--saml-metadata-file",
        str(tmp_path / "idp.xml"),
        "--mapping-file",
        str(tmp_path / "rules.json"),
    )  # idempotent
    with tenant_context(tenant_a):
        conn = IdpConnection.objects.get(name="SAML")
        assert conn.idp_entity_id == idp.entity_id
        assert MappingRule.objects.filter(connection=conn).count() == 1
        assert conn.attribute_map == {"department": "dept"}


def test_idp_configure_command_oidc_secret_file(
    tenant_a: Any, operator: Any, tmp_path: Any
) -> None:
    (tmp_path / "secret").write_text("top-secret\n")
    call_command(
        "idp_configure",
        "acme",
        "--oidc-issuer",
        "https://login.example.com",
        "--client-id",
        "abc",
        "--client-secret-file",
        str(tmp_path / "secret"),
    )
    with tenant_context(tenant_a):
        conn = IdpConnection.objects.get(name="OIDC")
        assert "top-secret" not in conn.client_secret
        from apps.core.crypto.fields import field_secret_get

        assert field_secret_get(conn, "client_secret") == "top-secret"


def test_idp_configure_command_bad_input(tenant_a: Any, operator: Any, tmp_path: Any) -> None:
    (tmp_path / "bad.xml").write_text("<nope")
    with pytest.raises(CommandError):
        call_command("idp_configure", "acme", "--saml-metadata-file", str(tmp_path / "bad.xml"))
    with pytest.raises(CommandError):
        call_command("idp_configure", "nosuch", "--saml-metadata-file", str(tmp_path / "bad.xml"))


def test_certificate_expiry_warnings_30_and_7_days(
    saml_conn: Any, admin_a: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with tenant_context(saml_conn.tenant):
        cert = IdpCertificate.objects.get(connection=saml_conn)
        IdpCertificate.objects.filter(pk=cert.pk).update(
            not_after=timezone.now() + timedelta(days=20)
        )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.certificate_warnings_send() == 1
    assert services.certificate_warnings_send() == 0  # once per threshold
    assert mail.outbox
    assert admin_a.email in mail.outbox[-1].to
    later = timezone.now() + timedelta(days=14)
    assert services.certificate_warnings_send(now=later) == 1
    response = verified_client(admin_a).get("/t/acme/federation/")
    assert "expire soon" in response.content.decode()


def test_metadata_refresh_from_url_on_schedule(saml_conn: Any, settings: Any) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = True
    settings.FEDERATION_ALLOW_HTTP = True
    rotated = SamlTestIdp()  # same entity id, a new certificate
    body = rotated.metadata().encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tenant_context(saml_conn.tenant):
            IdpConnection.objects.filter(pk=saml_conn.pk).update(
                metadata_url=f"http://127.0.0.1:{server.server_address[1]}/metadata",
                metadata_refresh_due=timezone.now() - timedelta(minutes=1),
            )
        assert services.metadata_refresh_due() == 1
    finally:
        server.shutdown()
        server.server_close()
    with tenant_context(saml_conn.tenant):
        assert IdpCertificate.objects.filter(connection=saml_conn).count() == 2
