"""Per-tenant identity federation: IdP connections (SAML 2.0 / OIDC), their signing
certificates, verified e-mail domains, linked external identities, the identity-conflict
queue, mapping rules and used SAML assertion ids (replay protection)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.crypto.fields import EncryptedTextField
from apps.core.models import TenantOwnedModel, TimeStampedModel


class ConnectionKind(models.TextChoices):
    SAML = "saml", _("SAML 2.0")
    OIDC = "oidc", _("OpenID Connect")


class ConnectionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    DISABLED = "disabled", _("Disabled")


class MfaPolicy(models.TextChoices):
    TRUST_IDP = "trust_idp", _("Trust the IdP's MFA claim, else ask for our TOTP")
    REQUIRE_TOTP = "require_totp", _("Always ask for our TOTP after the IdP")
    ROLE_BASED = "role_based", _("As for password sign-in (by role)")


class IdpConnection(TenantOwnedModel, TimeStampedModel):
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=8, choices=ConnectionKind)
    status = models.CharField(
        _("status"), max_length=10, choices=ConnectionStatus, default=ConnectionStatus.DRAFT
    )
    # SAML
    idp_entity_id = models.CharField(_("IdP entity id"), max_length=500, blank=True)
    sso_url = models.URLField(_("IdP single sign-on URL"), max_length=500, blank=True)
    slo_url = models.URLField(_("IdP single logout URL"), max_length=500, blank=True)
    metadata_url = models.URLField(_("IdP metadata URL"), max_length=500, blank=True)
    metadata_refresh_hours = models.PositiveIntegerField(
        _("refresh metadata every (hours)"), default=24
    )
    metadata_refresh_due = models.DateTimeField(_("next metadata refresh"), null=True, blank=True)
    metadata_refreshed_at = models.DateTimeField(_("metadata refreshed"), null=True, blank=True)
    metadata_error = models.TextField(_("last metadata error"), blank=True)
    accept_encrypted = models.BooleanField(_("accept encrypted assertions"), default=True)
    # The SP key pair of this connection: signs our LogoutRequests/LogoutResponses and
    # decrypts encrypted assertions. The private key is envelope-encrypted at rest.
    sp_private_key = EncryptedTextField(_("SP private key"))
    sp_certificate = models.TextField(_("SP certificate (PEM)"), blank=True, editable=False)
    allow_idp_initiated = models.BooleanField(_("allow IdP-initiated sign-in"), default=False)
    # OIDC
    issuer = models.URLField(_("issuer"), max_length=500, blank=True)
    client_id = models.CharField(_("client id"), max_length=255, blank=True)
    client_secret = EncryptedTextField(_("client secret"))
    scopes = models.CharField(_("scopes"), max_length=255, default="openid email profile")
    # Common
    mfa_policy = models.CharField(
        _("MFA policy"), max_length=16, choices=MfaPolicy, default=MfaPolicy.TRUST_IDP
    )
    groups_attribute = models.CharField(
        _("groups attribute / claim"), max_length=200, default="groups"
    )
    attribute_map = models.JSONField(
        _("attribute mapping"),
        default=dict,
        blank=True,
        help_text=_(
            'Internal field -> IdP attribute, e.g. {"email": "mail", "department": "dept"}'
        ),
    )

    class Meta:
        verbose_name = _("IdP connection")
        verbose_name_plural = _("IdP connections")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="fed_connection_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def is_active(self) -> bool:
        return self.status == ConnectionStatus.ACTIVE

    @property
    def issuer_key(self) -> str:
        """The issuer string an ExternalIdentity is keyed on."""
        return self.idp_entity_id if self.kind == ConnectionKind.SAML else self.issuer


class IdpCertificate(TenantOwnedModel, TimeStampedModel):
    connection = models.ForeignKey(
        IdpConnection,
        on_delete=models.CASCADE,
        related_name="certificates",
        verbose_name=_("connection"),
    )
    pem = models.TextField(_("certificate (PEM)"))
    fingerprint = models.CharField(_("SHA-256 fingerprint"), max_length=64)
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    not_before = models.DateTimeField(_("valid from"))
    not_after = models.DateTimeField(_("valid until"))
    warned_30_at = models.DateTimeField(null=True, blank=True, editable=False)
    warned_7_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("IdP signing certificate")
        verbose_name_plural = _("IdP signing certificates")
        ordering = ["not_after"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "fingerprint"], name="fed_cert_unique_per_connection"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject or self.fingerprint[:16]} (until {self.not_after:%Y-%m-%d})"

    def is_valid_at(self, at: object = None) -> bool:
        at = at or timezone.now()
        return self.not_before <= at < self.not_after  # type: ignore[operator]


class VerificationMethod(models.TextChoices):
    DNS = "dns", _("DNS TXT record")
    OPERATOR = "operator", _("Operator")


def _verification_token() -> str:
    return "custos-verification=" + secrets.token_urlsafe(24)


class VerifiedDomain(TenantOwnedModel, TimeStampedModel):
    domain = models.CharField(_("domain"), max_length=253)
    verification_token = models.CharField(
        _("DNS TXT record"), max_length=80, default=_verification_token, editable=False
    )
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("verified by"),
    )
    verification_method = models.CharField(
        _("verified through"), max_length=10, choices=VerificationMethod, blank=True
    )
    last_checked_at = models.DateTimeField(_("last DNS check"), null=True, blank=True)
    last_check_error = models.CharField(_("last DNS check result"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("verified domain")
        verbose_name_plural = _("verified domains")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "domain"], name="fed_domain_unique"),
        ]
        indexes = [models.Index(fields=["domain"], name="fed_domain_lookup")]

    def __str__(self) -> str:
        return self.domain


class ExternalIdentity(TenantOwnedModel, TimeStampedModel):
    connection = models.ForeignKey(
        IdpConnection,
        on_delete=models.PROTECT,
        related_name="identities",
        verbose_name=_("connection"),
    )
    issuer = models.CharField(_("issuer"), max_length=500)
    subject = models.CharField(_("subject"), max_length=500)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="external_identities",
        verbose_name=_("user"),
    )
    attributes = models.JSONField(_("last attributes"), default=dict, blank=True)
    groups = models.JSONField(_("last groups"), default=list, blank=True)
    last_login_at = models.DateTimeField(_("last sign-in"), null=True, blank=True)

    class Meta:
        verbose_name = _("external identity")
        verbose_name_plural = _("external identities")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "issuer", "subject"], name="fed_identity_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"


class ConflictStatus(models.TextChoices):
    OPEN = "open", _("Open")
    LINKED = "linked", _("Linked to the existing account")
    SEPARATE = "separate", _("Kept separate")
    REJECTED = "rejected", _("Rejected")


class IdentityConflict(TenantOwnedModel, TimeStampedModel):
    connection = models.ForeignKey(
        IdpConnection,
        on_delete=models.CASCADE,
        related_name="conflicts",
        verbose_name=_("connection"),
    )
    issuer = models.CharField(_("issuer"), max_length=500)
    subject = models.CharField(_("subject"), max_length=500)
    email = models.EmailField(_("email"), max_length=254)
    existing_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("existing account"),
    )
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    reason = models.CharField(_("reason"), max_length=200)
    status = models.CharField(
        _("status"), max_length=10, choices=ConflictStatus, default=ConflictStatus.OPEN
    )
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("resolved by"),
    )

    class Meta:
        verbose_name = _("identity conflict")
        verbose_name_plural = _("identity conflicts")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "issuer", "subject"],
                condition=models.Q(status="open"),
                name="fed_conflict_open_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_status_display()})"


class MappingTarget(models.TextChoices):
    TENANT_ROLE = "tenant_role", _("Tenant role")
    ACCESS_ROLE = "access_role", _("Access role")
    ENTITLEMENT = "entitlement", _("Entitlement")


class MappingRule(TenantOwnedModel, TimeStampedModel):
    connection = models.ForeignKey(
        IdpConnection,
        on_delete=models.CASCADE,
        related_name="rules",
        verbose_name=_("connection"),
    )
    attribute = models.CharField(
        _("IdP attribute"),
        max_length=200,
        default="groups",
        help_text=_("Attribute or claim to match, e.g. groups"),
    )
    value = models.CharField(_("value"), max_length=500)
    target_kind = models.CharField(_("maps to"), max_length=16, choices=MappingTarget)
    target = models.CharField(
        _("target"),
        max_length=200,
        help_text=_("Tenant role name, access role key or entitlement name"),
    )
    priority = models.PositiveIntegerField(_("priority"), default=100)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("mapping rule")
        verbose_name_plural = _("mapping rules")
        ordering = ["priority", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "attribute", "value", "target_kind", "target"],
                name="fed_rule_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.attribute}={self.value} -> {self.target_kind}:{self.target}"


class UsedAssertion(TenantOwnedModel):
    connection = models.ForeignKey(IdpConnection, on_delete=models.CASCADE, related_name="+")
    assertion_id = models.CharField(max_length=200)
    not_on_or_after = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("used assertion")
        verbose_name_plural = _("used assertions")
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "assertion_id"], name="fed_assertion_once"
            ),
        ]

    def __str__(self) -> str:
        return self.assertion_id
