"""Incident world: tenant_a (ACME) with a small catalog, grants for its members, a vendor
engineer's time-bound grant, API keys and an OAuth client; tenant_b (Globex) with its own
grant that no incident in tenant_a may touch. Built through the real services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone

from apps.access import services as access
from apps.access.models import Entitlement, Grant, GrantSource
from apps.identity.models import StaffRole, User, UserKind
from apps.integrations.models import ApiKey, OAuthClient
from apps.integrations.services.api_keys import api_key_create
from apps.integrations.services.oauth import ClientSpec, oauth_client_create
from apps.tenants import services as tenant_services
from apps.tenants.models import Environment, Tenant
from tests.conftest import make_user


@dataclass
class World:
    tenant_a: Tenant
    tenant_b: Tenant
    crm: Environment
    wiki: Environment
    crm_read: Entitlement
    crm_write: Entitlement
    wiki_read: Entitlement
    member_grant: Grant
    member_wiki_grant: Grant
    approver_grant: Grant
    admin_grant: Grant
    staff_grant: Grant
    key_grant: Grant
    other_grant: Grant
    member_key: ApiKey
    admin_key: ApiKey
    client: OAuthClient
    other_key: ApiKey


def _pem() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def security_officer(db: None) -> User:
    return make_user(
        "sid@vendor.test",
        full_name="Sid Security",
        kind=UserKind.STAFF,
        staff_role=StaffRole.SECURITY,
    )


@pytest.fixture
def world(
    tenant_a: Tenant,
    tenant_b: Tenant,
    operator: User,
    admin_a: User,
    approver_a: User,
    member_a: User,
    outsider_b: User,
    staff_engineer: User,
) -> World:
    def env(tenant: Tenant, slug: str) -> Environment:
        return tenant_services.environment_create(
            actor=operator, tenant=tenant, slug=slug, name=slug.upper()
        )

    crm, wiki, billing = env(tenant_a, "crm"), env(tenant_a, "wiki"), env(tenant_b, "billing")

    def ent(tenant: Tenant, environment: Environment, level: str) -> Entitlement:
        return access.entitlement_create(
            actor=operator, tenant=tenant, environment=environment, level=level, risk="low"
        )

    crm_read, crm_write, wiki_read = (
        ent(tenant_a, crm, "read"),
        ent(tenant_a, crm, "write"),
        ent(tenant_a, wiki, "read"),
    )
    billing_read = ent(tenant_b, billing, "read")
    week = timezone.now() + timedelta(days=7)

    def grant(tenant: Tenant, entitlement: Entitlement, **subject: Any) -> Grant:
        return access.grant_create(
            actor=operator,
            tenant=tenant,
            entitlement=entitlement,
            source=GrantSource.MANUAL,
            expires_at=week,
            justification="test",
            **subject,
        )

    member_key = api_key_create(
        actor=admin_a,
        tenant=tenant_a,
        name="Mia's script",
        scopes=["users:read"],
        technical_contact_email="mia@acme.test",
        owner=member_a,
    ).key
    admin_key = api_key_create(
        actor=admin_a,
        tenant=tenant_a,
        name="ACME CI",
        scopes=["users:read"],
        technical_contact_email="ci@acme.test",
    ).key
    other_key = api_key_create(
        actor=outsider_b,
        tenant=tenant_b,
        name="Globex CI",
        scopes=["users:read"],
        technical_contact_email="ci@globex.test",
    ).key
    client = oauth_client_create(
        actor=admin_a,
        tenant=tenant_a,
        spec=ClientSpec(
            name="ACME ERP",
            allowed_scopes=["users:read"],
            public_key_pem=_pem(),
            technical_contact_email="erp@acme.test",
        ),
    )
    staff_grant = access.grant_create(
        actor=operator,
        tenant=tenant_a,
        user=staff_engineer,
        entitlement=crm_read,
        source=GrantSource.REQUEST,
        duration=timedelta(hours=4),
        justification="ticket",
        ticket_ref="SUP-1",
    )
    return World(
        tenant_a=tenant_a,
        tenant_b=tenant_b,
        crm=crm,
        wiki=wiki,
        crm_read=crm_read,
        crm_write=crm_write,
        wiki_read=wiki_read,
        member_grant=grant(tenant_a, crm_read, user=member_a),
        member_wiki_grant=grant(tenant_a, wiki_read, user=member_a),
        approver_grant=grant(tenant_a, crm_write, user=approver_a),
        admin_grant=grant(tenant_a, wiki_read, user=admin_a),
        staff_grant=staff_grant,
        key_grant=grant(tenant_a, crm_read, api_key=admin_key),
        other_grant=grant(tenant_b, billing_read, user=outsider_b),
        member_key=member_key,
        admin_key=admin_key,
        client=client,
        other_key=other_key,
    )
