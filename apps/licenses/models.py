"""Licences and onboarding: products, seat pools, seats, waiting lists, the provisioning queue,
bulk imports, idempotency records and signup risk cases.

Invariants the database holds (not only the code):
* a pool never hands out more seats than it has: `used <= capacity` (check constraint) and
  every allocation is a conditional `UPDATE ... SET used = used + 1 WHERE used < limit`;
* one active seat per user and product (partial unique constraint);
* one idempotency record per key and tenant (unique constraint), so a replay cannot run twice.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantOwnedModel, TimeStampedModel
from apps.tenants.models import Region


class Product(TenantOwnedModel, TimeStampedModel):
    """Something a tenant holds licences for (an edition, an add-on, a seat type)."""

    key = models.SlugField(_("key"), max_length=50)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="licenses_product_key_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class LicensePool(TenantOwnedModel, TimeStampedModel):
    """Seats of one product for one location (or the product's reserve). `used` is the
    allocated count, kept in the same transaction as the seats themselves."""

    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="pools", verbose_name=_("product")
    )
    name = models.CharField(_("name"), max_length=200)
    location = models.CharField(
        _("location"),
        max_length=100,
        blank=True,
        help_text=_("Site or city the pool serves; empty for the product's default pool."),
    )
    region = models.CharField(_("region"), max_length=10, choices=Region, default=Region.EU)
    capacity = models.PositiveIntegerField(_("capacity"))
    used = models.PositiveIntegerField(_("seats in use"), default=0, editable=False)
    utilisation_cap_percent = models.PositiveSmallIntegerField(
        _("utilisation cap (%)"),
        default=90,
        help_text=_("Admins are alerted when utilisation crosses this share of the capacity."),
    )
    hard_stop = models.BooleanField(
        _("hard stop at the cap"),
        default=False,
        help_text=_("Refuse allocations beyond the cap instead of only alerting."),
    )
    is_reserve = models.BooleanField(
        _("reserve pool"),
        default=False,
        help_text=_(
            "Overflow seats of the product: never allocated directly, drawn into exhausted "
            "pools by the controlled reserve job."
        ),
    )
    allow_reserve_draw = models.BooleanField(
        _("may draw from the reserve"),
        default=True,
        help_text=_("When exhausted with people waiting, the reserve job may move seats here."),
    )
    eligible_roles = models.JSONField(
        _("eligible roles"),
        default=list,
        blank=True,
        help_text=_(
            "Tenant roles that may hold a seat of this pool (empty: everyone). A role change "
            "out of this list reclaims the seat."
        ),
    )
    role_priorities = models.JSONField(
        _("role priorities"),
        default=dict,
        blank=True,
        help_text=_(
            'Waiting-list order by tenant role, lower first, e.g. {"customer_admin": 0, '
            '"member": 50}; roles not listed get 100.'
        ),
    )
    contract = models.ForeignKey(
        "tenants.Contract",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("contract"),
        help_text=_("When this contract ends, the pool's seats are reclaimed."),
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("licence pool")
        verbose_name_plural = _("licence pools")
        ordering = ["product__name", "location"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "product", "location", "is_reserve"],
                name="licenses_pool_location_unique",
            ),
            models.CheckConstraint(
                condition=Q(used__lte=F("capacity")), name="licenses_pool_used_lte_capacity"
            ),
            models.CheckConstraint(
                condition=Q(utilisation_cap_percent__gte=1) & Q(utilisation_cap_percent__lte=100),
                name="licenses_pool_cap_percent_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def cap_seats(self) -> int:
        """Seats up to the utilisation cap (the hard-stop limit)."""
        return math.floor(self.capacity * self.utilisation_cap_percent / 100)

    @property
    def allocation_limit(self) -> int:
        return self.cap_seats if self.hard_stop else self.capacity

    @property
    def free(self) -> int:
        return max(0, self.allocation_limit - self.used)

    @property
    def utilisation_percent(self) -> float:
        return round(100 * self.used / self.capacity, 1) if self.capacity else 100.0

    @property
    def over_cap(self) -> bool:
        return self.capacity > 0 and self.used * 100 >= self.capacity * self.utilisation_cap_percent


class SeatSource(models.TextChoices):
    JOINER = "joiner", _("Onboarding")
    MANUAL = "manual", _("Manual")
    API = "api", _("API")
    IMPORT = "import", _("Import")
    WAITING_LIST = "waiting_list", _("Waiting list")
    SIGNUP = "signup", _("Self-service signup")


class Seat(TenantOwnedModel):
    pool = models.ForeignKey(
        LicensePool, on_delete=models.PROTECT, related_name="seats", verbose_name=_("pool")
    )
    # Denormalised from the pool so the database can enforce one active seat per product.
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="license_seats",
        verbose_name=_("user"),
    )
    source = models.CharField(_("source"), max_length=20, choices=SeatSource)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, blank=True)
    allocated_at = models.DateTimeField(_("allocated"), default=timezone.now, db_index=True)
    allocated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("allocated by"),
    )
    released_at = models.DateTimeField(_("released"), null=True, blank=True, db_index=True)
    release_reason = models.CharField(_("release reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("seat")
        verbose_name_plural = _("seats")
        ordering = ["-allocated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "product", "user"],
                condition=Q(released_at__isnull=True),
                name="licenses_one_active_seat_per_product",
            ),
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="licenses_seat_idempotency_unique",
            ),
        ]
        indexes = [models.Index(fields=["pool", "released_at"], name="licenses_seat_pool_active")]

    def __str__(self) -> str:
        return f"{self.product_id}:{self.user_id}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None


class WaitingStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    SERVED = "served", _("Served")
    CANCELLED = "cancelled", _("Cancelled")


class WaitingListEntry(TenantOwnedModel):
    """Somebody waiting for a seat of a full pool; served in (priority, arrival) order."""

    pool = models.ForeignKey(
        LicensePool, on_delete=models.CASCADE, related_name="waiting", verbose_name=_("pool")
    )
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    priority = models.IntegerField(_("priority"), default=100)
    status = models.CharField(
        _("status"), max_length=20, choices=WaitingStatus, default=WaitingStatus.WAITING
    )
    requested_at = models.DateTimeField(_("requested"), default=timezone.now)
    served_at = models.DateTimeField(_("served"), null=True, blank=True)
    seat = models.ForeignKey(
        Seat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("waiting-list entry")
        verbose_name_plural = _("waiting-list entries")
        ordering = ["priority", "requested_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "product", "user"],
                condition=Q(status="waiting"),
                name="licenses_one_waiting_entry_per_product",
            ),
        ]
        indexes = [
            models.Index(
                fields=["pool", "status", "priority", "requested_at"],
                name="licenses_waiting_order",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} waiting for {self.pool_id}"


class AlertKind(models.TextChoices):
    POOL_CAP = "pool_cap", _("Pool above its utilisation cap")
    POOL_EXHAUSTED = "pool_exhausted", _("Pool exhausted")
    QUEUE_DEPTH = "queue_depth", _("Provisioning queue above its threshold")
    REVIEW_SLA = "review_sla", _("Signup reviews past their SLA")


class LicenseAlert(TenantOwnedModel):
    """An open condition admins are told about once (and see on the dashboard until it
    clears). At most one open alert per kind and pool."""

    kind = models.CharField(_("kind"), max_length=30, choices=AlertKind)
    pool = models.ForeignKey(
        LicensePool,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alerts",
        verbose_name=_("pool"),
    )
    message = models.CharField(_("message"), max_length=300)
    raised_at = models.DateTimeField(_("raised"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    notified_at = models.DateTimeField(_("notified"), null=True, blank=True)

    class Meta:
        verbose_name = _("licence alert")
        verbose_name_plural = _("licence alerts")
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "pool"],
                condition=Q(resolved_at__isnull=True, pool__isnull=False),
                name="licenses_one_open_pool_alert",
            ),
            models.UniqueConstraint(
                fields=["tenant", "kind"],
                condition=Q(resolved_at__isnull=True, pool__isnull=True),
                name="licenses_one_open_tenant_alert",
            ),
        ]

    def __str__(self) -> str:
        return self.message


class OnboardingPolicy(TenantOwnedModel, TimeStampedModel):
    """Per-tenant knobs of the onboarding pipeline (defaults from settings when absent)."""

    rate_per_second = models.PositiveIntegerField(_("provisioning rate (per second)"), default=50)
    burst = models.PositiveIntegerField(_("burst"), default=50)
    queue_alert_threshold = models.PositiveIntegerField(
        _("queue alert threshold"),
        default=500,
        help_text=_("Admins are alerted when this many onboarding jobs are waiting."),
    )
    review_sla_hours = models.PositiveIntegerField(_("review SLA (hours)"), default=4)
    daily_signups_tighten_at = models.PositiveIntegerField(
        _("tighten checks above (signups per day)"), default=5000
    )
    reject_disposable_email = models.BooleanField(
        _("refuse disposable email addresses on onboarding"), default=True
    )

    class Meta:
        verbose_name = _("onboarding policy")
        verbose_name_plural = _("onboarding policies")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="licenses_one_policy_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}"


class JobStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ProvisioningJob(TenantOwnedModel):
    """One onboarding waiting in the throttled queue. `next_attempt_at` is the timer the
    drain sweeper claims (a conditional UPDATE), so a lost message delays, never drops it."""

    payload = models.JSONField(_("request"))
    source = models.CharField(_("source"), max_length=20, choices=SeatSource)
    status = models.CharField(
        _("status"), max_length=20, choices=JobStatus, default=JobStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requested by"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user created"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("provisioning job")
        verbose_name_plural = _("provisioning jobs")
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="licenses_job_due"),
            models.Index(fields=["tenant", "status"], name="licenses_job_depth"),
        ]

    def __str__(self) -> str:
        return f"{self.payload.get('email', '')} ({self.status})"


class IdempotencyState(models.TextChoices):
    IN_FLIGHT = "in_flight", _("In flight")
    DONE = "done", _("Done")


class IdempotencyRecord(TenantOwnedModel):
    """`Idempotency-Key` of an API write: the first request inserts it (in flight), a replay
    gets the stored response, the same key with another body gets 422."""

    key = models.CharField(max_length=200)
    scope = models.CharField(max_length=80)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(
        max_length=20, choices=IdempotencyState, default=IdempotencyState.IN_FLIGHT
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "scope", "key"], name="licenses_idempotency_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class ImportStatus(models.TextChoices):
    PREVIEWED = "previewed", _("Previewed")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class OnboardingImport(TenantOwnedModel):
    """A bulk onboarding file: previewed (dry run), then run in the background row by row
    (each row all-or-nothing); progress and the result file live here."""

    filename = models.CharField(_("file"), max_length=200)
    file_format = models.CharField(_("format"), max_length=10)
    source = models.BinaryField(_("uploaded file"))
    status = models.CharField(
        _("status"), max_length=20, choices=ImportStatus, default=ImportStatus.PREVIEWED
    )
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    valid_rows = models.PositiveIntegerField(_("valid rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("processed rows"), default=0)
    created_count = models.PositiveIntegerField(_("onboarded"), default=0)
    failed_count = models.PositiveIntegerField(_("failed"), default=0)
    preview_errors = models.JSONField(_("preview errors"), default=list, blank=True)
    result = models.BinaryField(_("result file"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("onboarding import")
        verbose_name_plural = _("onboarding imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.filename

    @property
    def progress_percent(self) -> int:
        if not self.valid_rows:
            return 100 if self.status == ImportStatus.DONE else 0
        return min(100, round(100 * self.processed_rows / self.valid_rows))


class SignupDecision(models.TextChoices):
    AUTO_APPROVED = "auto_approved", _("Passed automatically")
    PENDING = "pending", _("Waiting for review")
    MORE_INFO = "more_info", _("More verification requested")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


OPEN_SIGNUP_DECISIONS = (SignupDecision.PENDING, SignupDecision.MORE_INFO)


class SignupCase(TenantOwnedModel):
    """A self-service signup and the risk signals it raised. Low risk passes automatically;
    the rest waits in the review queue until `due_at` (the SLA)."""

    email = models.EmailField(_("email address"))
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    declared_location = models.CharField(_("declared location"), max_length=100, blank=True)
    ip_location = models.CharField(_("IP location"), max_length=100, blank=True)
    distance_km = models.PositiveIntegerField(_("distance (km)"), null=True, blank=True)
    device_fingerprint = models.CharField(_("device fingerprint"), max_length=128, blank=True)
    payment_ref = models.CharField(_("payment reference"), max_length=128, blank=True)
    request = models.JSONField(_("onboarding request"), default=dict)
    signals = models.JSONField(_("signals"), default=list)
    score = models.PositiveIntegerField(_("risk score"), default=0)
    tightened = models.BooleanField(_("tightened checks"), default=False)
    decision = models.CharField(
        _("decision"), max_length=20, choices=SignupDecision, default=SignupDecision.PENDING
    )
    created_at = models.DateTimeField(_("received"), default=timezone.now, db_index=True)
    due_at = models.DateTimeField(_("review due"), null=True, blank=True, db_index=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    review_note = models.CharField(_("note"), max_length=500, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("account"),
    )

    class Meta:
        verbose_name = _("signup case")
        verbose_name_plural = _("signup cases")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "ip", "created_at"], name="licenses_signup_ip"),
            models.Index(
                fields=["tenant", "device_fingerprint", "created_at"], name="licenses_signup_dev"
            ),
            models.Index(
                fields=["tenant", "payment_ref", "created_at"], name="licenses_signup_pay"
            ),
            models.Index(fields=["tenant", "decision", "due_at"], name="licenses_signup_queue"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_open(self) -> bool:
        return self.decision in OPEN_SIGNUP_DECISIONS

    @property
    def is_overdue(self) -> bool:
        return bool(self.is_open and self.due_at and self.due_at < timezone.now())

    def signal_codes(self) -> list[str]:
        return [str(s.get("code", "")) for s in self.signals if isinstance(s, dict)]


class KnownDevice(TenantOwnedModel):
    """Device fingerprints seen before in this tenant (a hash, not the raw fingerprint)."""

    fingerprint_hash = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    approved = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("known device")
        verbose_name_plural = _("known devices")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "fingerprint_hash"], name="licenses_device_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.fingerprint_hash[:12]
