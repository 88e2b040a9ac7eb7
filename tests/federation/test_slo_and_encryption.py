"""SAML single logout (both directions, signed, audited) and encrypted assertions, against
the real IdP side in tests/federation/idp.py (python3-saml and xmlsec on the IdP's side)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from apps.core.tenancy import tenant_context
from apps.identity.federation import saml, services
from apps.identity.federation.models import IdpConnection
from apps.identity.models import User
from tests.federation.conftest import BASE, acs, audience, audit_actions, post_response, saml_start
from tests.federation.idp import SamlTestIdp, make_key_and_cert

pytestmark = pytest.mark.django_db

SLS = f"{BASE}/federation/saml/acme/sls/"


def _sp_cert(conn: IdpConnection) -> str:
    with tenant_context(conn.tenant):
        conn.refresh_from_db()
    return conn.sp_certificate


def _slo_kw(conn: IdpConnection) -> dict[str, Any]:
    return {"sp_entity_id": audience(), "sp_sls": SLS, "sp_cert": _sp_cert(conn)}


def _signed_in(client: Client, idp: SamlTestIdp, *, session_index: str = "_s1", **kw: Any) -> Any:
    rid = saml_start(client)
    xml = idp.response(
        acs=acs(),
        audience=audience(),
        name_id="pat@acme.test",
        in_response_to=rid,
        attributes={"email": ["pat@acme.test"], "groups": ["eng"]},
        session_index=session_index,
        **kw,
    )
    return post_response(client, xml)


def _sls_get(client: Client, url: str) -> Any:
    parts = urlsplit(url)
    assert parts.path == "/federation/saml/acme/sls/", url
    return client.get(parts.path + "?" + parts.query)


def _is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# --- SP-initiated single logout --------------------------------------------------------------


def test_sign_out_sends_a_signed_logout_request_and_the_idp_answer_completes_it(
    saml_conn: Any, idp: SamlTestIdp
) -> None:
    client = Client()
    assert _signed_in(client, idp).status_code == 302
    assert _is_signed_in(client)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    to_idp = response["Location"]
    assert to_idp.startswith(idp.slo_url + "?")
    query = parse_qs(urlsplit(to_idp).query)
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert "Signature" in query
    # The local session ended at once, before the IdP answered.
    assert not _is_signed_in(client)
    # The IdP verifies our signature with the certificate from our metadata, then answers.
    back, name_id = idp.answer_logout_request(to_idp, **_slo_kw(saml_conn))
    assert name_id == "pat@acme.test"
    done = _sls_get(client, back)
    assert done.status_code == 302
    assert done["Location"] == "/accounts/login/"
    assert "federation_saml_logout" not in client.session
    assert audit_actions("federation.logout.requested")
    assert audit_actions("federation.logout.completed")


def test_logout_response_replayed_or_unsolicited_is_refused(
    saml_conn: Any, idp: SamlTestIdp
) -> None:
    client = Client()
    _signed_in(client, idp)
    to_idp = client.post("/accounts/logout/")["Location"]
    back, _name = idp.answer_logout_request(to_idp, **_slo_kw(saml_conn))
    assert _sls_get(client, back).status_code == 302
    # Once answered, the same LogoutResponse is unsolicited.
    again = _sls_get(client, back)
    assert again.status_code == 400
    assert audit_actions("federation.logout.refused")[-1].outcome == "failure"
    # And in a browser that never asked for a logout.
    assert _sls_get(Client(), back).status_code == 400


def test_logout_response_signed_by_another_key_is_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    client = Client()
    _signed_in(client, idp)
    to_idp = client.post("/accounts/logout/")["Location"]
    evil = SamlTestIdp()
    evil.key, evil.cert = make_key_and_cert("evil")
    back, _name = evil.answer_logout_request(to_idp, **_slo_kw(saml_conn))
    response = _sls_get(client, back)
    assert response.status_code == 400
    event = audit_actions("federation.logout.refused")[-1]
    assert "invalid_logout" in str(event.personal)


def test_sign_out_without_an_idp_logout_endpoint_is_local_only(
    saml_conn: Any, idp: SamlTestIdp
) -> None:
    with tenant_context(saml_conn.tenant):
        IdpConnection.objects.filter(pk=saml_conn.pk).update(slo_url="")
    client = Client()
    _signed_in(client, idp)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert not response["Location"].startswith(idp.slo_url)
    assert not _is_signed_in(client)


# --- IdP-initiated single logout -----------------------------------------------------------


def test_idp_initiated_logout_request_ends_the_local_session(
    saml_conn: Any, idp: SamlTestIdp
) -> None:
    client = Client()
    _signed_in(client, idp, session_index="_s42")
    assert _is_signed_in(client)
    url, request_id = idp.logout_request(
        name_id="pat@acme.test", session_index="_s42", **_slo_kw(saml_conn)
    )
    response = _sls_get(client, url)
    assert response.status_code == 302
    assert not _is_signed_in(client)
    # Our answer is a signed LogoutResponse the IdP accepts.
    assert response["Location"].startswith(idp.slo_url + "?")
    idp.check_logout_response(response["Location"], request_id, **_slo_kw(saml_conn))
    event = audit_actions("federation.logout.idp_initiated")[-1]
    assert event.personal["details"]["session_ended"] is True


def test_idp_logout_request_for_someone_else_leaves_the_session(
    saml_conn: Any, idp: SamlTestIdp
) -> None:
    client = Client()
    _signed_in(client, idp)
    url, _rid = idp.logout_request(name_id="other@acme.test", **_slo_kw(saml_conn))
    assert _sls_get(client, url).status_code == 302
    assert _is_signed_in(client)
    assert (
        audit_actions("federation.logout.idp_initiated")[-1].personal["details"]["session_ended"]
        is False
    )


def test_unsigned_forged_or_replayed_logout_requests_are_refused(
    saml_conn: Any, idp: SamlTestIdp
) -> None:
    client = Client()
    _signed_in(client, idp)
    url, _rid = idp.logout_request(name_id="pat@acme.test", **_slo_kw(saml_conn))
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    from urllib.parse import quote

    unsigned = f"{parts.path}?SAMLRequest={quote(query['SAMLRequest'][0], safe='')}"
    assert client.get(unsigned).status_code == 400
    assert _is_signed_in(client)
    evil = SamlTestIdp()
    evil.key, evil.cert = make_key_and_cert("evil")
    forged, _rid = evil.logout_request(name_id="pat@acme.test", **_slo_kw(saml_conn))
    assert _sls_get(client, forged).status_code == 400
    assert _is_signed_in(client)
    # The genuine one works once; the same message again is a replay.
    assert _sls_get(client, url).status_code == 302
    assert not _is_signed_in(client)
    assert _sls_get(Client(), url).status_code == 400
    reasons = [str(e.personal) for e in audit_actions("federation.logout.refused")]
    assert any("invalid_logout" in r for r in reasons)
    assert any("replayed_assertion" in r for r in reasons)


def test_sha1_signed_logout_request_is_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    from onelogin.saml2.auth import OneLogin_Saml2_Auth
    from onelogin.saml2.constants import OneLogin_Saml2_Constants as C

    client = Client()
    _signed_in(client, idp)
    settings_obj = idp.slo_settings(**_slo_kw(saml_conn))
    settings_obj.get_security_data()["signatureAlgorithm"] = C.RSA_SHA1
    settings_obj.get_security_data()["rejectDeprecatedAlgorithm"] = False
    auth = OneLogin_Saml2_Auth(idp._request_data(idp.slo_url), settings_obj)
    url = auth.logout(name_id="pat@acme.test")
    assert "rsa-sha1" in url
    assert _sls_get(client, url).status_code == 400
    assert _is_signed_in(client)
    assert "Deprecated" in str(audit_actions("federation.logout.refused")[-1].personal)


# --- Encrypted assertions ------------------------------------------------------------------


def test_sp_metadata_publishes_the_connection_encryption_certificate(saml_conn: Any) -> None:
    body = Client().get("/federation/saml/acme/metadata/").content.decode()
    cert = _sp_cert(saml_conn)
    b64 = "".join(line for line in cert.strip().splitlines() if "CERTIFICATE" not in line)
    assert 'use="encryption"' in body
    assert 'use="signing"' in body
    assert b64 in body.replace("\n", "")


def test_private_key_is_encrypted_at_rest_and_differs_per_connection(
    saml_conn: Any, tenant_a: Any, admin_a: Any
) -> None:
    with tenant_context(tenant_a):
        raw = IdpConnection.objects.values_list("sp_private_key", flat=True).get(pk=saml_conn.pk)
    assert raw.startswith("enc:v1:")
    assert "PRIVATE KEY" not in raw
    other = services.connection_save(actor=admin_a, tenant=tenant_a, kind="saml", name="Second")
    assert other.sp_certificate
    assert other.sp_certificate != _sp_cert(saml_conn)


def test_encrypted_assertion_from_the_idp_signs_in(saml_conn: Any, idp: SamlTestIdp) -> None:
    client = Client()
    response = _signed_in(client, idp, encrypt_for=_sp_cert(saml_conn))
    assert response.status_code == 302, response.content[:400]
    assert User.objects.filter(email="pat@acme.test").exists()
    assert _is_signed_in(client)


def test_encrypted_assertion_without_response_issuer_finds_the_only_connection(
    saml_conn: Any, idp: SamlTestIdp
) -> None:
    client = Client()
    response = _signed_in(client, idp, encrypt_for=_sp_cert(saml_conn), response_issuer=False)
    assert response.status_code == 302, response.content[:400]


def test_encrypted_assertion_for_another_key_is_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    _other_key, other_cert = make_key_and_cert("someone-else")
    response = _signed_in(Client(), idp, encrypt_for=other_cert)
    assert response.status_code == 400
    assert "malformed_response" in str(audit_actions("federation.login.refused")[-1].personal)


def test_rsa_v1_5_key_transport_is_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    response = _signed_in(Client(), idp, encrypt_for=_sp_cert(saml_conn), key_transport="rsa-1_5")
    assert response.status_code == 400
    assert "deprecated_encryption" in str(audit_actions("federation.login.refused")[-1].personal)


def test_encrypted_but_unsigned_assertion_is_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    response = _signed_in(Client(), idp, encrypt_for=_sp_cert(saml_conn), sign=False)
    assert response.status_code == 400


def test_encrypted_assertions_can_be_turned_off(
    saml_conn: Any, idp: SamlTestIdp, admin_a: Any
) -> None:
    services.connection_save(
        actor=admin_a,
        tenant=saml_conn.tenant,
        kind="saml",
        connection=saml_conn,
        accept_encrypted=False,
    )
    response = _signed_in(Client(), idp, encrypt_for=_sp_cert(saml_conn))
    assert response.status_code == 400
    assert "encrypted_not_accepted" in str(audit_actions("federation.login.refused")[-1].personal)


def test_sp_key_rotation_is_audited_and_old_key_stops_decrypting(
    saml_conn: Any, idp: SamlTestIdp, admin_a: Any
) -> None:
    old_cert = _sp_cert(saml_conn)
    services.connection_sp_key_rotate(actor=admin_a, connection=saml_conn)
    assert _sp_cert(saml_conn) != old_cert
    assert audit_actions("federation.sp_key.rotated")
    assert _signed_in(Client(), idp, encrypt_for=old_cert).status_code == 400
    assert _signed_in(Client(), idp, encrypt_for=_sp_cert(saml_conn)).status_code == 302


def test_connection_without_key_gets_one_on_first_use(saml_conn: Any) -> None:
    with tenant_context(saml_conn.tenant):
        IdpConnection.objects.filter(pk=saml_conn.pk).update(sp_private_key="", sp_certificate="")
        conn = IdpConnection.objects.get(pk=saml_conn.pk)
    key, cert = saml.sp_key_pair(conn)
    assert "PRIVATE KEY" in key
    assert "CERTIFICATE" in cert
    assert audit_actions("federation.sp_key.created")
