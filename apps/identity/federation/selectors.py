"""Reads of federation with business meaning."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, QuerySet, When

from apps.core.tenancy import tenant_context, unscoped
from apps.identity.federation.models import (
    ConflictStatus,
    ConnectionKind,
    ConnectionStatus,
    IdentityConflict,
    IdpCertificate,
    IdpConnection,
    VerifiedDomain,
)
from apps.tenants.models import Tenant, TenantStatus


def active_connection(
    *, tenant: Tenant, kind: str, connection_id: Any = None
) -> IdpConnection | None:
    with tenant_context(tenant):
        qs = IdpConnection.objects.filter(kind=kind, status=ConnectionStatus.ACTIVE)
        if connection_id:
            try:
                qs = qs.filter(pk=int(connection_id))
            except (TypeError, ValueError):
                return None
        return qs.select_related("tenant").prefetch_related("certificates").order_by("pk").first()


def saml_connection_for_issuer(*, tenant: Tenant, issuer: str) -> IdpConnection | None:
    if not issuer:
        return None
    with tenant_context(tenant):
        connection = (
            IdpConnection.objects.filter(
                kind=ConnectionKind.SAML, status=ConnectionStatus.ACTIVE, idp_entity_id=issuer
            )
            .prefetch_related("certificates")
            .order_by("pk")
            .first()
        )
    if connection is not None:
        connection.tenant = tenant  # the caller's row: no join for a second copy of it
    return connection


def saml_connection_single(*, tenant: Tenant) -> IdpConnection | None:
    """The tenant's active SAML connection when it has exactly one."""
    with tenant_context(tenant):
        rows = list(
            IdpConnection.objects.filter(kind=ConnectionKind.SAML, status=ConnectionStatus.ACTIVE)
            .select_related("tenant")
            .prefetch_related("certificates")[:2]
        )
    return rows[0] if len(rows) == 1 else None


def saml_connection_for_metadata(
    *, tenant: Tenant, connection_id: Any = None
) -> IdpConnection | None:
    """The SAML connection whose SP certificate the metadata publishes: the one asked for, or
    the tenant's first (active ones first; a draft connection needs its metadata too)."""
    with tenant_context(tenant):
        qs = IdpConnection.objects.filter(kind=ConnectionKind.SAML).exclude(
            status=ConnectionStatus.DISABLED
        )
        if connection_id:
            try:
                qs = qs.filter(pk=int(connection_id))
            except (TypeError, ValueError):
                return None
        active_first = Case(When(status=ConnectionStatus.ACTIVE, then=0), default=1)
        return qs.select_related("tenant").order_by(active_first, "pk").first()


def domain_is_verified(*, tenant: Any, domain: str) -> bool:
    """Used by SCIM too: has this tenant verified this e-mail domain?"""
    return (
        VerifiedDomain.objects.for_tenant(tenant)
        .filter(domain=(domain or "").lower().strip(), verified_at__isnull=False)
        .exists()
    )


def home_realm_for_email(email: str) -> IdpConnection | None:
    """The active IdP connection of the (active) tenant that verified the email's domain."""
    if "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].lower()
    with unscoped(reason="home-realm discovery: find the tenant that verified this domain"):
        row = (
            VerifiedDomain.objects.filter(domain=domain, verified_at__isnull=False)
            .select_related("tenant")
            .first()
        )
        if row is None or row.tenant.status != TenantStatus.ACTIVE:
            return None
        return (
            IdpConnection.objects.filter(tenant=row.tenant, status=ConnectionStatus.ACTIVE)
            .select_related("tenant")
            .order_by("kind", "pk")
            .first()
        )


def connections_for_tenant() -> QuerySet[IdpConnection]:
    return IdpConnection.objects.prefetch_related("certificates").order_by("name")


def certificates_expiring(*, days: int = 30) -> list[IdpCertificate]:
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    return list(
        IdpCertificate.objects.select_related("connection")
        .filter(not_after__lte=now + timedelta(days=days))
        .order_by("not_after")
    )


def open_conflicts() -> QuerySet[IdentityConflict]:
    return IdentityConflict.objects.filter(status=ConflictStatus.OPEN).select_related(
        "connection", "existing_user"
    )
