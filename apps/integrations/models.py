"""Customer integrations: API keys, OAuth2 clients and their access tokens, the API call log,
deprecated-call usage, security alerts and outbound webhooks.

Credentials are stored as hashes (keys, tokens) or envelope-encrypted (webhook secrets); the
clear value exists only in the response that shows it once.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.crypto import EncryptedTextField
from apps.core.models import TenantOwnedModel
from apps.core.tenancy import TenantContextMissing, current_scope


class NullableTenantManager(models.Manager):
    """For logs whose rows may belong to no tenant (an anonymous failed call, a platform alert):
    scoped to the current tenant like TenantManager, platform rows only inside `unscoped()`."""

    def get_queryset(self) -> models.QuerySet:
        qs = super().get_queryset()
        scope = current_scope()
        if scope.cross_tenant:
            return qs
        if scope.tenant_id is None:
            raise TenantContextMissing(f"{self.model.__name__} queried without a tenant context")
        return qs.filter(tenant_id=scope.tenant_id)


class CredentialState(models.TextChoices):
    ACTIVE = "active", _("Active")
    REVOKED = "revoked", _("Revoked")
    EXPIRED = "expired", _("Expired")


class ApiKey(TenantOwnedModel):
    """A tenant's API key: `cus_<prefix>_<secret>`, shown once; only an HMAC of the whole token
    is kept. Looked up by `prefix` (unique index), then compared in constant time."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
        help_text=_("The person answerable for the key; it stops working when they leave."),
    )
    technical_contact_email = models.EmailField(_("technical contact"))
    contact_language = models.CharField(
        _("contact language"), max_length=10, choices=settings.LANGUAGES, default="en"
    )
    expires_at = models.DateTimeField(_("expires"))
    allowed_cidrs = models.JSONField(_("allowed networks"), default=list, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(_("rate limit per minute"), default=600)
    rate_limit_burst = models.PositiveIntegerField(_("burst"), default=100)
    state = models.CharField(
        _("state"), max_length=10, choices=CredentialState, default=CredentialState.ACTIVE
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    revoke_reason = models.CharField(_("reason"), max_length=200, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    rotated_at = models.DateTimeField(_("rotated"), null=True, blank=True)
    replaced_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replaces",
        verbose_name=_("replaced by"),
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    last_used_ip = models.CharField(_("last used from"), max_length=45, blank=True)
    # Timers as data: the expiry-notice sweeper claims rows whose notify_at has passed.
    notify_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_notice_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        indexes = [models.Index(fields=["state", "expires_at"], name="apikey_state_expiry")]

    def __str__(self) -> str:
        return f"{self.name} (cus_{self.prefix}_…)"

    @property
    def display_token(self) -> str:
        return f"cus_{self.prefix}_…"

    def is_usable(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.state == CredentialState.ACTIVE and self.expires_at > now


class OAuthClient(TenantOwnedModel):
    """A server-to-server client authenticating with `private_key_jwt` (RFC 7523): the tenant
    registers a public key (PEM) or a JWKS URL; no shared secret exists."""

    name = models.CharField(_("name"), max_length=100)
    client_id = models.CharField(_("client id"), max_length=40, unique=True, editable=False)
    public_key_pem = models.TextField(_("public key (PEM)"), blank=True)
    jwks_url = models.URLField(_("JWKS URL"), max_length=500, blank=True)
    allowed_scopes = models.JSONField(_("allowed scopes"), default=list)
    token_lifetime_seconds = models.PositiveIntegerField(_("token lifetime (s)"), default=600)
    allowed_cidrs = models.JSONField(_("allowed networks"), default=list, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(_("rate limit per minute"), default=600)
    rate_limit_burst = models.PositiveIntegerField(_("burst"), default=100)
    technical_contact_email = models.EmailField(_("technical contact"))
    contact_language = models.CharField(
        _("contact language"), max_length=10, choices=settings.LANGUAGES, default="en"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    state = models.CharField(
        _("state"), max_length=10, choices=CredentialState, default=CredentialState.ACTIVE
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoke_reason = models.CharField(_("reason"), max_length=200, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("OAuth client")
        verbose_name_plural = _("OAuth clients")
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(public_key_pem="") & ~models.Q(jwks_url=""))
                | (~models.Q(public_key_pem="") & models.Q(jwks_url="")),
                name="oauthclient_one_key_source",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"


class OAuthAccessToken(TenantOwnedModel):
    """A short-lived opaque bearer token `cat_<prefix>_<secret>` (stored hashed), so a
    revocation or an emergency suspension takes effect on the next request."""

    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="tokens")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("OAuth access token")
        verbose_name_plural = _("OAuth access tokens")

    def __str__(self) -> str:
        return f"cat_{self.prefix}_…"


class OAuthAssertionJti(TenantOwnedModel):
    """Seen client-assertion ids, kept until the assertion expires: a replay hits the unique
    constraint."""

    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("used client assertion")
        constraints = [
            models.UniqueConstraint(fields=["client", "jti"], name="oauth_jti_unique"),
        ]

    def __str__(self) -> str:
        return self.jti


class PrincipalKind(models.TextChoices):
    ANONYMOUS = "anonymous", _("Unauthenticated")
    SESSION = "session", _("Signed-in person")
    API_KEY = "api_key", _("API key")
    OAUTH_CLIENT = "oauth_client", _("OAuth client")


class ApiCallRecord(models.Model):
    """One row per API call. The tenant column has no FK constraint (cheap inserts, written in
    bulk from a buffer) but row-level security still applies."""

    occurred_at = models.DateTimeField(_("time"), db_index=True)
    tenant = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        verbose_name=_("tenant"),
    )
    principal_kind = models.CharField(_("caller kind"), max_length=16, choices=PrincipalKind)
    principal_id = models.CharField(_("caller id"), max_length=64, blank=True)
    credential = models.CharField(_("key or client"), max_length=64, blank=True)
    method = models.CharField(_("method"), max_length=8)
    endpoint = models.CharField(_("endpoint"), max_length=200)
    status_code = models.PositiveSmallIntegerField(_("status"))
    latency_ms = models.FloatField(_("latency (ms)"))
    ip = models.CharField(_("IP address"), max_length=45, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)

    objects: ClassVar[NullableTenantManager] = NullableTenantManager()

    class Meta:
        verbose_name = _("API call")
        verbose_name_plural = _("API calls")
        base_manager_name = "objects"
        indexes = [
            models.Index(fields=["tenant", "-occurred_at"], name="apicall_tenant_time"),
            models.Index(
                fields=["principal_kind", "principal_id", "-occurred_at"],
                name="apicall_principal_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.endpoint} {self.status_code}"


class ApiDeprecatedCall(TenantOwnedModel):
    """Which client still calls which deprecated endpoint, and when it was last told."""

    principal_kind = models.CharField(max_length=16, choices=PrincipalKind)
    credential_id = models.BigIntegerField()
    credential_label = models.CharField(max_length=120)
    technical_contact_email = models.EmailField(blank=True)
    contact_language = models.CharField(max_length=10, default="en")
    method = models.CharField(max_length=8)
    endpoint = models.CharField(max_length=200)
    sunset = models.DateField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    calls = models.PositiveIntegerField(default=0)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("deprecated API call")
        verbose_name_plural = _("deprecated API calls")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "principal_kind", "credential_id", "method", "endpoint"],
                name="deprecated_call_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.credential_label}: {self.method} {self.endpoint}"


class AlertSeverity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class SecurityAlert(models.Model):
    """A security signal someone must look at (API misuse today; the anomaly detection of the
    certification issue can raise its own kinds). Platform alerts have no tenant."""

    tenant = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tenant"),
    )
    kind = models.CharField(_("kind"), max_length=60, db_index=True)
    severity = models.CharField(
        _("severity"), max_length=10, choices=AlertSeverity, default=AlertSeverity.MEDIUM
    )
    summary = models.CharField(_("summary"), max_length=300)
    details = models.JSONField(_("details"), default=dict, blank=True)
    subject_type = models.CharField(max_length=80, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    raised_at = models.DateTimeField(_("raised"), default=timezone.now, db_index=True)
    notify_at = models.DateTimeField(null=True, blank=True, db_index=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects: ClassVar[NullableTenantManager] = NullableTenantManager()

    class Meta:
        verbose_name = _("security alert")
        verbose_name_plural = _("security alerts")
        base_manager_name = "objects"
        indexes = [models.Index(fields=["tenant", "-raised_at"], name="alert_tenant_time")]

    def __str__(self) -> str:
        return self.summary


class WebhookEndpoint(TenantOwnedModel):
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    secret = EncryptedTextField(_("webhook signing secret"))
    # During a secret rotation deliveries are signed with both (Custos-Signature has two v1=).
    previous_secret = EncryptedTextField(_("previous webhook signing secret"))
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    event_types = models.JSONField(_("events"), default=list)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Delivered")
    FAILED = "failed", _("Gave up")
    CANCELLED = "cancelled", _("Cancelled")


class WebhookDelivery(TenantOwnedModel):
    """One event for one endpoint. `next_attempt_at` is the timer: the sweeper claims due rows
    with a conditional UPDATE that also pushes the timer out (a lease), so a killed worker
    delays a delivery by the lease, never forever, and two workers never send it twice."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+")
    event_id = models.UUIDField(default=uuid.uuid4, editable=False)
    event_type = models.CharField(max_length=60)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=DeliveryStatus, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_due"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_endpoint_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.status})"


class SharedCredentialKind(models.TextChoices):
    WEBHOOK_SECRET = "webhook_secret", _("Webhook signing secret")
    SCIM_TOKEN = "scim_token", _("SCIM token")
    IDP_CLIENT_SECRET = "idp_client_secret", _("Identity provider client secret")
    IDP_SP_KEY = "idp_sp_key", _("SAML service provider key")


class CredentialRotationMark(TenantOwnedModel):
    """A credential shared with the tenant's side (the tenant's systems hold it too) that a
    person who has left could have seen: it must be rotated. Raised when vendor staff are
    offboarded; the tenant's admins are told; resolved when the credential is rotated (webhook
    secrets: automatically) or an admin confirms it was."""

    kind = models.CharField(_("credential"), max_length=30, choices=SharedCredentialKind)
    object_id = models.BigIntegerField()
    label = models.CharField(_("which"), max_length=200)
    reason = models.CharField(_("reason"), max_length=300)
    leaver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    leaver_label = models.CharField(_("who left"), max_length=200)
    marked_at = models.DateTimeField(_("marked"), default=timezone.now)
    notify_at = models.DateTimeField(null=True, blank=True, db_index=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(_("rotated"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("credential to rotate")
        verbose_name_plural = _("credentials to rotate")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "object_id"],
                condition=models.Q(resolved_at__isnull=True),
                name="rotation_mark_open_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.label}"
