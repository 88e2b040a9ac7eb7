"""Fixtures of the federation tests: a tenant with a verified domain, a real SAML IdP and its
connection, access roles for mapping."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.access import services as access_services
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.federation import services
from apps.identity.federation.models import (
    ConnectionKind,
    ConnectionStatus,
    MappingTarget,
    VerifiedDomain,
)
from tests.federation.idp import SamlTestIdp

BASE = "https://custos.example.com"


@pytest.fixture(autouse=True)
def _federation_settings(settings: Any) -> None:
    settings.FEDERATION_BASE_URL = BASE
    settings.FEDERATION_DNS_RESOLVER = "tests.federation.conftest.FakeResolver"
    FakeResolver.records = {}


class FakeResolver:
    """The DNS, faked (it is the outside world): name -> TXT strings; a name mapped to an
    exception instance raises it."""

    records: dict[str, Any] = {}

    def txt_records(self, name: str) -> list[str]:
        value = self.records.get(name.lower(), [])
        if isinstance(value, Exception):
            raise value
        return list(value)


@pytest.fixture
def local_network(settings: Any) -> None:
    """Let federation fetch from the local test provider (http on 127.0.0.1): both guards are
    relaxed on purpose, for the tests that need a live peer on loopback."""
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = True
    settings.FEDERATION_ALLOW_HTTP = True


@pytest.fixture
def idp() -> SamlTestIdp:
    return SamlTestIdp()


def verify_domain(tenant: Any, actor: Any, operator: Any, domain: str) -> VerifiedDomain:
    row = services.domain_add(actor=actor, tenant=tenant, domain=domain)
    return services.domain_verify(actor=operator, domain=row)


@pytest.fixture
def saml_conn(tenant_a: Any, admin_a: Any, operator: Any, idp: SamlTestIdp) -> Any:
    verify_domain(tenant_a, admin_a, operator, "acme.test")
    conn = services.connection_save(
        actor=admin_a,
        tenant=tenant_a,
        kind=ConnectionKind.SAML,
        name="ACME Entra",
        status=ConnectionStatus.ACTIVE,
        mfa_policy="trust_idp",
    )
    services.metadata_import(actor=admin_a, connection=conn, xml=idp.metadata())
    with tenant_context(tenant_a):
        for key in ("engineer", "auditor"):
            access_services.role_create(actor=admin_a, tenant=tenant_a, key=key, name=key.title())
    services.mapping_rule_save(
        actor=admin_a,
        connection=conn,
        attribute="groups",
        value="eng",
        target_kind=MappingTarget.ACCESS_ROLE,
        target="engineer",
    )
    services.mapping_rule_save(
        actor=admin_a,
        connection=conn,
        attribute="groups",
        value="audit",
        target_kind=MappingTarget.ACCESS_ROLE,
        target="auditor",
    )
    services.mapping_rule_save(
        actor=admin_a,
        connection=conn,
        attribute="groups",
        value="approvers",
        target_kind=MappingTarget.TENANT_ROLE,
        target="approver",
    )
    with tenant_context(tenant_a):
        conn.refresh_from_db()
    return conn


def audit_actions(action_prefix: str) -> list[AuditEvent]:
    with unscoped(reason="tests: read the audit log"):
        return list(AuditEvent.objects.filter(action__startswith=action_prefix).order_by("seq"))


def saml_start(client: Client, slug: str = "acme") -> str:
    """SP-initiated start; returns the AuthnRequest id the SP remembered."""
    response = client.get(f"/federation/saml/{slug}/login/")
    assert response.status_code == 302
    return client.session["federation_saml_requests"][-1]


def post_response(client: Client, xml: str, slug: str = "acme") -> Any:
    return client.post(f"/federation/saml/{slug}/acs/", {"SAMLResponse": SamlTestIdp.encode(xml)})


def acs(slug: str = "acme") -> str:
    return f"{BASE}/federation/saml/{slug}/acs/"


def audience(slug: str = "acme") -> str:
    return f"{BASE}/federation/saml/{slug}/metadata/"
