"""SAML 2.0 SP against a real signing IdP: the happy path, JIT and mapping, and attacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C

from apps.access.models import Grant
from apps.core.tenancy import tenant_context
from apps.identity.federation import services
from apps.identity.federation.models import (
    ConflictStatus,
    ConnectionKind,
    ConnectionStatus,
    ExternalIdentity,
    IdentityConflict,
)
from apps.identity.models import User
from apps.tenants.models import Membership
from tests.federation.conftest import (
    acs,
    audience,
    audit_actions,
    post_response,
    saml_start,
    verify_domain,
)
from tests.federation.idp import SamlTestIdp, make_key_and_cert

pytestmark = pytest.mark.django_db


def _login(
    client: Client,
    idp: SamlTestIdp,
    *,
    name_id: str = "pat@acme.test",
    groups: tuple[str, ...] = ("eng",),
    **kw: Any,
) -> Any:
    rid = saml_start(client)
    args: dict[str, Any] = {
        "acs": acs(),
        "audience": audience(),
        "name_id": name_id,
        "in_response_to": rid,
        "attributes": {
            "email": [name_id],
            "name": ["Pat Doe"],
            "groups": list(groups),
            "department": ["R&amp;D"],
        },
    }
    xml = idp.response(**{**args, **kw})
    return post_response(client, xml)


def test_metadata_is_served_at_a_stable_url(tenant_a: Any) -> None:
    response = Client().get("/federation/saml/acme/metadata/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'entityID="https://custos.example.com/federation/saml/acme/metadata/"' in body
    assert "https://custos.example.com/federation/saml/acme/acs/" in body
    assert 'WantAssertionsSigned="true"' in body


def test_sp_initiated_login_provisions_maps_and_signs_in(saml_conn: Any, idp: SamlTestIdp) -> None:
    client = Client()
    response = _login(client, idp, groups=("eng", "approvers"))
    assert response.status_code == 302, response.content[:500]
    user = User.objects.get(email="pat@acme.test")
    assert user.full_name == "Pat Doe"
    assert int(client.session["_auth_user_id"]) == user.pk
    assert client.session["auth_method"] == "saml"
    with tenant_context(saml_conn.tenant):
        membership = Membership.objects.get(user=user)
        assert membership.role == "approver"
        assert membership.department == "R&D"
        grants = Grant.objects.filter(user=user, revoked_at__isnull=True)
        assert {g.role.key for g in grants} == {"engineer"}
        assert ExternalIdentity.objects.filter(user=user).count() == 1
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["authentication"]["method"] == "saml"
    assert audit_actions("federation.login.succeeded")


def test_group_removed_at_idp_removes_mapped_grant_only(saml_conn: Any, idp: SamlTestIdp) -> None:
    assert _login(Client(), idp, groups=("eng", "audit")).status_code == 302
    user = User.objects.get(email="pat@acme.test")
    assert _login(Client(), idp, groups=("audit",)).status_code == 302
    with tenant_context(saml_conn.tenant):
        active = {g.role.key for g in Grant.objects.filter(user=user, revoked_at__isnull=True)}
    assert active == {"auditor"}
    # Same person again: one user, one external identity, never duplicated.
    assert User.objects.filter(email="pat@acme.test").count() == 1


def test_idp_mfa_claim_is_trusted_by_policy(saml_conn: Any, idp: SamlTestIdp) -> None:
    client = Client()
    response = _login(client, idp, authn_context="https://refeds.org/profile/mfa")
    assert response.status_code == 302
    assert client.session["federation_mfa"] == "idp"
    assert client.get("/api/v1/me").json()["authentication"]["mfa"] == "idp_mfa"


def test_certificate_rotation_both_verify_during_overlap(
    saml_conn: Any, idp: SamlTestIdp, admin_a: Any
) -> None:
    new_key, new_cert = make_key_and_cert("idp-next")
    services.certificate_add(actor=admin_a, connection=saml_conn, pem=new_cert)
    assert _login(Client(), idp).status_code == 302
    assert _login(Client(), idp, key=new_key, cert=new_cert).status_code == 302


def _refused(response: Any, reason: str) -> None:
    assert response.status_code in (400, 403), response.status_code
    assert not response.wsgi_request.user.is_authenticated
    events = audit_actions("federation.login.refused")
    assert events, "no audit event"
    assert events[-1].outcome == "failure"
    assert reason in str(events[-1].personal), (reason, events[-1].personal)


def test_unsigned_assertion_is_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    _refused(_login(Client(), idp, sign=False), "invalid_response")


def test_sha1_signature_is_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    response = _login(Client(), idp, sign_algorithm=C.RSA_SHA1, digest_algorithm=C.SHA1)
    _refused(response, "invalid_response")


def test_assertion_signed_by_another_key_is_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    key, cert = make_key_and_cert("evil")
    _refused(_login(Client(), idp, key=key, cert=cert), "invalid_response")


def test_wrong_audience_recipient_destination_are_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    other = "https://custos.example.com/federation/saml/globex/"
    _refused(_login(Client(), idp, audience=other + "metadata/"), "invalid_response")
    _refused(_login(Client(), idp, recipient=other + "acs/"), "invalid_response")
    _refused(_login(Client(), idp, destination=other + "acs/"), "invalid_response")


def test_wrong_issuer_is_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    _refused(_login(Client(), idp, issuer="https://evil.example/saml"), "unknown_issuer")


def test_expired_assertion_is_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    past = datetime.now(UTC) - timedelta(minutes=20)
    _refused(_login(Client(), idp, not_on_or_after=past), "invalid_response")


def test_replayed_assertion_is_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    client = Client()
    rid = saml_start(client)
    xml = idp.response(
        acs=acs(),
        audience=audience(),
        name_id="pat@acme.test",
        in_response_to=rid,
        attributes={"email": ["pat@acme.test"]},
    )
    assert post_response(client, xml).status_code == 302
    thief = Client()
    thief_session = thief.session
    thief_session["federation_saml_requests"] = [rid]
    thief_session.save()
    _refused(post_response(thief, xml), "replayed_assertion")


def test_unsolicited_response_refused_unless_opted_in(
    saml_conn: Any, idp: SamlTestIdp, admin_a: Any
) -> None:
    xml = idp.response(
        acs=acs(),
        audience=audience(),
        name_id="pat@acme.test",
        attributes={"email": ["pat@acme.test"]},
    )
    _refused(post_response(Client(), xml), "idp_initiated_not_allowed")
    services.connection_save(
        actor=admin_a,
        tenant=saml_conn.tenant,
        kind=ConnectionKind.SAML,
        connection=saml_conn,
        allow_idp_initiated=True,
    )
    xml = idp.response(
        acs=acs(),
        audience=audience(),
        name_id="pat@acme.test",
        attributes={"email": ["pat@acme.test"]},
    )
    assert post_response(Client(), xml).status_code == 302


def test_in_response_to_unknown_request_is_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    client = Client()
    saml_start(client)
    xml = idp.response(
        acs=acs(),
        audience=audience(),
        name_id="pat@acme.test",
        in_response_to="_forged",
        attributes={"email": ["pat@acme.test"]},
    )
    _refused(post_response(client, xml), "unknown_in_response_to")


def test_signature_wrapping_is_refused(saml_conn: Any, idp: SamlTestIdp) -> None:
    """XSW: a signed assertion for a harmless user, plus an unsigned evil assertion."""
    client = Client()
    rid = saml_start(client)
    good = idp.response(
        acs=acs(),
        audience=audience(),
        name_id="pat@acme.test",
        in_response_to=rid,
        attributes={"email": ["pat@acme.test"]},
    )
    evil = idp.response(
        acs=acs(),
        audience=audience(),
        name_id="alice@acme.test",
        in_response_to=rid,
        attributes={"email": ["alice@acme.test"]},
        sign=False,
    )
    evil_assertion = evil[evil.index("<saml:Assertion") : evil.index("</saml:Assertion>") + 17]
    wrapped = good.replace("<saml:Assertion", evil_assertion + "<saml:Assertion", 1)
    _refused(post_response(client, wrapped), "invalid_response")
    assert not User.objects.filter(
        email="alice@acme.test", external_identities__isnull=False
    ).exists()


def test_comment_injected_name_id_does_not_truncate(saml_conn: Any, idp: SamlTestIdp) -> None:
    """`alice@acme.test<!---->.evil.test`: the signed value is the full text; we must not
    read just the part before the comment."""
    client = Client()
    rid = saml_start(client)
    xml = idp.response(
        acs=acs(),
        audience=audience(),
        name_id="",
        in_response_to=rid,
        attributes={},
        raw_name_id_xml="<saml:NameID>alice@acme.test<!---->.evil.test</saml:NameID>",
    )
    response = post_response(client, xml)
    assert response.status_code in (400, 403)
    with tenant_context(saml_conn.tenant):
        assert not ExternalIdentity.objects.filter(subject="alice@acme.test").exists()


def test_response_for_tenant_a_posted_to_tenant_b_is_refused(
    saml_conn: Any, idp: SamlTestIdp, tenant_b: Any, outsider_b: Any, operator: Any
) -> None:
    # Tenant B trusts the very same IdP: still, A's audience/destination never verify at B.
    conn_b = services.connection_save(
        actor=outsider_b,
        tenant=tenant_b,
        kind=ConnectionKind.SAML,
        name="Globex IdP",
        status=ConnectionStatus.ACTIVE,
    )
    services.metadata_import(actor=outsider_b, connection=conn_b, xml=idp.metadata())
    client = Client()
    rid_b = saml_start(client, "globex")
    xml = idp.response(
        acs=acs("acme"),
        audience=audience("acme"),
        name_id="pat@acme.test",
        in_response_to=rid_b,
        attributes={"email": ["pat@acme.test"]},
    )
    _refused(post_response(client, xml, "globex"), "invalid_response")


def test_malformed_response_is_a_400_not_500(saml_conn: Any) -> None:
    response = Client().post("/federation/saml/acme/acs/", {"SAMLResponse": "not-base64!!"})
    assert response.status_code == 400


def test_email_of_unverified_domain_goes_to_conflict_queue(
    saml_conn: Any, idp: SamlTestIdp, member_a: Any, admin_a: Any
) -> None:
    # mia@acme.test exists; the IdP asserts the same email from an unverified domain? No:
    # an external domain (the acquired subsidiary) that the tenant has not verified.
    response = _login(Client(), idp, name_id="sub@initech.test")
    assert response.status_code == 403
    assert not User.objects.filter(email="sub@initech.test").exists()
    with tenant_context(saml_conn.tenant):
        conflict = IdentityConflict.objects.get(email="sub@initech.test")
    assert conflict.status == ConflictStatus.OPEN
    services.conflict_resolve(actor=admin_a, conflict=conflict, decision=ConflictStatus.SEPARATE)
    assert _login(Client(), idp, name_id="sub@initech.test").status_code == 302


def test_existing_account_on_verified_domain_is_linked_not_duplicated(
    saml_conn: Any, idp: SamlTestIdp, member_a: Any
) -> None:
    assert _login(Client(), idp, name_id="mia@acme.test").status_code == 302
    assert User.objects.filter(email="mia@acme.test").count() == 1
    with tenant_context(saml_conn.tenant):
        assert ExternalIdentity.objects.filter(user=member_a).exists()


def test_suspended_tenant_and_disabled_user_are_refused(
    saml_conn: Any, idp: SamlTestIdp, operator: Any
) -> None:
    assert _login(Client(), idp).status_code == 302
    user = User.objects.get(email="pat@acme.test")
    user.is_active = False
    user.save()
    _refused(_login(Client(), idp), "account_disabled")


def test_home_realm_discovery_sends_verified_domain_to_its_idp(saml_conn: Any) -> None:
    response = Client().post("/federation/discover/", {"email": "someone@ACME.test"})
    assert response.status_code == 302
    assert response["Location"].startswith("/federation/saml/acme/login/")
    response = Client().post("/federation/discover/", {"email": "x@unknown.test"})
    assert "password=1" in response["Location"]


def test_bad_metadata_changes_nothing(saml_conn: Any, admin_a: Any) -> None:
    before = saml_conn.idp_entity_id
    with pytest.raises(services.FederationError):
        services.metadata_import(actor=admin_a, connection=saml_conn, xml="<not-metadata")
    with tenant_context(saml_conn.tenant):
        saml_conn.refresh_from_db()
    assert saml_conn.idp_entity_id == before


def test_expired_certificate_in_metadata_is_refused(
    tenant_a: Any, admin_a: Any, operator: Any
) -> None:
    idp = SamlTestIdp()
    idp.key, idp.cert = make_key_and_cert(
        "old", not_before=datetime.now(UTC) - timedelta(days=400), days=30
    )
    conn = services.connection_save(
        actor=admin_a, tenant=tenant_a, kind=ConnectionKind.SAML, name="Old"
    )
    with pytest.raises(services.FederationError, match="valid now"):
        services.metadata_import(actor=admin_a, connection=conn, xml=idp.metadata())


def test_domain_verified_elsewhere_cannot_be_verified_again(
    saml_conn: Any, tenant_b: Any, outsider_b: Any, operator: Any
) -> None:
    with pytest.raises(services.FederationError):
        verify_domain(tenant_b, outsider_b, operator, "acme.test")
