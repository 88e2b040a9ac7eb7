"""Domain verification by DNS TXT record (fake resolver: the DNS is the outside world), what
verification gates (home-realm discovery, linking), and the SSRF guard on every server-side
fetch of federation (SAML metadata URL, OIDC discovery / JWKS / token endpoint)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.core.exceptions import PermissionDenied
from apps.core.tenancy import tenant_context
from apps.identity.federation import dns, services
from apps.identity.federation.fetch import FetchRefused, federation_fetch
from apps.identity.federation.models import (
    ConnectionKind,
    ConnectionStatus,
    IdentityConflict,
    VerificationMethod,
    VerifiedDomain,
)
from apps.identity.models import User
from tests.federation.conftest import FakeResolver, acs, audience, audit_actions, post_response
from tests.federation.conftest import saml_start as start
from tests.federation.idp import SamlTestIdp

pytestmark = pytest.mark.django_db


def _add(tenant: Any, admin: Any, domain: str = "initech.test") -> VerifiedDomain:
    return services.domain_add(actor=admin, tenant=tenant, domain=domain)


# --- DNS verification --------------------------------------------------------------------


def test_txt_record_at_the_domain_verifies_it(tenant_a: Any, admin_a: Any) -> None:
    row = _add(tenant_a, admin_a)
    FakeResolver.records = {"initech.test": ["v=spf1 -all", row.verification_token]}
    services.domain_verify_dns(actor=admin_a, domain=row)
    with tenant_context(tenant_a):
        row.refresh_from_db()
    assert row.verified_at is not None
    assert row.verification_method == VerificationMethod.DNS
    assert row.verified_by == admin_a
    event = audit_actions("federation.domain.verified")[-1]
    assert event.personal["details"]["record_at"] == "initech.test"


def test_txt_record_at_the_dedicated_name_verifies_it(tenant_a: Any, admin_a: Any) -> None:
    row = _add(tenant_a, admin_a)
    FakeResolver.records = {"_custos-verification.initech.test": [row.verification_token]}
    assert services.domain_verify_dns(actor=admin_a, domain=row).verified_at is not None


def test_missing_or_wrong_record_is_a_clear_error_and_recorded(tenant_a: Any, admin_a: Any) -> None:
    row = _add(tenant_a, admin_a)
    FakeResolver.records = {"initech.test": ["custos-verification=someone-elses"]}
    with pytest.raises(services.FederationError, match="No TXT record"):
        services.domain_verify_dns(actor=admin_a, domain=row)
    with tenant_context(tenant_a):
        row.refresh_from_db()
    assert row.verified_at is None
    assert row.last_checked_at is not None
    assert "No TXT record" in row.last_check_error
    assert audit_actions("federation.domain.verification_failed")[-1].outcome == "failure"


def test_dns_failure_is_an_error_not_a_500(tenant_a: Any, admin_a: Any) -> None:
    row = _add(tenant_a, admin_a)
    FakeResolver.records = {"initech.test": dns.DnsLookupError("the DNS look-up timed out")}
    with pytest.raises(services.FederationError, match="timed out"):
        services.domain_verify_dns(actor=admin_a, domain=row)


def test_only_the_tenant_admin_may_check(tenant_a: Any, admin_a: Any, member_a: Any) -> None:
    row = _add(tenant_a, admin_a)
    FakeResolver.records = {"initech.test": [row.verification_token]}
    with pytest.raises(PermissionDenied):
        services.domain_verify_dns(actor=member_a, domain=row)


def test_domain_verified_by_another_tenant_cannot_be_taken(
    tenant_a: Any, admin_a: Any, tenant_b: Any, outsider_b: Any
) -> None:
    row_a = _add(tenant_a, admin_a)
    FakeResolver.records = {"initech.test": [row_a.verification_token]}
    services.domain_verify_dns(actor=admin_a, domain=row_a)
    row_b = _add(tenant_b, outsider_b)
    FakeResolver.records = {"initech.test": [row_a.verification_token, row_b.verification_token]}
    with pytest.raises(services.FederationError, match="Another tenant"):
        services.domain_verify_dns(actor=outsider_b, domain=row_b)


def test_internationalised_domain_is_stored_as_its_a_label(tenant_a: Any, admin_a: Any) -> None:
    row = _add(tenant_a, admin_a, "bücher.test")
    assert row.domain == "xn--bcher-kva.test"


def test_portal_check_button_verifies(client_for: Any, tenant_a: Any, admin_a: Any) -> None:
    row = _add(tenant_a, admin_a)
    FakeResolver.records = {"initech.test": [row.verification_token]}
    client = client_for(admin_a)
    response = client.post(f"/t/acme/federation/domains/{row.pk}/verify/")
    assert response.status_code == 302
    with tenant_context(tenant_a):
        row.refresh_from_db()
    assert row.verified_at is not None
    page = client.get("/t/acme/federation/").content.decode()
    assert "initech.test" in page


def test_portal_check_button_shows_the_failure(
    client_for: Any, tenant_a: Any, admin_a: Any
) -> None:
    row = _add(tenant_a, admin_a)
    client = client_for(admin_a)
    response = client.post(f"/t/acme/federation/domains/{row.pk}/verify/", follow=True)
    assert response.status_code == 200
    assert "No TXT record" in response.content.decode()


def test_discovery_and_linking_only_trust_dns_verified_domains(
    tenant_a: Any, admin_a: Any, idp: SamlTestIdp
) -> None:
    """Before verification: discovery falls back to the password form and an IdP email on the
    domain goes to the conflict queue; after the TXT check both work."""
    conn = services.connection_save(
        actor=admin_a,
        tenant=tenant_a,
        kind=ConnectionKind.SAML,
        name="Initech",
        status=ConnectionStatus.ACTIVE,
    )
    services.metadata_import(actor=admin_a, connection=conn, xml=idp.metadata())
    row = _add(tenant_a, admin_a)
    User.objects.create_user(email="ann@initech.test", password="x" * 16)
    assert (
        "password=1"
        in Client().post("/federation/discover/", {"email": "ann@initech.test"})["Location"]
    )

    def login() -> Any:
        client = Client()
        rid = start(client)
        xml = idp.response(
            acs=acs(),
            audience=audience(),
            name_id="ann@initech.test",
            in_response_to=rid,
            attributes={"email": ["ann@initech.test"]},
        )
        return post_response(client, xml)

    assert login().status_code == 403
    with tenant_context(tenant_a):
        assert IdentityConflict.objects.filter(email="ann@initech.test").exists()
        IdentityConflict.objects.all().delete()
    FakeResolver.records = {"initech.test": [row.verification_token]}
    services.domain_verify_dns(actor=admin_a, domain=row)
    location = Client().post("/federation/discover/", {"email": "ann@initech.test"})["Location"]
    assert location.startswith("/federation/saml/acme/login/")
    assert login().status_code == 302
    assert User.objects.filter(email="ann@initech.test").count() == 1


# --- SSRF guard --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/metadata",
        "https://localhost/metadata",
        "https://10.0.0.8/metadata",
        "https://192.168.1.1/metadata",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/metadata",
        "https://[fd00::1]/metadata",
        "http://idp.example.com/metadata",
        "file:///etc/passwd",
        "https://user:pw@idp.example.com/metadata",
    ],
)
def test_federation_fetch_refuses_local_addresses_and_plain_http(url: str) -> None:
    with pytest.raises(FetchRefused):
        federation_fetch("GET", url)


def test_plain_http_is_refused_even_when_private_networks_are_allowed(settings: Any) -> None:
    """https only, unless FEDERATION_ALLOW_HTTP (tests only; production forces it off)."""
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = True
    with pytest.raises(FetchRefused, match="https"):
        federation_fetch("GET", "http://127.0.0.1:9/metadata")


def test_production_settings_force_https_only() -> None:
    from pathlib import Path

    text = Path("config/settings/production.py").read_text()
    assert "FEDERATION_ALLOW_HTTP = False" in text


def test_metadata_url_on_loopback_is_refused_with_a_message(
    tenant_a: Any, admin_a: Any, idp: SamlTestIdp
) -> None:
    conn = services.connection_save(
        actor=admin_a, tenant=tenant_a, kind=ConnectionKind.SAML, name="Meta"
    )
    with pytest.raises(services.FederationError, match="could not be fetched"):
        services.metadata_fetch("https://127.0.0.1:8443/metadata")
    with tenant_context(tenant_a):
        conn.refresh_from_db()
    assert conn.idp_entity_id == ""


def test_oidc_discovery_on_a_private_address_is_refused_and_audited(
    tenant_a: Any, admin_a: Any
) -> None:
    """The issuer points at the cloud metadata service: the sign-in start fetches nothing and
    answers a 502 page, with an audit event naming the refusal."""
    services.connection_save(
        actor=admin_a,
        tenant=tenant_a,
        kind=ConnectionKind.OIDC,
        name="Sneaky",
        status=ConnectionStatus.ACTIVE,
        issuer="https://169.254.169.254/latest",
        client_id="x",
        client_secret="y",
    )
    response = Client().get("/federation/oidc/acme/login/")
    assert response.status_code == 502
    event = audit_actions("federation.login.refused")[-1]
    assert "fetch_refused" in str(event.personal)


def test_oidc_provider_on_loopback_is_refused_without_the_test_opt_in(
    tenant_a: Any, admin_a: Any
) -> None:
    from tests.federation.op import LocalProvider

    with LocalProvider() as op:
        services.connection_save(
            actor=admin_a,
            tenant=tenant_a,
            kind=ConnectionKind.OIDC,
            name="Local",
            status=ConnectionStatus.ACTIVE,
            issuer=op.issuer,
            client_id=op.client_id,
            client_secret=op.client_secret,
        )
        response = Client().get("/federation/oidc/acme/login/")
    assert response.status_code == 502
    assert "fetch_refused" in str(audit_actions("federation.login.refused")[-1].personal)
