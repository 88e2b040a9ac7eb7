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
def _sp_keys(settings: Any, tmp_path_factory: Any) -> None:
    settings.FEDERATION_SP_KEY_DIR = tmp_path_factory.getbasetemp() / "sp-keys"
    settings.FEDERATION_BASE_URL = BASE


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
