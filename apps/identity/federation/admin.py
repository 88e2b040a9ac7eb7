"""Django admin for federation (operators; every change audited by the admin site)."""

from django.contrib import admin

from apps.core.admin_base import ReadOnlyAdmin, TenantOwnedAdmin
from apps.identity.federation.models import (
    ExternalIdentity,
    IdentityConflict,
    IdpCertificate,
    IdpConnection,
    MappingRule,
    UsedAssertion,
    VerifiedDomain,
)


@admin.register(IdpConnection)
class IdpConnectionAdmin(TenantOwnedAdmin):
    list_display = ("name", "tenant", "kind", "status", "idp_entity_id", "issuer")
    list_filter = ("kind", "status")
    search_fields = ("name", "idp_entity_id", "issuer", "tenant__slug")
    # The client secret is never shown; set it with the portal or `idp_configure`.
    exclude = ("client_secret",)


@admin.register(IdpCertificate)
class IdpCertificateAdmin(TenantOwnedAdmin):
    list_display = ("connection", "tenant", "subject", "not_before", "not_after")
    search_fields = ("fingerprint", "subject")


@admin.register(VerifiedDomain)
class VerifiedDomainAdmin(TenantOwnedAdmin):
    list_display = ("domain", "tenant", "verified_at", "verification_token")
    search_fields = ("domain",)


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(TenantOwnedAdmin):
    list_display = ("subject", "issuer", "user", "tenant", "last_login_at")
    search_fields = ("subject", "issuer", "user__email")


@admin.register(IdentityConflict)
class IdentityConflictAdmin(TenantOwnedAdmin):
    list_display = ("email", "tenant", "connection", "status", "reason", "created_at")
    list_filter = ("status",)


@admin.register(MappingRule)
class MappingRuleAdmin(TenantOwnedAdmin):
    list_display = ("connection", "attribute", "value", "target_kind", "target", "active")
    list_filter = ("target_kind", "active")


@admin.register(UsedAssertion)
class UsedAssertionAdmin(ReadOnlyAdmin):
    list_display = ("assertion_id", "tenant", "not_on_or_after", "used_at")
